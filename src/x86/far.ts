/**
 * Far JMP, CALL and RET (SDM vol. 2, the instructions' Operation sections;
 * vol. 3, 5.8): in real and virtual-8086 mode a plain CS:IP load; in
 * protected mode to code segments, through call gates (CALL to an inner
 * privilege level with a stack switch and parameter copying), through task
 * gates and to TSS descriptors (task switches).
 *
 * Every check, stack write and accessed-bit update happens before the first
 * register is changed, so a fault leaves the instruction restartable.
 */
import { CS, GP, NP, SS, SS_FAULT } from './constants.js';
import type { Cpu } from './cpu.js';
import {
  CALL_GATE16, CALL_GATE32, descDpl, descLimit, descPresent, descType, isCodeType, isConformingCode, isWritableData,
  loadCache, markDescAccessed, nullInaccessibleSegments, readDescriptor, TASK_GATE, TSS16_AVAIL, TSS16_BUSY,
  TSS32_AVAIL, TSS32_BUSY,
} from './descriptors.js';
import type { Descriptor } from './descriptors.js';
import { atCpl, checkStackRead, currentStack, innerStack, peek, setOuterSp } from './frames.js';
import { TaskSource, taskGateTransfer, tssTransfer } from './task.js';

export function farJump(c: Cpu, sel: number, off: number, o32: boolean): void {
  sel &= 0xffff;
  const eip = o32 ? off | 0 : off & 0xffff;
  if (c.realAddressing) {
    // The new CS is a 64 KiB segment.
    if ((eip >>> 0) > 0xffff) c.gp(0);
    c.loadRealSeg(CS, sel);
    c.eip = eip;
    return;
  }
  const d = target(c, sel);
  const type = descType(d.hi);
  if (isCodeType(type)) {
    checkDirectCode(c, sel, d, type);
    enterCode(c, sel, d, eip, c.cpl);
    return;
  }
  switch (type) {
    case CALL_GATE16:
    case CALL_GATE32: {
      const [cs, cd, gateEip] = throughCallGate(c, sel, d, type, true);
      enterCode(c, cs, cd, gateEip, c.cpl);
      return;
    }
  }
  taskTransfer(c, sel, d, type, TaskSource.Jump);
}

export function farCall(c: Cpu, sel: number, off: number, o32: boolean): void {
  sel &= 0xffff;
  const size = o32 ? 4 : 2;
  const eip = o32 ? off | 0 : off & 0xffff;
  if (c.realAddressing) {
    if ((eip >>> 0) > 0xffff) c.gp(0);
    const w = currentStack(c, 0);
    w.check(2 * size);
    w.push(c.segSel[CS], size);
    w.push(c.eip, size);
    w.commitSp();
    c.loadRealSeg(CS, sel);
    c.eip = eip;
    return;
  }
  const d = target(c, sel);
  const type = descType(d.hi);
  if (isCodeType(type)) {
    checkDirectCode(c, sel, d, type);
    const w = currentStack(c, 0);
    w.check(2 * size);
    if ((eip >>> 0) > (descLimit(d.lo, d.hi) >>> 0)) c.gp(0);
    markDescAccessed(c, d);
    w.push(c.segSel[CS], size);
    w.push(c.eip, size);
    w.commitSp();
    loadCache(c, CS, (sel & 0xfffc) | c.cpl, d);
    c.eip = eip;
    return;
  }
  switch (type) {
    case CALL_GATE16:
    case CALL_GATE32:
      callGate(c, sel, d, type);
      return;
  }
  taskTransfer(c, sel, d, type, TaskSource.Call);
}

/** JMP/CALL to a task gate or a TSS descriptor: a task switch; anything else is #GP(selector). */
function taskTransfer(c: Cpu, sel: number, d: Descriptor, type: number, source: TaskSource): void {
  if (type === TASK_GATE) taskGateTransfer(c, sel, d, source);
  else if (type === TSS16_AVAIL || type === TSS32_AVAIL || type === TSS16_BUSY || type === TSS32_BUSY) tssTransfer(c, sel, d, source);
  else c.raise(GP, sel & 0xfffc);
}

/** The descriptor a far JMP/CALL names: #GP(0) for a null selector, #GP(sel) outside the table. */
function target(c: Cpu, sel: number): Descriptor {
  if ((sel & 0xfffc) === 0) c.gp(0);
  return readDescriptor(c, sel) ?? c.raise(GP, sel & 0xfffc);
}

/** Direct JMP/CALL to a code segment: conforming needs DPL <= CPL; non-conforming RPL <= CPL and DPL == CPL. */
function checkDirectCode(c: Cpu, sel: number, d: Descriptor, type: number): void {
  const dpl = descDpl(d.hi);
  const bad = isConformingCode(type) ? dpl > c.cpl : (sel & 3) > c.cpl || dpl !== c.cpl;
  if (bad) c.raise(GP, sel & 0xfffc);
  if (!descPresent(d.hi)) c.raise(NP, sel & 0xfffc);
}

/** Load CS (RPL = `cpl`) and EIP after the limit check; CPL does not change. */
function enterCode(c: Cpu, sel: number, d: Descriptor, eip: number, cpl: number): void {
  if ((eip >>> 0) > (descLimit(d.lo, d.hi) >>> 0)) c.gp(0);
  markDescAccessed(c, d);
  loadCache(c, CS, (sel & 0xfffc) | cpl, d);
  c.eip = eip;
}

/**
 * The checks common to JMP and CALL through a call gate: the gate's DPL
 * against CPL and RPL, its presence, and its code segment: a present code
 * segment with DPL <= CPL (for a JMP, which never changes privilege, DPL ==
 * CPL unless conforming). Returns [code selector, code descriptor, entry EIP].
 */
function throughCallGate(c: Cpu, gateSel: number, g: Descriptor, type: number, jump = false): [number, Descriptor, number] {
  const gdpl = descDpl(g.hi);
  if (gdpl < c.cpl || gdpl < (gateSel & 3)) c.raise(GP, gateSel & 0xfffc);
  if (!descPresent(g.hi)) c.raise(NP, gateSel & 0xfffc);
  const cs = g.lo >>> 16;
  if ((cs & 0xfffc) === 0) c.gp(0);
  const cd = readDescriptor(c, cs) ?? c.raise(GP, cs & 0xfffc);
  const ct = descType(cd.hi), dpl = descDpl(cd.hi);
  const bad = !isCodeType(ct) || dpl > c.cpl || (jump && !isConformingCode(ct) && dpl !== c.cpl);
  if (bad) c.raise(GP, cs & 0xfffc);
  if (!descPresent(cd.hi)) c.raise(NP, cs & 0xfffc);
  const eip = type === CALL_GATE32 ? (g.lo & 0xffff) | (g.hi & 0xffff0000) : g.lo & 0xffff;
  return [cs, cd, eip];
}

/** CALL through a call gate: to the same level, or to a more privileged one with a new stack from the TSS. */
function callGate(c: Cpu, gateSel: number, g: Descriptor, type: number): void {
  const [cs, cd, eip] = throughCallGate(c, gateSel, g, type);
  const size = type === CALL_GATE32 ? 4 : 2;
  const dpl = descDpl(cd.hi);
  const limit = descLimit(cd.lo, cd.hi) >>> 0;
  if (isConformingCode(descType(cd.hi)) || dpl === c.cpl) {
    const w = currentStack(c, 0);
    w.check(2 * size);
    if ((eip >>> 0) > limit) c.gp(0);
    markDescAccessed(c, cd);
    w.push(c.segSel[CS], size);
    w.push(c.eip, size);
    w.commitSp();
    loadCache(c, CS, (cs & 0xfffc) | c.cpl, cd);
    c.eip = eip;
    return;
  }
  // MORE-PRIVILEGE: new stack, then old SS:ESP, the gate's parameter count of words/dwords, CS:EIP.
  const count = g.hi & 0x1f;
  const stack = innerStack(c, dpl, 0);
  const w = stack.writer;
  w.check((4 + count) * size);
  if ((eip >>> 0) > limit) c.gp(0);
  const params: number[] = [];
  for (let k = 0; k < count; k++) params.push(peek(c, k * size, size));
  markDescAccessed(c, stack.desc);
  markDescAccessed(c, cd);
  atCpl(c, dpl, () => {
    w.push(c.segSel[SS], size);
    w.push(c.regs[4], size);
    for (let k = count - 1; k >= 0; k--) w.push(params[k], size);
    w.push(c.segSel[CS], size);
    w.push(c.eip, size);
  });
  loadCache(c, SS, stack.sel, stack.desc);
  w.commitSp();
  loadCache(c, CS, (cs & 0xfffc) | dpl, cd);
  c.setCpl(dpl);
  c.eip = eip;
}

/** RET far [imm16]: to the same privilege level, or to an outer one (popping SS:ESP too). */
export function farReturn(c: Cpu, o32: boolean, popBytes: number): void {
  const size = o32 ? 4 : 2;
  checkStackRead(c, 0, 2 * size);
  const eip = peek(c, 0, size);
  const sel = peek(c, size, size) & 0xffff;
  if (c.realAddressing) {
    if ((eip >>> 0) > 0xffff) c.gp(0);
    c.adjustSp(2 * size + popBytes);
    c.loadRealSeg(CS, sel);
    c.eip = eip;
    return;
  }
  const cd = returnCode(c, sel);
  const rpl = sel & 3;
  const limit = descLimit(cd.lo, cd.hi) >>> 0;
  if (rpl === c.cpl) {
    if ((eip >>> 0) > limit) c.gp(0);
    markDescAccessed(c, cd);
    loadCache(c, CS, sel, cd);
    c.adjustSp(2 * size + popBytes);
    c.eip = eip;
    return;
  }
  // RETURN-TO-OUTER-PRIVILEGE-LEVEL: the caller's SS:ESP sits above the parameters.
  checkStackRead(c, 0, 4 * size + popBytes);
  const esp = peek(c, 2 * size + popBytes, size);
  const ss = peek(c, 3 * size + popBytes, size) & 0xffff;
  const sd = returnStack(c, ss, rpl);
  if ((eip >>> 0) > limit) c.gp(0);
  markDescAccessed(c, cd);
  markDescAccessed(c, sd);
  loadCache(c, CS, sel, cd);
  c.setCpl(rpl);
  loadCache(c, SS, ss, sd);
  setOuterSp(c, esp, o32);
  c.adjustSp(popBytes);
  nullInaccessibleSegments(c);
  c.eip = eip;
}

/** The code segment a far RET or IRET returns to (same checks for both), at RPL >= CPL. */
export function returnCode(c: Cpu, sel: number): Descriptor {
  if ((sel & 0xfffc) === 0) c.gp(0);
  const cd = readDescriptor(c, sel) ?? c.raise(GP, sel & 0xfffc);
  const type = descType(cd.hi), dpl = descDpl(cd.hi), rpl = sel & 3;
  if (!isCodeType(type) || rpl < c.cpl) c.raise(GP, sel & 0xfffc);
  if (isConformingCode(type) ? dpl > rpl : dpl !== rpl) c.raise(GP, sel & 0xfffc);
  if (!descPresent(cd.hi)) c.raise(NP, sel & 0xfffc);
  return cd;
}

/** The stack segment of a return to outer level `rpl`: a present writable data segment at DPL = RPL = `rpl`. */
export function returnStack(c: Cpu, ss: number, rpl: number): Descriptor {
  if ((ss & 0xfffc) === 0) c.gp(0);
  const sd = readDescriptor(c, ss) ?? c.raise(GP, ss & 0xfffc);
  if ((ss & 3) !== rpl || !isWritableData(descType(sd.hi)) || descDpl(sd.hi) !== rpl) c.raise(GP, ss & 0xfffc);
  if (!descPresent(sd.hi)) c.raise(SS_FAULT, ss & 0xfffc);
  return sd;
}
