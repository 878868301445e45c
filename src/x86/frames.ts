/**
 * Stack frames of privilege-changing transfers: pushes onto a stack that is
 * not loaded yet (the inner stack of an interrupt or call gate) or onto the
 * current one, keeping SP in a local until everything has been written, so
 * a fault part-way leaves the architectural state untouched.
 */
import { ATTR_DB, ATTR_P, ATTR_UNUSABLE, SS, SS_FAULT, TS } from './constants.js';
import type { Cpu } from './cpu.js';
import {
  descAttr, descBase, descDpl, descLimit, descPresent, descType, isWritableData, readDescriptor, TSS32_AVAIL, TSS32_BUSY,
} from './descriptors.js';
import type { Descriptor } from './descriptors.js';

export class StackWriter {
  sp: number;
  constructor(
    private readonly c: Cpu,
    readonly base: number,
    readonly limit: number,
    readonly attr: number,
    sp: number,
    /** Error code of the #SS raised when the frame does not fit. */
    private readonly errorCode: number,
  ) {
    this.sp = sp & this.mask;
  }

  get mask(): number {
    return this.attr & ATTR_DB ? -1 : 0xffff;
  }

  /** Check that `bytes` below the current SP are inside the segment (expand-up or expand-down). */
  check(bytes: number): void {
    const top = (this.sp - 1) & this.mask, bottom = (this.sp - bytes) & this.mask;
    const expandDown = (this.attr & 0xc) === 0x4;
    const lim = this.limit >>> 0;
    const upper = this.attr & ATTR_DB ? 0xffffffff : 0xffff;
    const usable = (this.attr & ATTR_UNUSABLE) === 0 && (this.attr & ATTR_P) !== 0;
    const ok = usable && (expandDown
      ? (bottom >>> 0) > lim && (top >>> 0) <= upper && (bottom >>> 0) <= (top >>> 0)
      : (top >>> 0) <= lim && (bottom >>> 0) <= (top >>> 0));
    if (!ok) this.c.raise(SS_FAULT, this.errorCode);
  }

  push(v: number, size: 2 | 4): void {
    this.sp = (this.sp - size) & this.mask;
    const lin = (this.base + this.sp) | 0;
    if (size === 4) this.c.wr32(lin, v);
    else this.c.wr16(lin, v);
  }

  /** Make the frame's SP the CPU's (ESP or SP by the stack's B bit); SS must already be this stack. */
  commitSp(): void {
    if (this.mask === -1) this.c.regs[4] = this.sp;
    else this.c.regs16[8] = this.sp;
  }
}

/** A writer on the current SS:ESP. */
export function currentStack(c: Cpu, errorCode: number): StackWriter {
  return new StackWriter(c, c.segBase[SS], c.segLimit[SS], c.segAttr[SS], c.regs[4], errorCode);
}

/** #SS(0) unless `bytes` at SS:ESP+delta are readable (the checks RET and IRET make before popping). */
export function checkStackRead(c: Cpu, delta: number, bytes: number): void {
  c.lin(SS, (c.regs[4] + delta) & c.spMask, bytes, false);
}

/** Read a word or dword at SS:ESP+delta. */
export function peek(c: Cpu, delta: number, size: 2 | 4): number {
  return size === 4 ? c.peek32(delta) : c.peek16(delta);
}

/** Run `fn` with the access rights of privilege `cpl` (writes to an inner stack); the CPL is restored after. */
export function atCpl<T>(c: Cpu, cpl: number, fn: () => T): T {
  const old = c.cpl;
  if (old === cpl) return fn();
  c.setCpl(cpl);
  try {
    return fn();
  } finally {
    c.setCpl(old);
  }
}

/**
 * The stack for privilege level `dpl` named by the current TSS, checked as an
 * inter-privilege interrupt or call does (#TS on a bad selector or
 * descriptor, #SS if not present); `ext` is the EXT bit of those error codes.
 */
export function innerStack(c: Cpu, dpl: number, ext: number): { sel: number; desc: Descriptor; writer: StackWriter } {
  const tss32 = (c.trAttr & 0xf) === TSS32_AVAIL || (c.trAttr & 0xf) === TSS32_BUSY;
  const off = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
  if (off + (tss32 ? 5 : 3) > (c.trLimit >>> 0)) c.raise(TS, (c.trSel & 0xfffc) + ext);
  const lin = (c.trBase + off) | 0;
  const esp = tss32 ? c.rdSys32(lin) : c.rdSys16(lin);
  const ss = c.rdSys16((lin + (tss32 ? 4 : 2)) | 0);
  if ((ss & 0xfffc) === 0) c.raise(TS, ext);
  const d = (ss & 3) === dpl ? readDescriptor(c, ss) : null;
  if (d === null || !isWritableData(descType(d.hi)) || descDpl(d.hi) !== dpl) c.raise(TS, (ss & 0xfffc) + ext);
  if (!descPresent(d.hi)) c.raise(SS_FAULT, (ss & 0xfffc) + ext);
  const writer = new StackWriter(c, descBase(d.lo, d.hi), descLimit(d.lo, d.hi), descAttr(d.hi), esp, (ss & 0xfffc) + ext);
  return { sel: ss, desc: d, writer };
}

/**
 * ESP after a return to an outer level (RET, IRET), SS already loaded: a
 * 32-bit stack gets the popped value (zero-extended from a 16-bit pop); a
 * 16-bit stack only gets SP, the upper half of ESP keeps what it held (the
 * hardware behaviour that Linux's "espfix" works around).
 */
export function setOuterSp(c: Cpu, sp: number, o32: boolean): void {
  if (c.segAttr[SS] & ATTR_DB) c.regs[4] = o32 ? sp : sp & 0xffff;
  else c.regs16[8] = sp;
}
