/**
 * Segment descriptors: reading them from the GDT/LDT, loading segment
 * registers in every mode with the protected-mode checks, LDTR and TR, and
 * the descriptor-inspection instructions (LAR LSL VERR VERW).
 */
import { ATTR_S, ATTR_UNUSABLE, CS, DS, ES, FS, GP, GS, NP, SS, SS_FAULT } from './constants.js';
import type { Cpu } from './cpu.js';

/** The descriptor last read by `fetchDescriptor`: its two dwords and where it lives. */
export const desc = { lo: 0, hi: 0, addr: 0 };

/** A descriptor kept past the next `fetchDescriptor` (far transfers look at several). */
export interface Descriptor {
  lo: number;
  hi: number;
  addr: number;
}

// System descriptor types, as `descType` returns them (S = 0).
export const TSS16_AVAIL = 0x01;
export const LDT_TYPE = 0x02;
export const TSS16_BUSY = 0x03;
export const CALL_GATE16 = 0x04;
export const TASK_GATE = 0x05;
export const INT_GATE16 = 0x06;
export const TRAP_GATE16 = 0x07;
export const TSS32_AVAIL = 0x09;
export const TSS32_BUSY = 0x0b;
export const CALL_GATE32 = 0x0c;
export const INT_GATE32 = 0x0e;
export const TRAP_GATE32 = 0x0f;
/** The busy bit of a TSS descriptor's high dword. */
export const TSS_BUSY_BIT = 0x200;

/**
 * Read the descriptor for `sel` from the GDT or LDT into `desc`.
 * Returns false if the selector points beyond the table's limit (or into a null LDT).
 */
export function fetchDescriptor(c: Cpu, sel: number): boolean {
  const index = sel & 0xfff8;
  let base: number, limit: number;
  if (sel & 4) {
    if ((c.ldtSel & 0xfffc) === 0 || c.ldtAttr & ATTR_UNUSABLE) return false;
    base = c.ldtBase;
    limit = c.ldtLimit >>> 0;
  } else {
    base = c.gdtBase;
    limit = c.gdtLimit >>> 0;
  }
  if (index + 7 > limit) return false;
  desc.addr = (base + index) | 0;
  desc.lo = c.rdSys32(desc.addr);
  desc.hi = c.rdSys32((desc.addr + 4) | 0);
  return true;
}

/** `fetchDescriptor` into a fresh record, or null when the selector is outside its table. */
export function readDescriptor(c: Cpu, sel: number): Descriptor | null {
  return fetchDescriptor(c, sel) ? { lo: desc.lo, hi: desc.hi, addr: desc.addr } : null;
}

export function descBase(lo: number, hi: number): number {
  return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) | 0;
}

/** Byte-granular limit (G scales by 4 KiB). */
export function descLimit(lo: number, hi: number): number {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  return hi & 0x800000 ? ((raw << 12) | 0xfff) | 0 : raw;
}

/** Attribute word as kept in segment caches: type, S, DPL, P, AVL, L, D/B, G. */
export function descAttr(hi: number): number {
  return (hi >>> 8) & 0xf0ff;
}

export function descDpl(hi: number): number {
  return (hi >>> 13) & 3;
}

export function descPresent(hi: number): boolean {
  return (hi & 0x8000) !== 0;
}

/** The 5-bit type: S (0x10), then code (8), conforming/expand-down (4), readable/writable (2), accessed (1). */
export function descType(hi: number): number {
  return (hi >>> 8) & 0x1f;
}

export function isCodeType(type: number): boolean {
  return (type & 0x18) === 0x18;
}

export function isConformingCode(type: number): boolean {
  return (type & 0x1c) === 0x1c;
}

export function isWritableData(type: number): boolean {
  return (type & 0x1a) === 0x12;
}

/** Set the accessed bit of the descriptor last fetched, as the processor does on a load. */
export function markAccessed(c: Cpu): void {
  if (!(desc.hi & 0x100)) {
    desc.hi |= 0x100;
    c.wrSys32((desc.addr + 4) | 0, desc.hi);
  }
}

/** Set the accessed bit of a kept descriptor. */
export function markDescAccessed(c: Cpu, d: Descriptor): void {
  if (!(d.hi & 0x100)) {
    d.hi |= 0x100;
    c.wrSys32((d.addr + 4) | 0, d.hi);
  }
}

/** Load a segment cache from `desc`. */
export function loadFromDesc(c: Cpu, seg: number, sel: number): void {
  c.setSegCache(seg, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), descAttr(desc.hi));
}

/** Load a segment cache from a kept descriptor. */
export function loadCache(c: Cpu, seg: number, sel: number, d: Descriptor): void {
  c.setSegCache(seg, sel, descBase(d.lo, d.hi), descLimit(d.lo, d.hi), descAttr(d.hi));
}

/** A null selector in DS/ES/FS/GS: loadable, but any access through it faults. */
export function loadNull(c: Cpu, seg: number, sel: number): void {
  c.setSegCache(seg, sel, 0, 0, ATTR_UNUSABLE);
}

/**
 * After a return to an outer privilege level (RET, IRET): a data segment
 * register the new CPL could not have loaded (DPL < CPL, data or
 * non-conforming code) is nulled so the outer level cannot use it.
 */
export function nullInaccessibleSegments(c: Cpu): void {
  for (const s of [ES, DS, FS, GS]) {
    const attr = c.segAttr[s];
    if (attr & ATTR_UNUSABLE) {
      loadNull(c, s, 0);
      continue;
    }
    const dpl = (attr >> 5) & 3;
    const conforming = (attr & 0x1c) === 0x1c;
    if (!conforming && dpl < c.cpl) loadNull(c, s, 0);
  }
}

/** MOV/POP Sreg, LDS...: load a data or stack segment register (not CS). */
export function loadSegment(c: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  if (c.realAddressing) {
    c.loadRealSeg(seg, sel);
    return;
  }
  const rpl = sel & 3, cpl = c.cpl;
  if (seg === SS) {
    if ((sel & 0xfffc) === 0) c.raise(GP, 0);
    if (rpl !== cpl || !fetchDescriptor(c, sel)) c.raise(GP, sel & 0xfffc);
    // Writable data segment at DPL == CPL.
    if (!isWritableData(descType(desc.hi)) || descDpl(desc.hi) !== cpl) c.raise(GP, sel & 0xfffc);
    if (!descPresent(desc.hi)) c.raise(SS_FAULT, sel & 0xfffc);
  } else {
    if ((sel & 0xfffc) === 0) {
      loadNull(c, seg, sel);
      return;
    }
    if (!fetchDescriptor(c, sel)) c.raise(GP, sel & 0xfffc);
    const type = descType(desc.hi);
    // Data, or readable code.
    if (!(type & 0x10) || (type & 0x0a) === 0x08) c.raise(GP, sel & 0xfffc);
    // Data and non-conforming code need max(CPL, RPL) <= DPL.
    if (!isConformingCode(type) && (rpl > descDpl(desc.hi) || cpl > descDpl(desc.hi))) c.raise(GP, sel & 0xfffc);
    if (!descPresent(desc.hi)) c.raise(NP, sel & 0xfffc);
  }
  markAccessed(c);
  loadFromDesc(c, seg, sel);
}

export function lldt(c: Cpu, sel: number): void {
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) {
    c.ldtSel = sel;
    c.ldtBase = 0;
    c.ldtLimit = 0;
    c.ldtAttr = ATTR_UNUSABLE;
    return;
  }
  if (sel & 4 || !fetchDescriptor(c, sel)) c.raise(GP, sel & 0xfffc);
  if (descType(desc.hi) !== LDT_TYPE) c.raise(GP, sel & 0xfffc);
  if (!descPresent(desc.hi)) c.raise(NP, sel & 0xfffc);
  c.ldtSel = sel;
  c.ldtBase = descBase(desc.lo, desc.hi);
  c.ldtLimit = descLimit(desc.lo, desc.hi);
  c.ldtAttr = descAttr(desc.hi);
}

export function ltr(c: Cpu, sel: number): void {
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) c.raise(GP, 0);
  if (sel & 4 || !fetchDescriptor(c, sel)) c.raise(GP, sel & 0xfffc);
  const type = descType(desc.hi);
  // Available 16- or 32-bit TSS.
  if (type !== TSS16_AVAIL && type !== TSS32_AVAIL) c.raise(GP, sel & 0xfffc);
  if (!descPresent(desc.hi)) c.raise(NP, sel & 0xfffc);
  desc.hi |= TSS_BUSY_BIT;
  c.wrSys32((desc.addr + 4) | 0, desc.hi);
  c.trSel = sel;
  c.trBase = descBase(desc.lo, desc.hi);
  c.trLimit = descLimit(desc.lo, desc.hi);
  c.trAttr = descAttr(desc.hi);
}

/**
 * Common part of LAR LSL VERR VERW: fetch the descriptor and apply the
 * privilege rule (conforming code is visible from anywhere, everything else
 * needs DPL >= CPL and DPL >= RPL). Returns the high dword's type or -1.
 */
function inspect(c: Cpu, sel: number, systemTypes: number): number {
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0 || !fetchDescriptor(c, sel)) return -1;
  const type = descType(desc.hi);
  if (!(type & ATTR_S) && !(systemTypes & (1 << type))) return -1;
  if (!isConformingCode(type)) {
    const dpl = descDpl(desc.hi);
    if (dpl < c.cpl || dpl < (sel & 3)) return -1;
  }
  return type;
}

/** System types LAR reports: TSSs, LDT, call and task gates (not interrupt/trap gates). */
const LAR_SYSTEM = (1 << TSS16_AVAIL) | (1 << LDT_TYPE) | (1 << TSS16_BUSY) | (1 << CALL_GATE16) | (1 << TASK_GATE) |
  (1 << TSS32_AVAIL) | (1 << TSS32_BUSY) | (1 << CALL_GATE32);
/** System types that have a limit for LSL: TSSs and the LDT. */
const LSL_SYSTEM = (1 << TSS16_AVAIL) | (1 << LDT_TYPE) | (1 << TSS16_BUSY) | (1 << TSS32_AVAIL) | (1 << TSS32_BUSY);

/** LAR: the access-rights bytes of the high dword (type..P, AVL, D/B, G), or null if not accessible. */
export function lar(c: Cpu, sel: number): number | null {
  if (inspect(c, sel, LAR_SYSTEM) < 0) return null;
  return desc.hi & 0x00f0ff00;
}

/** LSL: the byte-granular segment limit, or null if not accessible. */
export function lsl(c: Cpu, sel: number): number | null {
  if (inspect(c, sel, LSL_SYSTEM) < 0) return null;
  return descLimit(desc.lo, desc.hi);
}

/** VERR: a data segment or a readable code segment the current privilege may use. */
export function verr(c: Cpu, sel: number): boolean {
  const type = inspect(c, sel, 0);
  return type >= 0 && (!isCodeType(type) || (type & 2) !== 0);
}

/** VERW: a writable data segment the current privilege may use. */
export function verw(c: Cpu, sel: number): boolean {
  const type = inspect(c, sel, 0);
  return type >= 0 && isWritableData(type);
}

/** The segment registers a task switch or a return to virtual-8086 mode reloads, in TSS order. */
export const TSS_SEGS = [ES, CS, SS, DS, FS, GS] as const;

/** The two dwords of a gate descriptor (call, task, interrupt or trap gate; SDM vol. 3, 5.8.3 and 6.11). */
export function gateDescriptor(sel: number, offset: number, type: number, dpl: number, params = 0, present = true): [number, number] {
  const lo = (sel << 16) | (offset & 0xffff);
  const hi = (offset & 0xffff0000) | (present ? 0x8000 : 0) | (dpl << 13) | (type << 8) | (params & 0x1f);
  return [lo | 0, hi | 0];
}

/** Write descriptors, each as its two dwords, as a table (GDT, LDT or IDT) starting at `offset` of `view`. */
export function writeDescriptorTable(view: DataView, offset: number, entries: readonly (readonly [number, number])[]): void {
  entries.forEach(([lo, hi], k) => {
    view.setInt32(offset + k * 8, lo, true);
    view.setInt32(offset + k * 8 + 4, hi, true);
  });
}
