/**
 * Interrupts, exceptions and privilege-changing control transfers: event
 * delivery through the IVT/IDT (with #DF and triple-fault escalation), IRET,
 * far JMP/CALL/RET, SYSENTER/SYSEXIT and the I/O permission check.
 */
import {
  AC, CS, DFV, GP, IF, NP, NT, PFV, RF, SS, SS_FAULT, TF, TS, VM, ATTR_DB, ES, DS, FS, GS,
} from './constants.js';
import type { Cpu } from './cpu.js';
import { FAULT } from './cpu.js';
import { desc, descBase, descDpl, descLimit, descAttr, descPresent, fetchDescriptor, loadNull, markAccessed } from './descriptors.js';

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

/**
 * Deliver an event. EIP is the return address (the faulting instruction for
 * faults, the next one for traps and INT n). A fault during delivery is
 * escalated as the SDM's double-fault table says; a fault while delivering #DF
 * shuts the machine down (triple fault).
 */
export function deliverEvent(c: Cpu, vector: number, errorCode: number, kind: EventKind): void {
  let v = vector, err = errorCode, k = kind;
  for (let depth = 0; ; depth++) {
    try {
      deliverOnce(c, v, err, k);
      return;
    } catch (e) {
      if (e !== FAULT) throw e;
      const second = c.excVector;
      const first = v;
      if (first === DFV || depth > 3) {
        c.shutdown(`triple fault (vector 0x${second.toString(16)} while delivering #DF)`);
        return;
      }
      const firstClass = first === PFV ? 2 : contributory(first) && k === EventKind.Exception ? 1 : 0;
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
  const type = (gateHi >>> 8) & 0x1f;
  if (type !== 0x05 && type !== 0x06 && type !== 0x07 && type !== 0x0e && type !== 0x0f) c.raise(GP, idtErr);
  const software = kind === EventKind.SoftwareInt || kind === EventKind.SoftwareException;
  if (software && descDpl(gateHi) < c.cpl) c.raise(GP, idtErr);
  if (!descPresent(gateHi)) c.raise(NP, idtErr);
  const pushError = kind === EventKind.Exception && hasErrorCode(vector);
  if (type === 0x05) {
    taskGate(c, gateLo >>> 16, pushError ? errorCode : -1, ext);
    return;
  }
  const gate32 = (type & 8) !== 0;
  const trapGate = (type & 1) !== 0;
  const sel = gateLo >>> 16;
  const offset = gate32 ? ((gateLo & 0xffff) | (gateHi & 0xffff0000)) | 0 : gateLo & 0xffff;
  interruptThroughGate(c, sel, offset, gate32, trapGate, pushError ? errorCode : -1, ext);
}

/** Task gates are handled by the task-switch code (not yet part of this CPU). */
function taskGate(c: Cpu, tssSel: number, _errorCode: number, ext: number): void {
  c.raise(GP, (tssSel & 0xfffc) + ext);
}

/**
 * Stack writes to a stack that is not yet loaded: SS cache values given
 * explicitly, with the limit checks of the stack segment, at privilege `cpl`.
 */
class StackWriter {
  sp = 0;
  constructor(
    private readonly c: Cpu,
    private readonly base: number,
    private readonly limit: number,
    private readonly attr: number,
    sp: number,
    private readonly ssSel: number,
    private readonly ext: number,
  ) {
    this.sp = sp;
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
    const ok = expandDown
      ? (bottom >>> 0) > lim && (top >>> 0) <= upper && (bottom >>> 0) <= (top >>> 0)
      : (top >>> 0) <= lim && (bottom >>> 0) <= (top >>> 0);
    if (!ok) this.c.raise(SS_FAULT, (this.ssSel & 0xfffc) + this.ext);
  }

  push(v: number, size: 2 | 4): void {
    this.sp = (this.sp - size) & this.mask;
    const lin = (this.base + this.sp) | 0;
    if (size === 4) this.c.wr32(lin, v);
    else this.c.wr16(lin, v);
  }
}

/** Inner stack for privilege level `dpl` from the current TSS. */
function tssStack(c: Cpu, dpl: number, ext: number): [number, number] {
  const tss32 = (c.trAttr & 0xf) === 0x9 || (c.trAttr & 0xf) === 0xb;
  const off = tss32 ? 4 + dpl * 8 : 2 + dpl * 4;
  const size = tss32 ? 8 : 4;
  if (off + size - 1 > (c.trLimit >>> 0)) c.raise(TS, (c.trSel & 0xfffc) + ext);
  const lin = (c.trBase + off) | 0;
  if (tss32) return [c.rdSys32(lin), c.rdSys16((lin + 4) | 0)];
  return [c.rdSys16(lin), c.rdSys16((lin + 2) | 0)];
}

function interruptThroughGate(c: Cpu, sel: number, offset: number, gate32: boolean, trapGate: boolean, errorCode: number, ext: number): void {
  if ((sel & 0xfffc) === 0) c.raise(GP, ext);
  if (!fetchDescriptor(c, sel)) c.raise(GP, (sel & 0xfffc) + ext);
  const csLo = desc.lo, csHi = desc.hi;
  const csType = (csHi >>> 8) & 0x1f;
  if ((csType & 0x18) !== 0x18) c.raise(GP, (sel & 0xfffc) + ext);
  const dpl = descDpl(csHi);
  if (dpl > c.cpl) c.raise(GP, (sel & 0xfffc) + ext);
  if (!descPresent(csHi)) c.raise(NP, (sel & 0xfffc) + ext);
  const csAddr = desc.addr;
  const conforming = (csType & 4) !== 0;
  const csLimit = descLimit(csLo, csHi);
  if ((offset >>> 0) > (csLimit >>> 0)) c.raise(GP, ext);
  const eflags = c.getEflags();
  const v86 = (eflags & VM) !== 0;
  const size = gate32 ? 4 : 2;
  const oldCpl = c.cpl;
  let newCpl: number;
  let writer: StackWriter;
  let newSs = -1, ssBase = 0, ssLimit = 0, ssAttr = 0;
  if (!conforming && dpl < oldCpl) {
    if (v86 && dpl !== 0) c.raise(GP, (sel & 0xfffc) + ext);
    // Inter-privilege: switch to the inner stack named by the TSS.
    const [esp, ss] = tssStack(c, dpl, ext);
    if ((ss & 0xfffc) === 0) c.raise(TS, ext);
    if ((ss & 3) !== dpl || !fetchDescriptor(c, ss)) c.raise(TS, (ss & 0xfffc) + ext);
    const ssType = (desc.hi >>> 8) & 0x1f;
    if ((ssType & 0x1a) !== 0x12 || descDpl(desc.hi) !== dpl) c.raise(TS, (ss & 0xfffc) + ext);
    if (!descPresent(desc.hi)) c.raise(SS_FAULT, (ss & 0xfffc) + ext);
    markAccessed(c);
    newSs = ss;
    ssBase = descBase(desc.lo, desc.hi);
    ssLimit = descLimit(desc.lo, desc.hi);
    ssAttr = descAttr(desc.hi);
    newCpl = dpl;
    writer = new StackWriter(c, ssBase, ssLimit, ssAttr, esp, ss, ext);
    const words = (v86 ? 9 : 5) + (errorCode >= 0 ? 1 : 0);
    writer.check(words * size);
    c.cpl = newCpl;
    c.updateCplMasks();
    try {
      if (v86) {
        writer.push(c.segSel[GS], size);
        writer.push(c.segSel[FS], size);
        writer.push(c.segSel[DS], size);
        writer.push(c.segSel[ES], size);
      }
      writer.push(c.segSel[SS], size);
      writer.push(c.regs[4], size);
      pushFrame(writer, eflags, c.segSel[CS], c.eip, errorCode, size);
    } catch (e) {
      c.cpl = oldCpl;
      c.updateCplMasks();
      throw e;
    }
  } else {
    if (v86) c.raise(GP, (sel & 0xfffc) + ext);
    newCpl = oldCpl;
    const ssAttrNow = c.segAttr[SS];
    writer = new StackWriter(c, c.segBase[SS], c.segLimit[SS], ssAttrNow, c.regs[4], c.segSel[SS], ext);
    writer.check(((errorCode >= 0 ? 1 : 0) + 3) * size);
    pushFrame(writer, eflags, c.segSel[CS], c.eip, errorCode, size);
  }
  // Committed: nothing below can fault.
  desc.addr = csAddr;
  desc.lo = csLo;
  desc.hi = csHi;
  markAccessed(c);
  if (newSs >= 0) {
    c.setSegCache(SS, newSs, ssBase, ssLimit, ssAttr);
    if (v86) {
      for (const s of [ES, DS, FS, GS]) loadNull(c, s, 0);
    }
  }
  if (writer.mask === -1) c.regs[4] = writer.sp;
  else c.regs16[8] = writer.sp;
  c.setSegCache(CS, (sel & 0xfffc) | newCpl, descBase(csLo, csHi), csLimit, descAttr(csHi));
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

function realModeInterrupt(c: Cpu, vector: number): void {
  if (vector * 4 + 3 > (c.idtLimit >>> 0)) c.gp(0);
  const flags = c.getEflags();
  const off = c.rd16((c.idtBase + vector * 4) | 0);
  const sel = c.rd16((c.idtBase + vector * 4 + 2) | 0);
  c.push16(flags);
  c.push16(c.segSel[CS]);
  c.push16(c.eip);
  c.setEflags(flags & ~(IF | TF | AC | RF));
  c.loadRealSeg(CS, sel);
  c.eip = off;
}

export function iret(c: Cpu, o32: boolean): void {
  if (!c.protectedMode) {
    const eip = o32 ? c.peek32(0) : c.peek16(0);
    const cs = o32 ? c.peek32(4) & 0xffff : c.peek16(2);
    const fl = o32 ? c.peek32(8) : c.peek16(4);
    c.adjustSp(o32 ? 12 : 6);
    c.loadRealSeg(CS, cs);
    c.eip = eip;
    const old = c.getEflags();
    c.setEflags(o32 ? (fl & 0x257fd5) | (old & 0x1a0000) : (old & 0xffff0000) | (fl & 0xffff));
    return;
  }
  c.gp(0);
}

export function farJump(c: Cpu, sel: number, off: number, _o32: boolean): void {
  if (c.realAddressing) {
    c.loadRealSeg(CS, sel);
    c.eip = off;
    return;
  }
  c.gp(sel & 0xfffc);
}

export function farCall(c: Cpu, sel: number, off: number, o32: boolean): void {
  if (c.realAddressing) {
    if (o32) {
      c.push32(c.segSel[CS]);
      c.push32(c.eip);
    } else {
      c.push16(c.segSel[CS]);
      c.push16(c.eip);
    }
    c.loadRealSeg(CS, sel);
    c.eip = off;
    return;
  }
  c.gp(sel & 0xfffc);
}

export function farReturn(c: Cpu, o32: boolean, popBytes: number): void {
  if (c.realAddressing) {
    const eip = o32 ? c.peek32(0) : c.peek16(0);
    const cs = o32 ? c.peek32(4) & 0xffff : c.peek16(2);
    c.adjustSp((o32 ? 8 : 4) + popBytes);
    c.loadRealSeg(CS, cs);
    c.eip = eip;
    return;
  }
  c.gp(0);
}

export function sysenter(c: Cpu): void {
  c.gp(0);
}

export function sysexit(c: Cpu): void {
  c.gp(0);
}

/** IN/OUT/INS/OUTS when CPL > IOPL or in virtual-8086 mode: consult the TSS I/O bitmap. */
export function checkIoPermission(c: Cpu, _port: number, _size: number): void {
  c.gp(0);
}
