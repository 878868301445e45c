/**
 * MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV. 64-bit products
 * are built from 16-bit partial products; 64/32 divisions are long divisions
 * in 16-bit digits, whose partial dividends all fit a double exactly.
 */
import { CF, DE, OF } from '../constants.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { readRm, setReg, Size } from './operands.js';

let prodLo = 0, prodHi = 0;

/** Unsigned 32x32 -> 64 product into prodLo/prodHi. */
export function mulU32(a: number, b: number): void {
  a >>>= 0;
  b >>>= 0;
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const ll = aLo * bLo, lh = aLo * bHi, hl = aHi * bLo, hh = aHi * bHi;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  prodLo = ((mid << 16) | (ll & 0xffff)) | 0;
  prodHi = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}

/** Signed 32x32 -> 64 product into prodLo/prodHi. */
export function mulS32(a: number, b: number): void {
  mulU32(a, b);
  let hi = prodHi;
  if (a < 0) hi -= b;
  if (b < 0) hi -= a;
  prodHi = hi | 0;
}

const CFOF = CF | OF;

let divQ = 0, divR = 0;

/**
 * Unsigned (hi:lo) / d into divQ/divR, for hi < d (so the quotient fits 32
 * bits). Two steps of long division by 16-bit digits: each partial dividend
 * is below d * 2^16 < 2^48, and the floor of its double quotient is exact
 * (the quotient is below 2^16, so its rounding error is below 1/d).
 */
function divU64(hi: number, lo: number, d: number): void {
  const n1 = hi * 0x10000 + (lo >>> 16);
  const q1 = Math.floor(n1 / d);
  const n2 = (n1 - q1 * d) * 0x10000 + (lo & 0xffff);
  const q2 = Math.floor(n2 / d);
  divQ = q1 * 0x10000 + q2;
  divR = n2 - q2 * d;
}

function mul(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const src = readRm(c, i, size);
    if (size === 1) {
      const r = c.regs8[0] * src;
      c.regs16[0] = r;
      c.setResultFlags(7, r, r > 0xff ? CFOF : 0);
    } else if (size === 2) {
      const r = c.regs16[0] * src;
      c.regs16[0] = r;
      c.regs16[4] = r >>> 16;
      c.setResultFlags(15, r, r > 0xffff ? CFOF : 0);
    } else {
      mulU32(c.regs[0], src);
      c.regs[0] = prodLo;
      c.regs[2] = prodHi;
      c.setResultFlags(31, prodLo, prodHi !== 0 ? CFOF : 0);
    }
  };
}

function imul1(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const src = readRm(c, i, size);
    if (size === 1) {
      const r = ((c.regs8[0] << 24) >> 24) * ((src << 24) >> 24);
      c.regs16[0] = r;
      c.setResultFlags(7, r, r !== (r << 24) >> 24 ? CFOF : 0);
    } else if (size === 2) {
      const r = ((c.regs16[0] << 16) >> 16) * ((src << 16) >> 16);
      c.regs16[0] = r;
      c.regs16[4] = r >> 16;
      c.setResultFlags(15, r, r !== (r << 16) >> 16 ? CFOF : 0);
    } else {
      mulS32(c.regs[0], src);
      c.regs[0] = prodLo;
      c.regs[2] = prodHi;
      c.setResultFlags(31, prodLo, prodHi !== prodLo >> 31 ? CFOF : 0);
    }
  };
}

/** Truncating signed multiply for the two- and three-operand forms; sets CF/OF on overflow. */
function imulTrunc(c: Cpu, size: Size, a: number, b: number): number {
  if (size === 2) {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    c.setResultFlags(15, r, r !== (r << 16) >> 16 ? CFOF : 0);
    return r & 0xffff;
  }
  // A double holds the product exactly up to 2^53; beyond that it cannot equal a 32-bit value.
  const lo = Math.imul(a, b);
  c.setResultFlags(31, lo, (a | 0) * (b | 0) !== lo ? CFOF : 0);
  return lo;
}

function imul2(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const b = readRm(c, i, size);
    const a = size === 4 ? c.regs[i.reg] : c.regs16[i.reg << 1];
    setReg(c, i, size, imulTrunc(c, size, a, b));
  };
}

function imul3(size: Size) {
  return (c: Cpu, i: Insn): void => {
    setReg(c, i, size, imulTrunc(c, size, readRm(c, i, size), i.imm));
  };
}

function div(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const d = readRm(c, i, size);
    if (d === 0) c.raise(DE);
    if (size === 1) {
      const n = c.regs16[0];
      const q = Math.floor(n / d);
      if (q > 0xff) c.raise(DE);
      c.regs8[0] = q;
      c.regs8[1] = n % d;
    } else if (size === 2) {
      const n = c.regs16[4] * 0x10000 + c.regs16[0];
      const q = Math.floor(n / d);
      if (q > 0xffff) c.raise(DE);
      c.regs16[0] = q;
      c.regs16[4] = n % d;
    } else {
      const du = d >>> 0, hi = c.regs[2] >>> 0, lo = c.regs[0] >>> 0;
      if (hi >= du) c.raise(DE);
      if (hi === 0) {
        c.regs[0] = Math.floor(lo / du);
        c.regs[2] = lo % du;
      } else {
        divU64(hi, lo, du);
        c.regs[0] = divQ;
        c.regs[2] = divR;
      }
    }
  };
}

function idiv(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const raw = readRm(c, i, size);
    if (raw === 0) c.raise(DE);
    if (size === 1) {
      const n = (c.regs16[0] << 16) >> 16, d = (raw << 24) >> 24;
      const q = Math.trunc(n / d);
      if (q > 127 || q < -128) c.raise(DE);
      c.regs8[0] = q;
      c.regs8[1] = n % d;
    } else if (size === 2) {
      const n = (c.regs[2] << 16) | c.regs16[0], d = (raw << 16) >> 16;
      const q = Math.trunc(n / d);
      if (q > 32767 || q < -32768) c.raise(DE);
      c.regs16[0] = q;
      c.regs16[4] = n % d;
    } else {
      // Divide the magnitudes; the quotient is negative when the signs differ, the remainder has the dividend's sign.
      const d = raw | 0, hi = c.regs[2], lo = c.regs[0] >>> 0;
      const negN = hi < 0, negD = d < 0;
      const mLo = negN ? (-lo) >>> 0 : lo;
      const mHi = negN ? (~hi + (lo === 0 ? 1 : 0)) >>> 0 : hi >>> 0;
      const md = negD ? -d : d; // up to 2^31, as a double
      if (mHi >= md) c.raise(DE);
      divU64(mHi, mLo, md);
      const q = negN !== negD ? -divQ : divQ;
      if (q > 0x7fffffff || q < -0x80000000) c.raise(DE);
      c.regs[0] = q;
      c.regs[2] = negN ? -divR : divR;
    }
  };
}

defGroup(0xf6, 4, { name: 'mul', h: mul(1) });
defGroup(0xf6, 5, { name: 'imul', h: imul1(1) });
defGroup(0xf6, 6, { name: 'div', h: div(1) });
defGroup(0xf6, 7, { name: 'idiv', h: idiv(1) });
defGroup(0xf7, 4, { name: 'mul', h16: mul(2), h32: mul(4) });
defGroup(0xf7, 5, { name: 'imul', h16: imul1(2), h32: imul1(4) });
defGroup(0xf7, 6, { name: 'div', h16: div(2), h32: div(4) });
defGroup(0xf7, 7, { name: 'idiv', h16: idiv(2), h32: idiv(4) });
def(0x1af, { name: 'imul', modrm: true, h16: imul2(2), h32: imul2(4) });
def(0x69, { name: 'imul', modrm: true, imm: Imm.V, h16: imul3(2), h32: imul3(4) });
def(0x6b, { name: 'imul', modrm: true, imm: Imm.Bs, h16: imul3(2), h32: imul3(4) });
