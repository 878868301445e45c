/**
 * String instructions: MOVS CMPS STOS LODS SCAS INS OUTS, with REP/REPE/REPNE.
 *
 * A repeated instruction runs a bounded number of iterations per execution
 * and, if work remains, leaves EIP on itself so that pending interrupts are
 * taken between chunks. ECX, ESI and EDI are updated after each iteration, so
 * a fault in the middle leaves a state from which the instruction restarts.
 */
import { DF, ES, ESI, EDI, ECX } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { TLB_CODE, TLB_NOT_RAM } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { checkIo } from './io.js';
import { alu } from './alu.js';
import { def } from '../opcodes.js';
import { rdLin, Size, wrLin } from './operands.js';

/** Iterations a REP instruction runs before giving interrupts a chance. */
const REP_CHUNK = 1 << 14;

const MOVS = 0, CMPS = 1, STOS = 2, LODS = 3, SCAS = 4, INS = 5, OUTS = 6;

function getIdx(c: Cpu, r: number, a32: boolean): number {
  return a32 ? c.regs[r] : c.regs16[r << 1];
}

function setIdx(c: Cpu, r: number, a32: boolean, v: number): void {
  if (a32) c.regs[r] = v;
  else c.regs16[r << 1] = v;
}

/** One iteration; returns false when a REPE/REPNE condition ends the loop. */
function once(c: Cpu, kind: number, size: Size, i: Insn, step: number): boolean {
  const a32 = i.a32;
  switch (kind) {
    case MOVS: {
      const si = getIdx(c, ESI, a32), di = getIdx(c, EDI, a32);
      const v = rdLin(c, c.lin(i.seg, si, size, false), size);
      wrLin(c, c.lin(ES, di, size, true), size, v);
      setIdx(c, ESI, a32, si + step);
      setIdx(c, EDI, a32, di + step);
      return true;
    }
    case CMPS: {
      const si = getIdx(c, ESI, a32), di = getIdx(c, EDI, a32);
      const a = rdLin(c, c.lin(i.seg, si, size, false), size);
      const b = rdLin(c, c.lin(ES, di, size, false), size);
      alu(c, 7, size, a, b);
      setIdx(c, ESI, a32, si + step);
      setIdx(c, EDI, a32, di + step);
      return i.rep === 0xf3 ? c.zf() : !c.zf();
    }
    case STOS: {
      const di = getIdx(c, EDI, a32);
      const v = size === 4 ? c.regs[0] : size === 2 ? c.regs16[0] : c.regs8[0];
      wrLin(c, c.lin(ES, di, size, true), size, v);
      setIdx(c, EDI, a32, di + step);
      return true;
    }
    case LODS: {
      const si = getIdx(c, ESI, a32);
      const v = rdLin(c, c.lin(i.seg, si, size, false), size);
      if (size === 4) c.regs[0] = v;
      else if (size === 2) c.regs16[0] = v;
      else c.regs8[0] = v;
      setIdx(c, ESI, a32, si + step);
      return true;
    }
    case SCAS: {
      const di = getIdx(c, EDI, a32);
      const b = rdLin(c, c.lin(ES, di, size, false), size);
      const a = size === 4 ? c.regs[0] : size === 2 ? c.regs16[0] : c.regs8[0];
      alu(c, 7, size, a, b);
      setIdx(c, EDI, a32, di + step);
      return i.rep === 0xf3 ? c.zf() : !c.zf();
    }
    case INS: {
      const di = getIdx(c, EDI, a32);
      const lin = c.lin(ES, di, size, true);
      // Probe the destination before the port read: a fault must not consume device data.
      c.translate(lin, 1);
      const v = c.bus.ioRead(c.regs16[4], size);
      wrLin(c, lin, size, v);
      setIdx(c, EDI, a32, di + step);
      return true;
    }
    default: { // OUTS
      const si = getIdx(c, ESI, a32);
      const v = rdLin(c, c.lin(i.seg, si, size, false), size);
      c.bus.ioWrite(c.regs16[4], size, size === 4 ? v >>> 0 : v);
      setIdx(c, ESI, a32, si + step);
      return true;
    }
  }
}

/**
 * REP MOVS / REP STOS forward over RAM through flat segments: whole runs
 * that stay inside one source and one destination page are done as one copy
 * or fill. Returns the number of elements done (0: take the exact path).
 * Overlapping forward copies (dst just above src), MMIO and frames holding
 * code keep the element-by-element semantics.
 */
function bulk(c: Cpu, kind: number, size: Size, i: Insn, count: number): number {
  if (!i.a32 || c.flags & DF || c.segFlat[ES] === 0) return 0;
  const di = c.regs[EDI];
  const dLeft = (0x1000 - (di & 0xfff)) / size;
  let n = Math.min(count, Math.floor(dLeft));
  if (n < 2) return 0;
  const de = c.translate(di, 1);
  if (de & (TLB_NOT_RAM | TLB_CODE)) return 0;
  const dst = (de & ~0xfff) | (di & 0xfff);
  if (kind === STOS) {
    const v = size === 4 ? c.regs[0] : size === 2 ? c.regs16[0] : c.regs8[0];
    if (size === 1) c.u8.fill(v, dst, dst + n);
    else if (size === 4 && (dst & 3) === 0) new Int32Array(c.u8.buffer, dst, n).fill(v);
    else if (size === 4) for (let k = 0; k < n; k++) c.dv.setInt32(dst + k * 4, v, true);
    else for (let k = 0; k < n; k++) c.dv.setUint16(dst + k * 2, v, true);
    c.regs[EDI] = (di + n * size) | 0;
  } else {
    if (c.segFlat[i.seg] === 0) return 0;
    const si = c.regs[ESI];
    n = Math.min(n, Math.floor((0x1000 - (si & 0xfff)) / size));
    if (n < 2) return 0;
    const se = c.translate(si, 0);
    if (se & TLB_NOT_RAM) return 0;
    const src = (se & ~0xfff) | (si & 0xfff);
    const bytes = n * size;
    if (dst > src && dst < src + bytes) return 0;
    c.u8.copyWithin(dst, src, src + bytes);
    c.regs[ESI] = (si + bytes) | 0;
    c.regs[EDI] = (di + bytes) | 0;
  }
  c.regs[ECX] = (count - n) | 0;
  return n;
}

function stringOp(kind: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    if (kind === INS || kind === OUTS) checkIo(c, c.regs16[4], size);
    const step = c.flags & DF ? -size : size;
    if (i.rep === 0) {
      once(c, kind, size, i, step);
      return;
    }
    const a32 = i.a32;
    let count = a32 ? c.regs[ECX] >>> 0 : c.regs16[ECX << 1];
    if (count === 0) return;
    const conditional = kind === CMPS || kind === SCAS;
    if (kind === MOVS || kind === STOS) {
      // Bulk runs first; the exact loop below finishes what they leave.
      for (let budget = REP_CHUNK; count > 0 && budget > 0; ) {
        const done = bulk(c, kind, size, i, count);
        if (done === 0) break;
        count -= done;
        budget -= done;
      }
      if (count === 0) return;
    }
    for (let n = 0; n < REP_CHUNK; n++) {
      const go = once(c, kind, size, i, step);
      count--;
      setIdx(c, ECX, a32, count);
      if (count === 0 || (conditional && !go)) return;
    }
    c.eip = i.eip;
  };
}

const OPS: [number, number, string][] = [
  [0xa4, MOVS, 'movs'], [0xa6, CMPS, 'cmps'], [0xaa, STOS, 'stos'], [0xac, LODS, 'lods'],
  [0xae, SCAS, 'scas'], [0x6c, INS, 'ins'], [0x6e, OUTS, 'outs'],
];
for (const [op, kind, name] of OPS) {
  const io = kind === INS || kind === OUTS;
  def(op, { name, string: true, end: io, h: stringOp(kind, 1) });
  def(op + 1, { name, string: true, end: io, h16: stringOp(kind, 2), h32: stringOp(kind, 4) });
}
