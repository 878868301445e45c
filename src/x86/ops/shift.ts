/**
 * Shifts and rotates: ROL ROR RCL RCR SHL SHR SAL SAR (C0 C1 D0-D3) and
 * SHLD/SHRD. Counts are masked to 5 bits; a masked count of zero changes
 * nothing, flags included. Rotates touch only CF and OF.
 */
import { CF, OF } from '../constants.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { defGroup, def, Imm } from '../opcodes.js';
import { getReg, getRmReg, maskOf, rdLin, rmwLin, setRmReg, Size, wrLin } from './operands.js';

/** Flags of a shift: CF and OF given, SF ZF PF from the result, AF cleared. */
function shiftFlags(c: Cpu, size: Size, r: number, cf: number, of: number): void {
  c.setResultFlags(size * 8 - 1, r, (cf ? CF : 0) | (of ? OF : 0));
}

/** Rotates keep SF ZF AF PF. */
function rotateFlags(c: Cpu, cf: number, of: number): void {
  c.setFlagBits(CF | OF, (cf ? CF : 0) | (of ? OF : 0));
}

/** Apply shift/rotate `op` (ModRM reg field) to `a` by the masked count `n` (1..31). */
export function shiftOp(c: Cpu, op: number, size: Size, a: number, n: number): number {
  const w = size * 8, mask = maskOf(size), top = w - 1;
  a &= mask;
  switch (op) {
    case 0: { // ROL
      const k = n % w;
      const r = k === 0 ? a : ((a << k) | (a >>> (w - k))) & mask;
      const cf = r & 1;
      rotateFlags(c, cf, ((r >>> top) & 1) ^ cf);
      return r;
    }
    case 1: { // ROR
      const k = n % w;
      const r = k === 0 ? a : ((a >>> k) | (a << (w - k))) & mask;
      const msb = (r >>> top) & 1;
      rotateFlags(c, msb, msb ^ ((r >>> (top - 1)) & 1));
      return r;
    }
    case 2: { // RCL: rotate through CF, a (w+1)-bit rotation
      const k = n % (w + 1);
      if (k === 0) return a;
      let cf = c.cf(), r = a;
      for (let j = 0; j < k; j++) {
        const out = (r >>> top) & 1;
        r = ((r << 1) | cf) & mask;
        cf = out;
      }
      rotateFlags(c, cf, ((r >>> top) & 1) ^ cf);
      return r;
    }
    case 3: { // RCR
      const k = n % (w + 1);
      if (k === 0) return a;
      let cf = c.cf(), r = a;
      const of = ((r >>> top) & 1) ^ cf;
      for (let j = 0; j < k; j++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << top)) & mask;
        cf = out;
      }
      rotateFlags(c, cf, of);
      return r;
    }
    case 4: case 6: { // SHL/SAL
      const r = n >= 32 ? 0 : (a << n) & mask;
      const cf = n > w ? 0 : (a >>> (w - n)) & 1;
      shiftFlags(c, size, r, cf, ((r >>> top) & 1) ^ cf);
      return r;
    }
    case 5: { // SHR
      const r = n >= 32 ? 0 : (a >>> n) & mask;
      const cf = n > w ? 0 : (a >>> (n - 1)) & 1;
      shiftFlags(c, size, r, cf, (a >>> top) & 1);
      return r;
    }
    default: { // SAR
      const sa = size === 4 ? a | 0 : size === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
      const r = (sa >> Math.min(n, 31)) & mask;
      const cf = (sa >> Math.min(n - 1, 31)) & 1;
      shiftFlags(c, size, r, cf, 0);
      return r;
    }
  }
}

/** Shift group with the count from `count(c, i)`. */
function shiftGroup(op: number, size: Size, count: (c: Cpu, i: Insn) => number) {
  return (c: Cpu, i: Insn): void => {
    const n = count(c, i) & 31;
    if (i.mod === 3) {
      if (n === 0) return;
      setRmReg(c, i, size, shiftOp(c, op, size, getRmReg(c, i, size), n));
    } else {
      const lin = rmwLin(c, i, size);
      const a = rdLin(c, lin, size);
      if (n === 0) return;
      wrLin(c, lin, size, shiftOp(c, op, size, a, n));
    }
  };
}

const byImm = (_c: Cpu, i: Insn) => i.imm;
const byOne = () => 1;
const byCl = (c: Cpu) => c.regs8[4];
const NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
for (let op = 0; op < 8; op++) {
  const name = NAMES[op];
  defGroup(0xc0, op, { name, imm: Imm.B, h: shiftGroup(op, 1, byImm) });
  defGroup(0xc1, op, { name, imm: Imm.B, h16: shiftGroup(op, 2, byImm), h32: shiftGroup(op, 4, byImm) });
  defGroup(0xd0, op, { name, h: shiftGroup(op, 1, byOne) });
  defGroup(0xd1, op, { name, h16: shiftGroup(op, 2, byOne), h32: shiftGroup(op, 4, byOne) });
  defGroup(0xd2, op, { name, h: shiftGroup(op, 1, byCl) });
  defGroup(0xd3, op, { name, h16: shiftGroup(op, 2, byCl), h32: shiftGroup(op, 4, byCl) });
}

/**
 * SHLD/SHRD. For 16-bit operands with a count above 16 the result is
 * undefined; like the hardware, the shift then continues through a
 * dst:src:dst pattern.
 */
function doubleShift(left: boolean, size: Size, count: (c: Cpu, i: Insn) => number) {
  return (c: Cpu, i: Insn): void => {
    const n = count(c, i) & 31;
    const src = getReg(c, i, size);
    let lin = 0, a: number;
    if (i.mod === 3) a = getRmReg(c, i, size);
    else a = rdLin(c, (lin = rmwLin(c, i, size)), size);
    if (n === 0) return;
    let r: number, cf: number;
    const top = size * 8 - 1;
    if (size === 4) {
      if (left) {
        r = (a << n) | (src >>> (32 - n));
        cf = (a >>> (32 - n)) & 1;
      } else {
        r = (a >>> n) | (src << (32 - n));
        cf = (a >>> (n - 1)) & 1;
      }
    } else {
      // 16-bit: work on the 48-bit pattern dst:src:dst (left) or dst:src:dst (right), as the P6 does.
      const aa = a & 0xffff, ss = src & 0xffff;
      if (left) {
        const hi = aa * 0x100000000 + ss * 0x10000 + aa; // 48 bits
        const shifted = hi * 2 ** n;
        r = Math.floor(shifted / 2 ** 32) & 0xffff;
        cf = Math.floor(shifted / 2 ** 48) & 1;
      } else {
        // [dst:src:dst] read from the low end: dst is the low word.
        const pat = (aa + ss * 0x10000 + aa * 0x100000000) / 2 ** (n - 1);
        cf = Math.floor(pat) & 1;
        r = Math.floor(pat / 2) & 0xffff;
      }
    }
    r &= maskOf(size);
    const of = ((r ^ a) >>> top) & 1;
    if (i.mod === 3) setRmReg(c, i, size, r);
    else wrLin(c, lin, size, r);
    shiftFlags(c, size, r, cf, of);
  };
}
def(0x1a4, { name: 'shld', modrm: true, imm: Imm.B, h16: doubleShift(true, 2, byImm), h32: doubleShift(true, 4, byImm) });
def(0x1a5, { name: 'shld', modrm: true, h16: doubleShift(true, 2, byCl), h32: doubleShift(true, 4, byCl) });
def(0x1ac, { name: 'shrd', modrm: true, imm: Imm.B, h16: doubleShift(false, 2, byImm), h32: doubleShift(false, 4, byImm) });
def(0x1ad, { name: 'shrd', modrm: true, h16: doubleShift(false, 2, byCl), h32: doubleShift(false, 4, byCl) });
