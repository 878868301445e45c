/**
 * Event delivery: interrupts and exceptions through the real-mode IVT or the
 * protected-mode IDT (interrupt, trap and task gates, privilege changes,
 * virtual-8086 mode), with #DF and triple-fault escalation (SDM vol. 3,
 * chapter 6; vol. 2, INT n).
 *
 * The other privilege-changing transfers live in their own files and are
 * re-exported here, where the instruction handlers import them from.
 */
import { AC, CS, DFV, DS, ES, FS, GP, GS, IF, NP, NT, PFV, RF, SS, TF, VM } from './constants.js';
import type { Cpu } from './cpu.js';
import { FAULT } from './cpu.js';
import {
  descDpl, descLimit, descPresent, descType, INT_GATE16, INT_GATE32, isCodeType, isConformingCode, loadCache, loadNull,
  markDescAccessed, readDescriptor, TASK_GATE, TRAP_GATE16, TRAP_GATE32,
} from './descriptors.js';
import { atCpl, currentStack, innerStack, StackWriter } from './frames.js';
import { taskGateInterrupt } from './task.js';

export { farCall, farJump, farReturn } from './far.js';
export { iret } from './iret.js';
export { sysenter, sysexit } from './sysenter.js';
export { checkIoPermission } from './ioperm.js';

export const enum EventKind {
  /** INTR or NMI. */
  External,
  /** A fault or trap raised by the CPU. */
  Exception,
  /** INT n. */
  SoftwareInt,
  /** INT3 and INTO: exceptions, but gate DPL is checked as for INT n. */
  SoftwareException,
  /** INT1 / ICEBP. */
  Icebp,
}

/** Contributory exceptions (SDM vol. 3, table 6-4). */
function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

/** Exceptions that push an error code. */
export function hasErrorCode(vector: number): boolean {
  return vector === 8 || (vector >= 10 && vector <= 14) || vector === 17;
}

/** Exceptions reported as faults (the return address is the faulting instruction). */
function isFaultClass(v: number): boolean {
  return v === 0 || (v >= 5 && v <= 7) || (v >= 10 && v <= 14) || v === 16 || v === 17 || v === 19;
}

/** Events delivered from inside the delivery of another (task switches that fault in the new task). */
let nesting = 0;

/**
 * Deliver an event. EIP is the return address (the faulting instruction for
 * faults, the next one for traps and INT n). A fault during delivery is
 * escalated as the SDM's double-fault table says; a fault while delivering #DF
 * shuts the machine down (triple fault). A fault while delivering INT n,
 * INT3 or INTO is a fault of that instruction: it propagates to the caller
 * (the run loop), which reports it at the instruction.
 */
export function deliverEvent(c: Cpu, vector: number, errorCode: number, kind: EventKind): void {
  if (nesting >= 8) {
    c.shutdown(`events nested too deeply while delivering vector 0x${vector.toString(16)}`);
    return;
  }
  nesting++;
  try {
    deliverEscalating(c, vector, errorCode, kind);
  } finally {
    nesting--;
  }
}

function deliverEscalating(c: Cpu, vector: number, errorCode: number, kind: EventKind): void {
  let v = vector, err = errorCode, k = kind;
  for (let depth = 0; ; depth++) {
    // Fault-class exceptions push EFLAGS with RF set, so that the handler's IRET does not
    // re-trigger an instruction breakpoint on the restarted instruction (SDM vol. 3, 18.3.1.1).
    if (k === EventKind.Exception && isFaultClass(v)) c.flags |= RF;
    try {
      deliverOnce(c, v, err, k);
      return;
    } catch (e) {
      if (e !== FAULT) throw e;
      if (depth === 0 && (k === EventKind.SoftwareInt || k === EventKind.SoftwareException)) throw e;
      const second = c.excVector;
      const first = v;
      if (first === DFV || depth > 3) {
        c.shutdown(`triple fault (vector 0x${second.toString(16)} while delivering #DF)`);
        return;
      }
      // Only exceptions are contributory or page faults; an external interrupt is benign.
      const firstClass = k !== EventKind.Exception ? 0 : first === PFV ? 2 : contributory(first) ? 1 : 0;
      const secondIsPf = second === PFV, secondContrib = contributory(second);
      if ((firstClass === 1 && secondContrib) || (firstClass === 2 && (secondContrib || secondIsPf))) {
        v = DFV;
        err = 0;
      } else {
        v = second;
        err = c.excError;
      }
      k = EventKind.Exception;
    }
  }
}

/** The EXT bit of error codes raised while delivering an event the program did not ask for. */
function extBit(kind: EventKind): number {
  return kind === EventKind.External || kind === EventKind.Exception ? 1 : 0;
}

function deliverOnce(c: Cpu, vector: number, errorCode: number, kind: EventKind): void {
  if (!c.protectedMode) {
    realModeInterrupt(c, vector);
    return;
  }
  const ext = extBit(kind);
  const idtErr = vector * 8 + 2 + ext;
  if (vector * 8 + 7 > (c.idtLimit >>> 0)) c.raise(GP, idtErr);
  const gateLo = c.rdSys32((c.idtBase + vector * 8) | 0);
  const gateHi = c.rdSys32((c.idtBase + vector * 8 + 4) | 0);
  const type = descType(gateHi);
  if (type !== TASK_GATE && type !== INT_GATE16 && type !== TRAP_GATE16 && type !== INT_GATE32 && type !== TRAP_GATE32) {
    c.raise(GP, idtErr);
  }
  const software = kind === EventKind.SoftwareInt || kind === EventKind.SoftwareException;
  if (software && descDpl(gateHi) < c.cpl) c.raise(GP, idtErr);
  if (!descPresent(gateHi)) c.raise(NP, idtErr);
  // An exception that has an error code always pushes one (0 if the raiser gave none).
  const pushError = kind === EventKind.Exception && hasErrorCode(vector) ? Math.max(errorCode, 0) : -1;
  if (type === TASK_GATE) {
    taskGateInterrupt(c, gateLo >>> 16, pushError, ext);
    return;
  }
  const gate32 = (type & 8) !== 0;
  const trapGate = (type & 1) !== 0;
  const sel = gateLo >>> 16;
  const offset = gate32 ? (gateLo & 0xffff) | (gateHi & 0xffff0000) : gateLo & 0xffff;
  interruptThroughGate(c, sel, offset, gate32, trapGate, pushError, ext);
}

/** Interrupt or trap gate (SDM vol. 2, INT n: INTER-/INTRA-PRIVILEGE-LEVEL-INTERRUPT, INTERRUPT-FROM-VIRTUAL-8086-MODE). */
function interruptThroughGate(c: Cpu, sel: number, offset: number, gate32: boolean, trapGate: boolean, errorCode: number, ext: number): void {
  const selErr = (sel & 0xfffc) + ext;
  if ((sel & 0xfffc) === 0) c.raise(GP, ext);
  const cd = readDescriptor(c, sel) ?? c.raise(GP, selErr);
  const csType = descType(cd.hi);
  const dpl = descDpl(cd.hi);
  if (!isCodeType(csType) || dpl > c.cpl) c.raise(GP, selErr);
  if (!descPresent(cd.hi)) c.raise(NP, selErr);
  const csLimit = descLimit(cd.lo, cd.hi);
  const eflags = c.getEflags();
  const v86 = (eflags & VM) !== 0;
  const size = gate32 ? 4 : 2;
  const words = errorCode >= 0 ? 1 : 0;
  let writer: StackWriter;
  let stack: ReturnType<typeof innerStack> | null = null;
  let newCpl: number;
  if (!isConformingCode(csType) && dpl < c.cpl) {
    // Inter-privilege (or out of virtual-8086 mode, to ring 0 only): the inner stack comes from the TSS.
    if (v86 && dpl !== 0) c.raise(GP, selErr);
    stack = innerStack(c, dpl, ext);
    writer = stack.writer;
    writer.check(((v86 ? 9 : 5) + words) * size);
    if ((offset >>> 0) > (csLimit >>> 0)) c.raise(GP, ext);
    markDescAccessed(c, stack.desc);
    markDescAccessed(c, cd);
    const w = writer;
    atCpl(c, dpl, () => {
      if (v86) {
        w.push(c.segSel[GS], size);
        w.push(c.segSel[FS], size);
        w.push(c.segSel[DS], size);
        w.push(c.segSel[ES], size);
      }
      w.push(c.segSel[SS], size);
      w.push(c.regs[4], size);
      pushFrame(w, eflags, c.segSel[CS], c.eip, errorCode, size);
    });
    newCpl = dpl;
  } else {
    // Same privilege (conforming handlers run at the interrupted CPL); never out of virtual-8086 mode.
    if (v86) c.raise(GP, selErr);
    writer = currentStack(c, ext);
    writer.check((3 + words) * size);
    if ((offset >>> 0) > (csLimit >>> 0)) c.raise(GP, ext);
    markDescAccessed(c, cd);
    pushFrame(writer, eflags, c.segSel[CS], c.eip, errorCode, size);
    newCpl = c.cpl;
  }
  // Committed: nothing below can fault.
  if (stack !== null) {
    loadCache(c, SS, stack.sel, stack.desc);
    if (v86) for (const s of [ES, DS, FS, GS]) loadNull(c, s, 0);
  }
  writer.commitSp();
  loadCache(c, CS, (sel & 0xfffc) | newCpl, cd);
  c.setCpl(newCpl);
  let f = eflags & ~(TF | NT | RF | VM);
  if (!trapGate) f &= ~IF;
  c.setEflags(f);
  c.eip = offset;
}

function pushFrame(w: StackWriter, eflags: number, cs: number, eip: number, errorCode: number, size: 2 | 4): void {
  w.push(eflags, size);
  w.push(cs, size);
  w.push(eip, size);
  if (errorCode >= 0) w.push(errorCode, size);
}

/** Real-address mode: FLAGS, CS, IP on the stack, CS:IP from the IVT. */
function realModeInterrupt(c: Cpu, vector: number): void {
  if (vector * 4 + 3 > (c.idtLimit >>> 0)) c.gp(0);
  const flags = c.getEflags();
  const off = c.rd16((c.idtBase + vector * 4) | 0);
  const sel = c.rd16((c.idtBase + vector * 4 + 2) | 0);
  const w = currentStack(c, 0);
  w.check(6);
  w.push(flags, 2);
  w.push(c.segSel[CS], 2);
  w.push(c.eip, 2);
  w.commitSp();
  c.setEflags(flags & ~(IF | TF | AC | RF));
  c.loadRealSeg(CS, sel);
  c.eip = off;
}
