/**
 * Hardware task switching (SDM vol. 3, chapter 7): JMP/CALL to a TSS
 * descriptor or through a task gate, interrupts and exceptions through a task
 * gate, and IRET with NT set (return to the back link).
 *
 * A switch runs in two halves. Before the commit point everything is checked
 * and read (the new TSS, the descriptors) and the pages written later are
 * probed; a fault there belongs to the old task and the instruction (or the
 * event delivery) faults as usual. After it the old state is saved, TR, CR3,
 * the registers and EFLAGS are the new task's, and only then are LDTR and
 * the segment registers checked and loaded: a fault there is an exception of
 * the new task, delivered here, and the switch itself completes.
 */
import {
  ATTR_UNUSABLE, CR0_PG, CR0_TS, CS, DB, DS, ES, FS, GP, GS, NP, NT, SS, SS_FAULT, TS, VM,
} from './constants.js';
import type { Cpu } from './cpu.js';
import { FAULT } from './cpu.js';
import {
  descAttr, descBase, descDpl, descLimit, descPresent, descType, isCodeType, isConformingCode, isWritableData,
  LDT_TYPE, loadCache, loadNull, markDescAccessed, readDescriptor, TSS16_AVAIL, TSS16_BUSY, TSS32_AVAIL, TSS32_BUSY,
  TSS_BUSY_BIT, TSS_SEGS,
} from './descriptors.js';
import type { Descriptor } from './descriptors.js';
import { deliverEvent, EventKind } from './interrupts.js';

export const enum TaskSource {
  Jump,
  Call,
  Iret,
  /** An interrupt or exception through a task gate. */
  Interrupt,
}

/** TSS fields (SDM vol. 3, figures 7-2 and 7-11). */
const TSS32 = { cr3: 0x1c, eip: 0x20, eflags: 0x24, regs: 0x28, segs: 0x48, ldt: 0x60, trap: 0x64, minLimit: 0x67 };
const TSS16 = { eip: 0x0e, eflags: 0x10, regs: 0x12, segs: 0x22, ldt: 0x2a, minLimit: 0x2b };

/** The state a task switch loads, read from the new TSS before anything changes. */
interface TaskState {
  cr3: number;
  eip: number;
  eflags: number;
  regs: number[];
  /** Selectors in TSS order (ES CS SS DS FS GS, which is also our segment numbering); 16-bit TSSs have no FS, GS. */
  segs: number[];
  ldt: number;
  trap: boolean;
}

function is32(type: number): boolean {
  return (type & 8) !== 0;
}

/** JMP or CALL through a task gate: gate DPL >= max(CPL, RPL); the gate's TSS must be an available TSS in the GDT. */
export function taskGateTransfer(c: Cpu, gateSel: number, g: Descriptor, source: TaskSource): void {
  const gdpl = descDpl(g.hi);
  if (gdpl < c.cpl || gdpl < (gateSel & 3)) c.raise(GP, gateSel & 0xfffc);
  if (!descPresent(g.hi)) c.raise(NP, gateSel & 0xfffc);
  const tss = g.lo >>> 16;
  const d = availableTss(c, tss, 0);
  taskSwitch(c, tss, d, source, -1, 0);
}

/** JMP or CALL to a TSS descriptor: its DPL >= max(CPL, RPL), available, in the GDT. */
export function tssTransfer(c: Cpu, sel: number, d: Descriptor, source: TaskSource): void {
  const type = descType(d.hi), dpl = descDpl(d.hi);
  if (sel & 4 || dpl < c.cpl || dpl < (sel & 3) || (type !== TSS16_AVAIL && type !== TSS32_AVAIL)) c.raise(GP, sel & 0xfffc);
  if (!descPresent(d.hi)) c.raise(NP, sel & 0xfffc);
  taskSwitch(c, sel, d, source, -1, 0);
}

/** An interrupt or exception through a task gate (no privilege checks); `errorCode` (or -1) goes on the new stack. */
export function taskGateInterrupt(c: Cpu, tss: number, errorCode: number, ext: number): void {
  const d = availableTss(c, tss, ext);
  taskSwitch(c, tss, d, TaskSource.Interrupt, errorCode, ext);
}

function availableTss(c: Cpu, sel: number, ext: number): Descriptor {
  const err = (sel & 0xfffc) + ext;
  if (sel & 4) c.raise(GP, err);
  const d = readDescriptor(c, sel) ?? c.raise(GP, err);
  const type = descType(d.hi);
  if (type !== TSS16_AVAIL && type !== TSS32_AVAIL) c.raise(GP, err);
  if (!descPresent(d.hi)) c.raise(NP, err);
  return d;
}

/** IRET with NT set: back to the task named by the current TSS's link field, which must be busy. */
export function taskReturn(c: Cpu): void {
  const link = c.rdSys16(c.trBase);
  if (link & 4) c.raise(TS, link & 0xfffc);
  const d = readDescriptor(c, link) ?? c.raise(TS, link & 0xfffc);
  const type = descType(d.hi);
  if (type !== TSS16_BUSY && type !== TSS32_BUSY) c.raise(TS, link & 0xfffc);
  if (!descPresent(d.hi)) c.raise(NP, link & 0xfffc);
  taskSwitch(c, link, d, TaskSource.Iret, -1, 0);
}

/** Write access to [lin, lin + bytes) must not fault once the switch has committed: translate it now. */
function probeWrite(c: Cpu, lin: number, bytes: number): void {
  c.supervisor(() => {
    c.translate(lin, 1);
    c.translate((lin + bytes - 1) | 0, 1);
  });
}

function readState(c: Cpu, base: number, tss32: boolean): TaskState {
  const rd32 = (off: number) => c.rdSys32((base + off) | 0);
  const rd16 = (off: number) => c.rdSys16((base + off) | 0);
  if (tss32) {
    return {
      cr3: rd32(TSS32.cr3),
      eip: rd32(TSS32.eip),
      eflags: rd32(TSS32.eflags),
      regs: Array.from({ length: 8 }, (_, k) => rd32(TSS32.regs + k * 4)),
      segs: Array.from({ length: 6 }, (_, k) => rd16(TSS32.segs + k * 4)),
      ldt: rd16(TSS32.ldt),
      trap: (rd16(TSS32.trap) & 1) !== 0,
    };
  }
  return {
    cr3: 0,
    eip: rd16(TSS16.eip),
    eflags: rd16(TSS16.eflags),
    regs: Array.from({ length: 8 }, (_, k) => rd16(TSS16.regs + k * 2)),
    segs: Array.from({ length: 4 }, (_, k) => rd16(TSS16.segs + k * 2)),
    ldt: rd16(TSS16.ldt),
    trap: false,
  };
}

/** Save the outgoing task's dynamic state (EIP, EFLAGS, registers, selectors) into its TSS. */
function saveState(c: Cpu, base: number, tss32: boolean, eflags: number): void {
  const wr32 = (off: number, v: number) => c.wrSys32((base + off) | 0, v);
  const wr16 = (off: number, v: number) => c.wrSys16((base + off) | 0, v);
  if (tss32) {
    wr32(TSS32.eip, c.eip);
    wr32(TSS32.eflags, eflags);
    for (let k = 0; k < 8; k++) wr32(TSS32.regs + k * 4, c.regs[k]);
    for (let k = 0; k < 6; k++) wr16(TSS32.segs + k * 4, c.segSel[k]);
  } else {
    wr16(TSS16.eip, c.eip);
    wr16(TSS16.eflags, eflags);
    for (let k = 0; k < 8; k++) wr16(TSS16.regs + k * 2, c.regs16[k << 1]);
    for (let k = 0; k < 4; k++) wr16(TSS16.segs + k * 2, c.segSel[k]);
  }
}

/**
 * Switch to the task whose TSS descriptor `d` the selector `sel` names (its
 * type and presence already checked by the caller). `errorCode` >= 0 is
 * pushed on the new task's stack (exceptions through a task gate); `ext` is
 * the EXT bit for the error codes of faults raised along the way.
 */
export function taskSwitch(c: Cpu, sel: number, d: Descriptor, source: TaskSource, errorCode: number, ext: number): void {
  const new32 = is32(descType(d.hi));
  const newBase = descBase(d.lo, d.hi), newLimit = descLimit(d.lo, d.hi) >>> 0;
  if (newLimit < (new32 ? TSS32.minLimit : TSS16.minLimit)) c.raise(TS, (sel & 0xfffc) + ext);
  const old32 = is32(c.trAttr & 0xf);
  const oldBase = c.trBase;
  // The old TSS must hold the fields the switch saves (up to GS, or DS in a 16-bit TSS).
  if ((c.trLimit >>> 0) < (old32 ? 0x5f : 0x29)) c.raise(TS, (c.trSel & 0xfffc) + ext);
  const st = readState(c, newBase, new32);
  // The old task's descriptor, whose busy bit a JMP or IRET clears (none before the first LTR).
  const oldDesc = (c.trSel & 0xfffc) !== 0 && !(c.trSel & 4) ? readDescriptor(c, c.trSel) : null;
  const clearOld = (source === TaskSource.Jump || source === TaskSource.Iret) && oldDesc !== null;
  const nesting = source === TaskSource.Call || source === TaskSource.Interrupt;
  if (old32) probeWrite(c, (oldBase + TSS32.eip) | 0, TSS32.segs + 24 - TSS32.eip);
  else probeWrite(c, (oldBase + TSS16.eip) | 0, TSS16.segs + 8 - TSS16.eip);
  if (nesting) probeWrite(c, newBase, 2);
  if (clearOld) probeWrite(c, (oldDesc.addr + 4) | 0, 4);
  if (source !== TaskSource.Iret) probeWrite(c, (d.addr + 4) | 0, 4);

  // Commit point: from here on the switch completes.
  if (clearOld) c.wrSys32((oldDesc.addr + 4) | 0, oldDesc.hi & ~TSS_BUSY_BIT);
  let saved = c.getEflags();
  if (source === TaskSource.Iret) saved &= ~NT;
  saveState(c, oldBase, old32, saved);
  if (nesting) {
    c.wrSys16(newBase, c.trSel);
    st.eflags |= NT;
  }
  if (source !== TaskSource.Iret) {
    d.hi |= TSS_BUSY_BIT;
    c.wrSys32((d.addr + 4) | 0, d.hi);
  }
  c.trSel = sel & 0xffff;
  c.trBase = newBase;
  c.trLimit = newLimit | 0;
  c.trAttr = descAttr(d.hi | TSS_BUSY_BIT);
  c.cr0 |= CR0_TS;
  if (new32 && c.cr0 & CR0_PG) c.setCr3(st.cr3);
  loadState(c, st, new32);
  const v86 = (c.flags & VM) !== 0;
  try {
    loadLdt(c, st.ldt, ext);
    if (!v86) loadSegments(c, st, new32, ext);
    if (errorCode >= 0) {
      if (new32) c.push32(errorCode);
      else c.push16(errorCode);
    }
  } catch (e) {
    if (e !== FAULT) throw e;
    deliverEvent(c, c.excVector, c.excError, EventKind.Exception);
    return;
  }
  if (st.trap) {
    // The T flag of the new TSS: a debug trap before its first instruction.
    c.dr[6] |= 0x8000;
    deliverEvent(c, DB, -1, EventKind.Exception);
  }
}

/** Registers, EIP, EFLAGS and CPL of the new task; selectors go in with unusable caches until checked. */
function loadState(c: Cpu, st: TaskState, tss32: boolean): void {
  for (let k = 0; k < 8; k++) {
    if (tss32) c.regs[k] = st.regs[k];
    else c.regs16[k << 1] = st.regs[k];
  }
  c.eip = st.eip;
  c.setEflags(st.eflags);
  if (c.flags & VM) {
    // A virtual-8086 task: segments are loaded the real-mode way, at CPL 3.
    c.setCpl(3);
    for (const s of TSS_SEGS) c.loadRealSeg(s, st.segs[s]);
    return;
  }
  c.setCpl(st.segs[CS] & 3);
  for (let s = 0; s < st.segs.length; s++) c.setSegCache(s, st.segs[s], 0, 0, ATTR_UNUSABLE);
}

function loadLdt(c: Cpu, sel: number, ext: number): void {
  c.ldtSel = sel;
  c.ldtBase = 0;
  c.ldtLimit = 0;
  c.ldtAttr = ATTR_UNUSABLE;
  if ((sel & 0xfffc) === 0) return;
  const err = (sel & 0xfffc) + ext;
  if (sel & 4) c.raise(TS, err);
  const d = readDescriptor(c, sel) ?? c.raise(TS, err);
  if (descType(d.hi) !== LDT_TYPE || !descPresent(d.hi)) c.raise(TS, err);
  c.ldtBase = descBase(d.lo, d.hi);
  c.ldtLimit = descLimit(d.lo, d.hi);
  c.ldtAttr = descAttr(d.hi);
}

/**
 * SS, CS, then the data segments, with the checks of SDM vol. 3, table 7-1
 * (#TS, or #NP/#SS when not present). SS goes first so that a fault about CS
 * can still be delivered on the new task's stack.
 */
function loadSegments(c: Cpu, st: TaskState, tss32: boolean, ext: number): void {
  const cpl = c.cpl;
  const fetch = (sel: number): Descriptor => readDescriptor(c, sel) ?? c.raise(TS, (sel & 0xfffc) + ext);

  const ss = st.segs[SS];
  if ((ss & 0xfffc) === 0) c.raise(TS, ext);
  const sd = fetch(ss);
  if ((ss & 3) !== cpl || !isWritableData(descType(sd.hi)) || descDpl(sd.hi) !== cpl) c.raise(TS, (ss & 0xfffc) + ext);
  if (!descPresent(sd.hi)) c.raise(SS_FAULT, (ss & 0xfffc) + ext);
  markDescAccessed(c, sd);
  loadCache(c, SS, ss, sd);

  const cs = st.segs[CS];
  if ((cs & 0xfffc) === 0) c.raise(TS, ext);
  const cd = fetch(cs);
  const ct = descType(cd.hi), cdpl = descDpl(cd.hi);
  if (!isCodeType(ct) || (isConformingCode(ct) ? cdpl > cpl : cdpl !== cpl)) c.raise(TS, (cs & 0xfffc) + ext);
  if (!descPresent(cd.hi)) c.raise(NP, (cs & 0xfffc) + ext);
  markDescAccessed(c, cd);
  loadCache(c, CS, cs, cd);

  for (const s of tss32 ? [DS, ES, FS, GS] : [DS, ES]) {
    const sel = st.segs[s];
    if ((sel & 0xfffc) === 0) {
      loadNull(c, s, sel);
      continue;
    }
    const d = fetch(sel);
    const t = descType(d.hi), dpl = descDpl(d.hi);
    // Data or readable code; data and non-conforming code need DPL >= CPL and DPL >= RPL.
    const readable = (t & 0x10) !== 0 && (t & 0x0a) !== 0x08;
    if (!readable || (!isConformingCode(t) && (dpl < cpl || dpl < (sel & 3)))) c.raise(TS, (sel & 0xfffc) + ext);
    if (!descPresent(d.hi)) c.raise(NP, (sel & 0xfffc) + ext);
    markDescAccessed(c, d);
    loadCache(c, s, sel, d);
  }
}
