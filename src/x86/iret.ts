/**
 * IRET (SDM vol. 2, IRET/IRETD Operation): real mode; from virtual-8086 mode
 * (IOPL 3 only); back to virtual-8086 mode (VM in the popped image at CPL 0);
 * nested-task return (NT); and protected-mode returns to the same or an outer
 * privilege level, with the rules for which EFLAGS bits the image may change.
 */
import {
  AC, AF, CF, CS, DF, DS, ES, FS, GS, ID, IF, IOPL, NT, OF, PF, RF, SF, SS, TF, VIF, VIP, VM, ZF,
} from './constants.js';
import type { Cpu } from './cpu.js';
import { descLimit, loadCache, markDescAccessed, nullInaccessibleSegments } from './descriptors.js';
import { returnCode, returnStack } from './far.js';
import { checkStackRead, peek, setOuterSp } from './frames.js';
import { taskReturn } from './task.js';

export function iret(c: Cpu, o32: boolean): void {
  if (!c.protectedMode) realIret(c, o32);
  else if (c.v86Mode) v86Iret(c, o32);
  else if (c.flags & NT) taskReturn(c);
  else protectedIret(c, o32);
  // IRET ends the blocking of NMIs that began with the delivery of the last one.
  c.nmiBlocked = false;
}

/** EIP, CS and EFLAGS from the top of the stack, checked readable first (nothing is popped). */
function iretFrame(c: Cpu, size: 2 | 4): [number, number, number] {
  checkStackRead(c, 0, 3 * size);
  return [peek(c, 0, size), peek(c, size, size) & 0xffff, peek(c, 2 * size, size)];
}

function realIret(c: Cpu, o32: boolean): void {
  const size = o32 ? 4 : 2;
  const [eip, cs, fl] = iretFrame(c, size);
  if ((eip >>> 0) > 0xffff) c.gp(0);
  c.adjustSp(3 * size);
  c.loadRealSeg(CS, cs);
  c.eip = eip;
  const old = c.getEflags();
  // VM, VIF and VIP are not loaded in real mode.
  c.setEflags(o32 ? (fl & ~(VM | VIF | VIP)) | (old & (VM | VIF | VIP)) : (old & 0xffff0000) | (fl & 0xffff));
}

/** IRET inside virtual-8086 mode: allowed at IOPL 3 (staying in the mode), else #GP(0) to the monitor. */
function v86Iret(c: Cpu, o32: boolean): void {
  if ((c.flags & IOPL) !== IOPL) c.gp(0);
  const size = o32 ? 4 : 2;
  const [eip, cs, fl] = iretFrame(c, size);
  if ((eip >>> 0) > 0xffff) c.gp(0);
  const old = c.getEflags();
  const keep = o32 ? VM | IOPL | VIP | VIF : ~0xffff | IOPL;
  c.adjustSp(3 * size);
  c.setEflags((fl & ~keep) | (old & keep));
  c.loadRealSeg(CS, cs);
  c.eip = eip;
}

function protectedIret(c: Cpu, o32: boolean): void {
  const size = o32 ? 4 : 2;
  const [eip, sel, fl] = iretFrame(c, size);
  if (o32 && fl & VM && c.cpl === 0) {
    returnToV86(c, eip, sel, fl);
    return;
  }
  const cd = returnCode(c, sel);
  const rpl = sel & 3;
  const outer = rpl > c.cpl;
  let esp = 0, ss = 0;
  let sd = cd;
  if (outer) {
    checkStackRead(c, 0, 5 * size);
    esp = peek(c, 3 * size, size);
    ss = peek(c, 4 * size, size) & 0xffff;
    sd = returnStack(c, ss, rpl);
  }
  if ((eip >>> 0) > (descLimit(cd.lo, cd.hi) >>> 0)) c.gp(0);
  markDescAccessed(c, cd);
  if (outer) markDescAccessed(c, sd);
  // Committed.
  const flags = iretFlags(c, fl, o32);
  loadCache(c, CS, sel, cd);
  if (outer) {
    c.setCpl(rpl);
    loadCache(c, SS, ss, sd);
    setOuterSp(c, esp, o32);
  } else {
    c.adjustSp(3 * size);
  }
  c.setEflags(flags);
  if (outer) nullInaccessibleSegments(c);
  c.eip = eip;
}

/**
 * The EFLAGS a protected-mode IRET ends with, given the popped image: the
 * status flags, TF, DF, NT always; RF, AC, ID with a 32-bit operand; IF only
 * when CPL <= IOPL; IOPL (and VIF, VIP) only at CPL 0. VM is never loaded here.
 */
function iretFlags(c: Cpu, image: number, o32: boolean): number {
  const old = c.getEflags();
  let mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT;
  if (o32) mask |= RF | AC | ID;
  if (c.cpl <= (old & IOPL) >> 12) mask |= IF;
  if (c.cpl === 0) mask |= IOPL | (o32 ? VIF | VIP : 0);
  return (old & ~mask) | (image & mask);
}

/** RETURN-TO-VIRTUAL-8086-MODE: the ring-0 frame also holds ESP, SS, ES, DS, FS, GS. */
function returnToV86(c: Cpu, eip: number, cs: number, fl: number): void {
  checkStackRead(c, 0, 36);
  if ((eip >>> 0) > 0xffff) c.gp(0);
  const esp = c.peek32(12);
  const sels = [c.peek32(16), c.peek32(20), c.peek32(24), c.peek32(28), c.peek32(32)];
  // Committed: VM first, so that the segment loads below are the virtual-8086 kind.
  c.setEflags(fl);
  c.setCpl(3);
  c.loadRealSeg(CS, cs);
  [SS, ES, DS, FS, GS].forEach((s, k) => c.loadRealSeg(s, sels[k]));
  c.regs[4] = esp;
  c.eip = eip;
}
