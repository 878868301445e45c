/**
 * CPU state as a named, versioned record, and its byte encoding.
 *
 * Everything a vCPU needs to continue elsewhere: registers, descriptor
 * caches, control/debug registers, MSRs, pending-event flags, the x87. Not
 * saved: the TLB and the decoded-block cache (derived, rebuilt on demand).
 * The TSC is saved as its value, so it continues from there after a restore.
 */
import type { Cpu } from './cpu.js';
import type { FpuState } from './fpu.js';

export interface SegmentState {
  sel: number;
  base: number;
  limit: number;
  attr: number;
}

export interface CpuState {
  version: 1;
  regs: number[];
  eip: number;
  eflags: number;
  segs: SegmentState[];
  gdtr: { base: number; limit: number };
  idtr: { base: number; limit: number };
  ldtr: SegmentState;
  tr: SegmentState;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  efer: number;
  dr: number[];
  cpl: number;
  msr: {
    sysenterCs: number;
    sysenterEsp: number;
    sysenterEip: number;
    apicBase: number;
    patLo: number;
    patHi: number;
    mtrrDefType: number;
    mtrrs: [number, number, number][];
    tsc: number;
  };
  halted: boolean;
  inhibitIrq: boolean;
  nmiPending: boolean;
  nmiBlocked: boolean;
  ferr: boolean;
  fpu: FpuState;
}

export function saveCpu(c: Cpu): CpuState {
  const seg = (k: number): SegmentState => ({ sel: c.segSel[k], base: c.segBase[k], limit: c.segLimit[k], attr: c.segAttr[k] });
  return {
    version: 1,
    regs: Array.from(c.regs),
    eip: c.eip,
    eflags: c.getEflags(),
    segs: [0, 1, 2, 3, 4, 5].map(seg),
    gdtr: { base: c.gdtBase, limit: c.gdtLimit },
    idtr: { base: c.idtBase, limit: c.idtLimit },
    ldtr: { sel: c.ldtSel, base: c.ldtBase, limit: c.ldtLimit, attr: c.ldtAttr },
    tr: { sel: c.trSel, base: c.trBase, limit: c.trLimit, attr: c.trAttr },
    cr0: c.cr0,
    cr2: c.cr2,
    cr3: c.cr3,
    cr4: c.cr4,
    efer: c.efer,
    dr: Array.from(c.dr),
    cpl: c.cpl,
    msr: {
      sysenterCs: c.sysenterCs,
      sysenterEsp: c.sysenterEsp,
      sysenterEip: c.sysenterEip,
      apicBase: c.apicBase,
      patLo: c.patLo,
      patHi: c.patHi,
      mtrrDefType: c.mtrrDefType,
      mtrrs: [...c.mtrrs].map(([k, [lo, hi]]) => [k, lo, hi]),
      tsc: c.readTsc(),
    },
    halted: c.halted,
    inhibitIrq: c.inhibitIrq,
    nmiPending: c.nmiPending,
    nmiBlocked: c.nmiBlocked,
    ferr: c.ferr,
    fpu: c.fpu.save(),
  };
}

function fail(what: string): never {
  throw new Error(`CPU state record: ${what}`);
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${what} is not an integer`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what} is not a boolean`);
  return v;
}

function ints(v: unknown, n: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== n) fail(`${what} is not an array of ${n}`);
  return v.map((x, k) => int(x, `${what}[${k}]`));
}

function segment(v: unknown, what: string): SegmentState {
  if (typeof v !== 'object' || v === null) fail(`${what} is missing`);
  const o = v as Record<string, unknown>;
  return { sel: int(o.sel, `${what}.sel`), base: int(o.base, `${what}.base`), limit: int(o.limit, `${what}.limit`), attr: int(o.attr, `${what}.attr`) };
}

/** Load a saved record into `c`, validating every field first (a bad record changes nothing). */
export function restoreCpu(c: Cpu, s: CpuState): void {
  if (typeof s !== 'object' || s === null) fail('not an object');
  if (s.version !== 1) fail(`unsupported version ${String(s.version)}`);
  const regs = ints(s.regs, 8, 'regs');
  const segs = (Array.isArray(s.segs) && s.segs.length === 6 ? s.segs : fail('segs is not an array of 6')).map((x, k) => segment(x, `segs[${k}]`));
  const ldtr = segment(s.ldtr, 'ldtr'), tr = segment(s.tr, 'tr');
  const dr = ints(s.dr, 8, 'dr');
  const cpl = int(s.cpl, 'cpl');
  if (cpl < 0 || cpl > 3) fail('cpl out of range');
  if (typeof s.msr !== 'object' || s.msr === null) fail('msr is missing');
  if (!Array.isArray(s.msr.mtrrs)) fail('msr.mtrrs is not an array');
  const mtrrs = s.msr.mtrrs.map((e, k) => ints(e, 3, `msr.mtrrs[${k}]`));
  const scalars = {
    eip: int(s.eip, 'eip'), eflags: int(s.eflags, 'eflags'),
    cr0: int(s.cr0, 'cr0'), cr2: int(s.cr2, 'cr2'), cr3: int(s.cr3, 'cr3'), cr4: int(s.cr4, 'cr4'), efer: int(s.efer, 'efer'),
    gdtBase: int(s.gdtr?.base, 'gdtr.base'), gdtLimit: int(s.gdtr?.limit, 'gdtr.limit'),
    idtBase: int(s.idtr?.base, 'idtr.base'), idtLimit: int(s.idtr?.limit, 'idtr.limit'),
    tsc: int(s.msr.tsc, 'msr.tsc'),
  };
  const flags = {
    halted: bool(s.halted, 'halted'), inhibitIrq: bool(s.inhibitIrq, 'inhibitIrq'),
    nmiPending: bool(s.nmiPending, 'nmiPending'), nmiBlocked: bool(s.nmiBlocked, 'nmiBlocked'), ferr: bool(s.ferr, 'ferr'),
  };
  const msrInts = ['sysenterCs', 'sysenterEsp', 'sysenterEip', 'apicBase', 'patLo', 'patHi', 'mtrrDefType'] as const;
  for (const k of msrInts) int(s.msr[k], `msr.${k}`);
  // The FPU validates its own record; do it before anything is changed.
  const fpuBefore = c.fpu.save();
  c.fpu.restore(s.fpu);

  try {
    c.regs.set(regs);
    c.eip = scalars.eip;
    segs.forEach((g, k) => c.setSegCache(k, g.sel, g.base, g.limit, g.attr));
    c.gdtBase = scalars.gdtBase; c.gdtLimit = scalars.gdtLimit;
    c.idtBase = scalars.idtBase; c.idtLimit = scalars.idtLimit;
    c.ldtSel = ldtr.sel; c.ldtBase = ldtr.base; c.ldtLimit = ldtr.limit; c.ldtAttr = ldtr.attr;
    c.trSel = tr.sel; c.trBase = tr.base; c.trLimit = tr.limit; c.trAttr = tr.attr;
    c.cr0 = scalars.cr0; c.cr2 = scalars.cr2; c.cr3 = scalars.cr3; c.cr4 = scalars.cr4; c.efer = scalars.efer;
    c.dr.set(dr);
    c.setEflags(scalars.eflags);
    c.setCpl(cpl);
    for (const k of msrInts) c[k] = s.msr[k];
    c.mtrrs.clear();
    for (const [k, lo, hi] of mtrrs) c.mtrrs.set(k, [lo, hi]);
    c.writeTsc(scalars.tsc);
    Object.assign(c, flags);
    c.flushTlb(true);
    c.invalidateAllCode();
  } catch (e) {
    c.fpu.restore(fpuBefore);
    throw e;
  }
}

/** Bytes of a record (UTF-8 JSON; typed arrays inside the FPU record become tagged hex strings). */
export function encodeCpuState(s: CpuState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s, (_k, v: unknown) => (v instanceof Uint8Array ? { $u8: toHex(v) } : v)));
}

export function decodeCpuState(bytes: Uint8Array): CpuState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes), (_k, v: unknown) => {
      if (typeof v === 'object' && v !== null && typeof (v as { $u8?: unknown }).$u8 === 'string') {
        return fromHex((v as { $u8: string }).$u8);
      }
      return v;
    });
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message})`);
  }
  return parsed as CpuState;
}

function toHex(b: Uint8Array): string {
  let out = '';
  for (const x of b) out += x.toString(16).padStart(2, '0');
  return out;
}

function fromHex(h: string): Uint8Array {
  if (h.length % 2 !== 0 || /[^0-9a-f]/i.test(h)) fail('malformed hex bytes');
  const out = new Uint8Array(h.length / 2);
  for (let k = 0; k < out.length; k++) out[k] = parseInt(h.slice(k * 2, k * 2 + 2), 16);
  return out;
}
