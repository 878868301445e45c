/**
 * Segment descriptors: reading them from the GDT/LDT, loading segment
 * registers in every mode with the protected-mode checks, LDTR and TR, and
 * the descriptor-inspection instructions (LAR LSL VERR VERW).
 */
import { ATTR_UNUSABLE, GP, NP, SS, SS_FAULT, TS } from './constants.js';
import type { Cpu } from './cpu.js';

/** The descriptor last read by `fetchDescriptor`: its two dwords and where it lives. */
export const desc = { lo: 0, hi: 0, addr: 0 };

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

/** Set the accessed bit of the descriptor last fetched, as the processor does on a load. */
export function markAccessed(c: Cpu): void {
  if (!(desc.hi & 0x100)) {
    desc.hi |= 0x100;
    c.supervisor(() => c.wr32((desc.addr + 4) | 0, desc.hi));
  }
}

/** Load a segment cache from `desc`. */
export function loadFromDesc(c: Cpu, seg: number, sel: number): void {
  c.setSegCache(seg, sel, descBase(desc.lo, desc.hi), descLimit(desc.lo, desc.hi), descAttr(desc.hi));
}

/** A null selector in DS/ES/FS/GS: loadable, but any access through it faults. */
export function loadNull(c: Cpu, seg: number, sel: number): void {
  c.setSegCache(seg, sel, 0, 0, ATTR_UNUSABLE);
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
    const type = (desc.hi >>> 8) & 0x1f;
    // Writable data segment at DPL == CPL.
    if ((type & 0x1a) !== 0x12 || descDpl(desc.hi) !== cpl) c.raise(GP, sel & 0xfffc);
    if (!descPresent(desc.hi)) c.raise(SS_FAULT, sel & 0xfffc);
  } else {
    if ((sel & 0xfffc) === 0) {
      loadNull(c, seg, sel);
      return;
    }
    if (!fetchDescriptor(c, sel)) c.raise(GP, sel & 0xfffc);
    const type = (desc.hi >>> 8) & 0x1f;
    // Data, or readable code.
    if (!(type & 0x10) || (type & 0x0a) === 0x08) c.raise(GP, sel & 0xfffc);
    // Data and non-conforming code need max(CPL, RPL) <= DPL.
    const conformingCode = (type & 0x0c) === 0x0c;
    if (!conformingCode && (rpl > descDpl(desc.hi) || cpl > descDpl(desc.hi))) c.raise(GP, sel & 0xfffc);
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
  if (((desc.hi >>> 8) & 0x1f) !== 0x02) c.raise(GP, sel & 0xfffc);
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
  const type = (desc.hi >>> 8) & 0x1f;
  // Available 16- or 32-bit TSS.
  if (type !== 0x01 && type !== 0x09) c.raise(GP, sel & 0xfffc);
  if (!descPresent(desc.hi)) c.raise(NP, sel & 0xfffc);
  desc.hi |= 0x200; // busy
  c.supervisor(() => c.wr32((desc.addr + 4) | 0, desc.hi));
  c.trSel = sel;
  c.trBase = descBase(desc.lo, desc.hi);
  c.trLimit = descLimit(desc.lo, desc.hi);
  c.trAttr = descAttr(desc.hi);
}

/** LAR: access rights (masked as the instruction returns them), or null if not accessible. */
export function lar(_c: Cpu, _sel: number): number | null {
  return null;
}

/** LSL: the byte-granular segment limit, or null if not accessible. */
export function lsl(_c: Cpu, _sel: number): number | null {
  return null;
}

export function verr(_c: Cpu, _sel: number): boolean {
  return false;
}

export function verw(_c: Cpu, _sel: number): boolean {
  return false;
}

void TS;
