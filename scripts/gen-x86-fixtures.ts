/**
 * Generates the differential x86 fixtures in test/fixtures/x86/: random
 * instruction sequences per opcode group, run on the host's real processor by
 * scripts/native/x86-runner.c, recorded with the masks of what the
 * architecture defines afterwards (Intel SDM vol. 2, "Flags Affected").
 *
 *   npm run build && node dist/scripts/gen-x86-fixtures.js [--seed N] [--group NAME]… [--scale F] [--out DIR]
 *
 * The same seed gives the same cases (each group has its own PRNG stream, so
 * one group can be regenerated alone); the results are whatever the host CPU
 * does. Needs gcc with 32-bit support (gcc-multilib) and an x86 host.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  AREA_SIZE,
  DEFAULT_REGS,
  FPU_IMAGE_SIZE,
  applyRuns,
  encodeFixture,
  type FixtureCase,
  type Run,
} from '../test/x86/fixture-format.js';

const CODE_BASE = 0x00100000;
const DATA_BASE = 0x00200000;
const STACK_TOP = 0x00300000;
const STACK_BASE = STACK_TOP - AREA_SIZE;
const ESP_DEFAULT = DEFAULT_REGS[4];

const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

// EFLAGS
const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
const STATUS = CF | PF | AF | ZF | SF | OF;
/**
 * EFLAGS bits the replay compares: the status flags and DF, the fixed bits
 * 1 3 5 15, and system flags a user-mode sequence cannot change (TF IF IOPL NT
 * VM AC ID). RF is left out: the processor sets it in the EFLAGS image of
 * faults, which is what the signal frame shows; VIF/VIP are meaningless here.
 */
const COMPARED_EFLAGS = STATUS | DF | 0x2 | 0x8 | 0x20 | 0x8000 | TF | IF | 0x3000 | 0x4000 | 0x20000 | 0x40000 | 0x200000;

// x87 status word condition codes
const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;
const CC = C0 | C1 | C2 | C3;

// ---------------------------------------------------------------------------
// PRNG: xoshiro128** seeded through splitmix32, so any 32-bit seed is fine.

class Rng {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  u32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform in [0, n). */
  below(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** Uniform in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() < p * 0x100000000;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** Picks by weight from [weight, value] pairs. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let x = this.u32() / 0x100000000 * total;
    for (const [w, v] of items) {
      if (x < w) return v;
      x -= w;
    }
    return items[items.length - 1][1];
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// ---------------------------------------------------------------------------
// Values

type Size = 8 | 16 | 32;

function sizeMask(size: number): number {
  return size === 32 ? 0xffffffff : (1 << size) - 1;
}

function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16);
}

/** Operand values that hit the carry/overflow/sign boundaries, plus random ones. */
function value(rng: Rng, size: number): number {
  const m = sizeMask(size);
  const sign = 2 ** (size - 1);
  if (rng.chance(0.45)) {
    const v = rng.pick([
      0, 1, 2, 3, m, m - 1, sign, sign - 1, sign + 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
      0x7fffffff, 0x80000000, 0xffffffff, 0x100, 0x10000, 7, 8, 9, 15, 16, 31, 32, 33, 0x55555555, 0xaaaaaaaa,
    ]);
    return (v & m) >>> 0;
  }
  if (rng.chance(0.2)) return rng.below(64) & m;
  return (rng.u32() & m) >>> 0;
}

function le(v: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  return out;
}

function signExtend(v: number, size: number): number {
  const shift = 32 - size;
  return (v << shift) >> shift;
}

// ---------------------------------------------------------------------------
// Definedness of the architectural state after a sequence

/** What is architecturally defined so far. */
interface DefState {
  flagsUndef: number;
  fswUndef: number;
  regDef: number[];
  /** Set if undefined bits were stored to memory, which the format cannot mask. */
  memUndefined?: boolean;
}

interface Insn {
  bytes: number[];
  text: string;
  /** EFLAGS bits set to defined values / left undefined / consumed. */
  sets?: number;
  undef?: number;
  reads?: number;
  /** x87 condition codes set to defined values / left undefined. */
  fswSets?: number;
  fswUndef?: number;
  /** Register bits left undefined. */
  regUndef?: [number, number][];
  /** State changes the generic fields can't say (LAHF, SAHF, FNSTSW AX); run first. */
  effect?: (d: DefState) => void;
  /** Adjustments that depend on the outcome (FPREM's partial remainder). */
  post?: (out: NativeResult, d: DefState) => void;
  /** An x87 instruction (its condition codes are at stake when an exception is unmasked). */
  x87?: boolean;
  /** FCOMI family: writes EFLAGS from a comparison. */
  comi?: boolean;
}

function applyInsn(d: DefState, i: Insn): void {
  if (i.reads && i.reads & d.flagsUndef) throw new Error(`generator bug: "${i.text}" reads undefined flags`);
  i.effect?.(d);
  d.flagsUndef = (d.flagsUndef & ~(i.sets ?? 0)) | (i.undef ?? 0);
  d.fswUndef = (d.fswUndef & ~(i.fswSets ?? 0)) | (i.fswUndef ?? 0);
  for (const [r, m] of i.regUndef ?? []) d.regDef[r] = (d.regDef[r] & ~m) >>> 0;
}

// ---------------------------------------------------------------------------
// Registers and operands

const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const R8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const PTR: Record<number, string> = { 8: 'byte', 16: 'word', 32: 'dword', 64: 'qword', 80: 'tword' };

function regName(idx: number, size: number): string {
  return size === 8 ? R8[idx] : size === 16 ? R16[idx] : R32[idx];
}

/** The 32-bit register holding an operand register of `size`. */
function gprOf(idx: number, size: number): number {
  return size === 8 ? idx & 3 : idx;
}

interface Mem {
  addr: number;
  text: string;
  prefix: number[];
  /** ModRM (+SIB, displacement) for a given reg field. */
  enc(regField: number): number[];
}

type RM = { kind: 'reg'; idx: number } | { kind: 'mem'; mem: Mem };

function rmBytes(rm: RM, regField: number): number[] {
  return rm.kind === 'reg' ? [0xc0 | (regField << 3) | rm.idx] : rm.mem.enc(regField);
}

function rmText(rm: RM, size: number): string {
  return rm.kind === 'reg' ? regName(rm.idx, size) : `${PTR[size]} ${rm.mem.text}`;
}

function rmPrefix(rm: RM): number[] {
  return rm.kind === 'reg' ? [] : rm.mem.prefix;
}

function dispText(d: number): string {
  return d === 0 ? '' : d < 0 ? `-${hex(-d)}` : `+${hex(d)}`;
}

/** One case under construction: its input state and its instructions. */
class Builder {
  readonly regs = DEFAULT_REGS.slice();
  /** Registers with a value chosen by this case. */
  readonly assigned = new Set<number>();
  /** Registers the code must not write: ESP, and bases/indexes of memory operands. */
  readonly pinned = new Set<number>([ESP]);
  eflags: number;
  readonly data = new Uint8Array(AREA_SIZE);
  readonly stack = new Uint8Array(AREA_SIZE);
  fpu: Uint8Array | undefined;
  readonly insns: Insn[] = [];
  /** Exception vectors this case may legitimately raise. */
  readonly faults = new Set<number>();
  private readonly spans: [number, number][] = [];

  constructor(readonly rng: Rng) {
    this.eflags = 0x202 | (rng.u32() & (STATUS | DF));
  }

  emit(i: Insn): void {
    this.insns.push(i);
  }

  freeRegs(): number[] {
    const out: number[] = [];
    for (let r = 0; r < 8; r++) if (!this.pinned.has(r) && !this.assigned.has(r)) out.push(r);
    return out;
  }

  setReg(r: number, v: number): void {
    this.regs[r] = v >>> 0;
    this.assigned.add(r);
  }

  /** Sets the `size`-bit operand register `idx` (AH..BH for 8-bit idx 4..7), randomizing the rest. */
  setOperand(idx: number, size: number, v: number): void {
    const r = gprOf(idx, size);
    let full = this.assigned.has(r) ? this.regs[r] : this.rng.u32();
    if (size === 32) full = v;
    else if (size === 16) full = (full & 0xffff0000) | (v & 0xffff);
    else if (idx < 4) full = (full & 0xffffff00) | (v & 0xff);
    else full = (full & 0xffff00ff) | ((v & 0xff) << 8);
    this.setReg(r, full);
  }

  /**
   * A register operand. Registers already used by earlier instructions may be
   * chosen again (they then keep whatever value they have at run time); a
   * fresh one gets an interesting value.
   */
  operand(size: number, opts: { fresh?: boolean; exclude?: number[] } = {}): number {
    const ok = (idx: number): boolean => {
      const r = gprOf(idx, size);
      if (this.pinned.has(r) || opts.exclude?.includes(r)) return false;
      return !opts.fresh || !this.assigned.has(r);
    };
    const cands = [0, 1, 2, 3, 4, 5, 6, 7].filter(ok);
    if (cands.length === 0) throw new Error('generator bug: out of registers');
    const idx = this.rng.pick(cands);
    if (!this.assigned.has(gprOf(idx, size))) this.setOperand(idx, size, value(this.rng, size));
    return idx;
  }

  /** A register operand or a memory operand (with a value) in the data area. */
  rm(size: number, mem: boolean, opts: { exclude?: number[] } = {}): RM {
    if (mem) {
      const addr = this.alloc(size / 8);
      this.writeData(addr, le(value(this.rng, size), size / 8));
      return { kind: 'mem', mem: memOperand(this, addr) };
    }
    return { kind: 'reg', idx: this.operand(size, opts) };
  }

  /** A random, unused range of the data area. */
  alloc(bytes: number, align = 1): number {
    for (let tries = 0; ; tries++) {
      let off = this.rng.below(AREA_SIZE - bytes + 1);
      off -= off % align;
      const end = off + bytes;
      if (tries < 50 && this.spans.some(([a, b]) => off < b && a < end)) continue;
      this.spans.push([off, end]);
      return DATA_BASE + off;
    }
  }

  writeData(addr: number, bytes: ArrayLike<number>): void {
    const area = addr >= STACK_BASE ? this.stack : this.data;
    const off = addr - (addr >= STACK_BASE ? STACK_BASE : DATA_BASE);
    if (off < 0 || off + bytes.length > AREA_SIZE) throw new Error(`generator bug: write outside the areas at ${hex(addr)}`);
    area.set(bytes, off);
  }
}

/**
 * A memory operand whose effective address is `addr`, in one of the 32-bit
 * addressing forms (picked at random among those the free registers allow).
 * Base and index registers get values that sum to `addr` modulo 2^32 — with
 * random indexes, so address arithmetic wraps around.
 */
function memOperand(b: Builder, addr: number, opts: { noSegment?: boolean } = {}): Mem {
  const rng = b.rng;
  // Keep two byte-addressable registers (EAX..EBX) unpinned for later 8-bit operands
  const unpinnedBytes = [EAX, ECX, EDX, EBX].filter((r) => !b.pinned.has(r)).length;
  let spareBytes = unpinnedBytes - 2;
  const free = b.freeRegs().filter((r) => r > EBX || spareBytes-- > 0);
  const anyFree = free.length;
  const nonEbp = free.filter((r) => r !== EBP).length;
  type Form = 'disp32' | 'base' | 'base8' | 'base32' | 'sib' | 'sib8' | 'sib32' | 'index' | 'sibnoindex' | 'same';
  const forms: [number, Form][] = [[3, 'disp32']];
  if (anyFree >= 1) forms.push([3, 'base8'], [2, 'base32'], [2, 'index'], [1, 'sibnoindex']);
  if (nonEbp >= 1) forms.push([2, 'base'], [1, 'same']);
  if (anyFree >= 2) forms.push([3, 'sib8'], [2, 'sib32']);
  if (anyFree >= 2 && nonEbp >= 1) forms.push([3, 'sib']);
  const form = rng.weighted(forms);
  const prefix: number[] = [];
  let seg = '';
  if (!opts.noSegment && rng.chance(0.06)) {
    const [p, name] = rng.pick([[0x26, 'es'], [0x36, 'ss'], [0x3e, 'ds']] as const);
    prefix.push(p);
    seg = name + ':';
  }
  const take = (allowEbp = true): number => {
    const cands = free.filter((r) => (allowEbp || r !== EBP) && !b.pinned.has(r));
    const r = rng.pick(cands);
    b.pinned.add(r);
    b.assigned.add(r);
    return r;
  };
  const disp8 = (): number => rng.range(-128, 127);
  const scaleBits = rng.below(4);
  const scale = 1 << scaleBits;
  let modrm: (reg: number) => number[];
  let text: string;
  switch (form) {
    case 'disp32':
      modrm = (reg) => [(reg << 3) | 5, ...le(addr, 4)];
      text = `[${hex(addr)}]`;
      break;
    case 'base': {
      const base = take(false);
      b.regs[base] = addr >>> 0;
      modrm = (reg) => [(reg << 3) | base];
      text = `[${R32[base]}]`;
      break;
    }
    case 'base8':
    case 'base32': {
      const base = take();
      const d = form === 'base8' ? disp8() : rng.u32() | 0;
      b.regs[base] = (addr - d) >>> 0;
      modrm = (reg) => (form === 'base8' ? [0x40 | (reg << 3) | base, d & 0xff] : [0x80 | (reg << 3) | base, ...le(d >>> 0, 4)]);
      text = `[${R32[base]}${dispText(d)}]`;
      break;
    }
    case 'sib':
    case 'sib8':
    case 'sib32': {
      const base = take(form !== 'sib');
      const index = take();
      const iv = rng.chance(0.5) ? rng.u32() : rng.below(256);
      const d = form === 'sib' ? 0 : form === 'sib8' ? disp8() : rng.u32() | 0;
      b.regs[index] = iv;
      b.regs[base] = (addr - Math.imul(iv, scale) - d) >>> 0;
      const sib = (scaleBits << 6) | (index << 3) | base;
      const mod = form === 'sib' ? 0 : form === 'sib8' ? 0x40 : 0x80;
      const dbytes = form === 'sib' ? [] : form === 'sib8' ? [d & 0xff] : le(d >>> 0, 4);
      modrm = (reg) => [mod | (reg << 3) | 4, sib, ...dbytes];
      text = `[${R32[base]}+${R32[index]}*${scale}${dispText(d)}]`;
      break;
    }
    case 'index': {
      // [index*scale+disp32]: SIB with no base
      const index = take();
      const iv = rng.u32();
      b.regs[index] = iv;
      const d = (addr - Math.imul(iv, scale)) | 0;
      modrm = (reg) => [(reg << 3) | 4, (scaleBits << 6) | (index << 3) | 5, ...le(d >>> 0, 4)];
      text = `[${R32[index]}*${scale}${dispText(d)}]`;
      break;
    }
    case 'sibnoindex': {
      // SIB with index 100 (none): [base+disp8], redundant but valid
      const base = take();
      const d = disp8();
      b.regs[base] = (addr - d) >>> 0;
      modrm = (reg) => [0x40 | (reg << 3) | 4, (rng.below(4) << 6) | (4 << 3) | base, d & 0xff];
      text = `[${R32[base]}${dispText(d)}]`;
      break;
    }
    case 'same': {
      // [r+r*scale+disp32]: the register value must solve v*(1+scale) + d = addr
      const r = take(false);
      const v = rng.below(0x1000);
      const d = (addr - v * (1 + scale)) | 0;
      b.regs[r] = v;
      modrm = (reg) => [0x80 | (reg << 3) | 4, (scaleBits << 6) | (r << 3) | r, ...le(d >>> 0, 4)];
      text = `[${R32[r]}+${R32[r]}*${scale}${dispText(d)}]`;
      break;
    }
  }
  return { addr: addr >>> 0, text: seg + text, prefix, enc: modrm };
}

/** [esp+disp] for an address in the stack area; `esp` is ESP when the instruction computes it. */
function espOperand(addr: number, esp: number): Mem {
  const d = (addr - esp) | 0;
  const mod = d === 0 ? 0 : d >= -128 && d <= 127 ? 0x40 : 0x80;
  const dbytes = d === 0 ? [] : mod === 0x40 ? [d & 0xff] : le(d >>> 0, 4);
  return { addr, text: `[esp${dispText(d)}]`, prefix: [], enc: (reg) => [mod | (reg << 3) | 4, 0x24, ...dbytes] };
}

function opsize(size: number): number[] {
  return size === 16 ? [0x66] : [];
}

// Condition codes: the flags each tests (SETcc, CMOVcc, Jcc)
const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const CC_READS = [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF];

// ---------------------------------------------------------------------------
// Group: alu

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;

function aluFlags(op: number): Partial<Insn> {
  const name = ALU[op];
  if (name === 'or' || name === 'and' || name === 'xor') return { sets: STATUS & ~AF, undef: AF };
  return { sets: STATUS, reads: name === 'adc' || name === 'sbb' ? CF : 0 };
}

function pickSize(rng: Rng): Size {
  return rng.pick([8, 16, 32] as const);
}

function immText(v: number, size: number): string {
  return hex(v & sizeMask(size));
}

function genAluOne(b: Builder): void {
  const rng = b.rng;
  const size = pickSize(rng);
  const os = opsize(size);
  const w = size === 8 ? 0 : 1;
  const kind = rng.weighted([[70, 'binary'], [8, 'test'], [10, 'incdec'], [8, 'negnot'], [1.5, 'lockbad']] as const);
  if (kind === 'binary') {
    const op = rng.below(8);
    const fl = aluFlags(op);
    const form = rng.weighted([[25, 'rm,r'], [25, 'r,rm'], [10, 'acc,imm'], [25, 'rm,imm'], [15, 'rm,imm8s'], [2, '82']] as const);
    const toMem = rng.chance(0.45);
    const lock = toMem && ALU[op] !== 'cmp' && (form === 'rm,r' || form === 'rm,imm' || form === 'rm,imm8s') && rng.chance(0.1) ? [0xf0] : [];
    const lockText = lock.length ? 'lock ' : '';
    switch (form) {
      case 'rm,r':
      case 'r,rm': {
        const rm = b.rm(size, toMem);
        const reg = b.operand(size);
        const opc = op * 8 + w + (form === 'r,rm' ? 2 : 0);
        const text = form === 'rm,r' ? `${rmText(rm, size)}, ${regName(reg, size)}` : `${regName(reg, size)}, ${rmText(rm, size)}`;
        b.emit({ bytes: [...lock, ...os, ...rmPrefix(rm), opc, ...rmBytes(rm, reg)], text: `${lockText}${ALU[op]} ${text}`, ...fl });
        return;
      }
      case 'acc,imm': {
        if (!b.assigned.has(EAX) && !b.pinned.has(EAX)) b.setOperand(0, size, value(rng, size));
        if (b.pinned.has(EAX)) return genAluOne(b);
        const imm = value(rng, size);
        b.emit({ bytes: [...os, op * 8 + 4 + w, ...le(imm, size / 8)], text: `${ALU[op]} ${regName(0, size)}, ${immText(imm, size)}`, ...fl });
        return;
      }
      case 'rm,imm':
      case 'rm,imm8s':
      case '82': {
        const s8 = form === 'rm,imm8s' && size !== 8;
        const rm = b.rm(size, toMem);
        const imm = s8 ? value(rng, 8) : value(rng, size);
        const opc = size === 8 ? (form === '82' ? 0x82 : 0x80) : s8 ? 0x83 : 0x81;
        const immBytes = s8 ? [imm & 0xff] : le(imm, size / 8);
        const shown = s8 ? signExtend(imm, 8) : imm;
        b.emit({
          bytes: [...lock, ...os, ...rmPrefix(rm), opc, ...rmBytes(rm, op), ...immBytes],
          text: `${lockText}${ALU[op]} ${rmText(rm, size)}, ${immText(shown, size)}`,
          ...fl,
        });
        return;
      }
    }
  }
  if (kind === 'test') {
    const fl = { sets: STATUS & ~AF, undef: AF };
    const form = rng.pick(['rm,r', 'acc,imm', 'rm,imm'] as const);
    if (form === 'rm,r') {
      const rm = b.rm(size, rng.chance(0.4));
      const reg = b.operand(size);
      b.emit({ bytes: [...os, ...rmPrefix(rm), 0x84 + w, ...rmBytes(rm, reg)], text: `test ${rmText(rm, size)}, ${regName(reg, size)}`, ...fl });
    } else if (form === 'acc,imm' && !b.pinned.has(EAX)) {
      if (!b.assigned.has(EAX)) b.setOperand(0, size, value(rng, size));
      const imm = value(rng, size);
      b.emit({ bytes: [...os, 0xa8 + w, ...le(imm, size / 8)], text: `test ${regName(0, size)}, ${immText(imm, size)}`, ...fl });
    } else {
      const rm = b.rm(size, rng.chance(0.4));
      const imm = value(rng, size);
      b.emit({ bytes: [...os, ...rmPrefix(rm), 0xf6 + w, ...rmBytes(rm, 0), ...le(imm, size / 8)], text: `test ${rmText(rm, size)}, ${immText(imm, size)}`, ...fl });
    }
    return;
  }
  if (kind === 'incdec') {
    const dec = rng.chance(0.5);
    const fl = { sets: STATUS & ~CF };
    const name = dec ? 'dec' : 'inc';
    if (size !== 8 && rng.chance(0.4)) {
      const reg = b.operand(size);
      b.emit({ bytes: [...os, (dec ? 0x48 : 0x40) + reg], text: `${name} ${regName(reg, size)}`, ...fl });
    } else {
      const toMem = rng.chance(0.4);
      const rm = b.rm(size, toMem);
      const lock = toMem && rng.chance(0.1) ? [0xf0] : [];
      b.emit({ bytes: [...lock, ...os, ...rmPrefix(rm), 0xfe + w, ...rmBytes(rm, dec ? 1 : 0)], text: `${lock.length ? 'lock ' : ''}${name} ${rmText(rm, size)}`, ...fl });
    }
    return;
  }
  if (kind === 'negnot') {
    const neg = rng.chance(0.6);
    const toMem = rng.chance(0.4);
    const rm = b.rm(size, toMem);
    const lock = toMem && rng.chance(0.1) ? [0xf0] : [];
    b.emit({
      bytes: [...lock, ...os, ...rmPrefix(rm), 0xf6 + w, ...rmBytes(rm, neg ? 3 : 2)],
      text: `${lock.length ? 'lock ' : ''}${neg ? 'neg' : 'not'} ${rmText(rm, size)}`,
      ...(neg ? { sets: STATUS } : {}),
    });
    return;
  }
  // LOCK where it is not allowed: a register destination, or CMP → #UD
  const op = rng.below(8);
  const toMem = ALU[op] === 'cmp' && rng.chance(0.5);
  const rm = b.rm(size, toMem);
  const reg = b.operand(size);
  b.faults.add(6);
  b.emit({ bytes: [0xf0, ...os, ...rmPrefix(rm), op * 8 + w, ...rmBytes(rm, reg)], text: `lock ${ALU[op]} ${rmText(rm, size)}, ${regName(reg, size)}`, ...aluFlags(op) });
}

function setccInsn(b: Builder, cc: number, toMem: boolean): Insn {
  const rm = b.rm(8, toMem);
  return { bytes: [...rmPrefix(rm), 0x0f, 0x90 + cc, ...rmBytes(rm, 0)], text: `set${CC_NAMES[cc]} ${rmText(rm, 8)}`, reads: CC_READS[cc >> 1] };
}

function genAlu(b: Builder): void {
  const n = b.rng.chance(0.2) ? b.rng.range(2, 3) : 1;
  for (let i = 0; i < n; i++) genAluOne(b);
  // A consumer of the flags: SETcc never reads AF, which is all the ALU ops leave undefined
  if (n > 1 && b.rng.chance(0.4)) b.emit(setccInsn(b, b.rng.below(16), b.rng.chance(0.3)));
}

// ---------------------------------------------------------------------------
// Group: shift

const SHIFTS = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];

const sweeps = new Map<string, number>();

/** Successive values 0..n-1 per key: every count gets its turn, whatever the PRNG does. */
function sweep(key: string, n: number): number {
  const v = sweeps.get(key) ?? 0;
  sweeps.set(key, v + 1);
  return v % n;
}

/** Shift counts: all of 0..255 in turn for each instruction form, plus extra small ones. */
function shiftCount(rng: Rng, key: string): number {
  return rng.chance(0.6) ? sweep(key, 256) : rng.below(34);
}

/** SDM: count masked to 5 bits; 0 changes nothing; OF only for 1-bit counts; AF undefined for shifts. */
function shiftFlags(op: number, size: number, count: number): Partial<Insn> {
  const c = count & 31;
  if (c === 0) return {};
  const of = c === 1 ? { sets: OF, undef: 0 } : { sets: 0, undef: OF };
  if (op <= 1) return { sets: CF | of.sets, undef: of.undef };
  if (op <= 3) return { sets: CF | of.sets, undef: of.undef, reads: CF };
  const cfUndef = op !== 7 && c >= size;
  return {
    sets: SF | ZF | PF | of.sets | (cfUndef ? 0 : CF),
    undef: AF | of.undef | (cfUndef ? CF : 0),
  };
}

function genShift(b: Builder): void {
  const rng = b.rng;
  if (rng.chance(0.25)) return genDoubleShift(b);
  const size = pickSize(rng);
  const os = opsize(size);
  const w = size === 8 ? 0 : 1;
  const op = rng.pick([0, 1, 2, 3, 4, 5, 7]);
  const form = rng.weighted([[2, 'one'], [3, 'cl'], [4, 'imm']] as const);
  const toMem = rng.chance(0.3);
  let count: number;
  if (form === 'cl') {
    count = shiftCount(rng, `${op}/cl`);
    // Sometimes CL is part of the destination itself; otherwise ECX is set first and kept
    let rm: RM;
    if (!toMem && rng.chance(0.1)) {
      rm = { kind: 'reg', idx: ECX };
      b.setOperand(ECX, size, (value(rng, size) & ~0xff) | count);
    } else {
      b.setReg(ECX, (rng.u32() & ~0xff) | count);
      b.pinned.add(ECX);
      rm = b.rm(size, toMem);
    }
    b.emit({ bytes: [...os, ...rmPrefix(rm), 0xd2 + w, ...rmBytes(rm, op)], text: `${SHIFTS[op]} ${rmText(rm, size)}, cl`, ...shiftFlags(op, size, count) });
    return;
  }
  const rm = b.rm(size, toMem);
  if (form === 'one') {
    b.emit({ bytes: [...os, ...rmPrefix(rm), 0xd0 + w, ...rmBytes(rm, op)], text: `${SHIFTS[op]} ${rmText(rm, size)}, 1`, ...shiftFlags(op, size, 1) });
    return;
  }
  count = shiftCount(rng, `${op}/imm`);
  b.emit({ bytes: [...os, ...rmPrefix(rm), 0xc0 + w, ...rmBytes(rm, op), count], text: `${SHIFTS[op]} ${rmText(rm, size)}, ${hex(count)}`, ...shiftFlags(op, size, count) });
}

/** SHLD/SHRD. A 16-bit count above 16 leaves the destination and all flags undefined. */
function genDoubleShift(b: Builder): void {
  const rng = b.rng;
  const size = rng.pick([16, 32] as const);
  const right = rng.chance(0.5);
  const byCl = rng.chance(0.5);
  const toMem = rng.chance(0.3);
  const key = `${right ? 'shrd' : 'shld'}/${byCl ? 'cl' : 'imm'}`;
  let count = shiftCount(rng, key);
  while (toMem && size === 16 && (count & 31) > 16) count = shiftCount(rng, key);
  if (byCl) {
    b.setReg(ECX, (rng.u32() & ~0xff) | count);
    b.pinned.add(ECX);
  }
  const rm = b.rm(size, toMem);
  const reg = b.operand(size);
  const c = count & 31;
  let fl: Partial<Insn> = {};
  if (c !== 0 && size === 16 && c > 16) {
    fl = { undef: STATUS, regUndef: rm.kind === 'reg' ? [[rm.idx, 0xffff]] : [] };
  } else if (c !== 0) {
    fl = { sets: CF | SF | ZF | PF | (c === 1 ? OF : 0), undef: AF | (c === 1 ? 0 : OF) };
  }
  const opc = (right ? 0xac : 0xa4) + (byCl ? 1 : 0);
  b.emit({
    bytes: [...opsize(size), ...rmPrefix(rm), 0x0f, opc, ...rmBytes(rm, reg), ...(byCl ? [] : [count])],
    text: `${right ? 'shrd' : 'shld'} ${rmText(rm, size)}, ${regName(reg, size)}, ${byCl ? 'cl' : hex(count)}`,
    ...fl,
  });
}

// ---------------------------------------------------------------------------
// Group: muldiv

function genMulDiv(b: Builder): void {
  const rng = b.rng;
  const kind = rng.weighted([[3, 'mul1'], [2, 'imul2'], [2, 'imul3'], [5, 'div']] as const);
  if (kind === 'mul1') {
    const size = pickSize(rng);
    const signed = rng.chance(0.5);
    b.setOperand(0, size, value(rng, size));
    if (size !== 8) b.setReg(EDX, rng.u32());
    const rm = b.rm(size, rng.chance(0.35));
    b.emit({
      bytes: [...opsize(size), ...rmPrefix(rm), size === 8 ? 0xf6 : 0xf7, ...rmBytes(rm, signed ? 5 : 4)],
      text: `${signed ? 'imul' : 'mul'} ${rmText(rm, size)}`,
      sets: CF | OF,
      undef: SF | ZF | AF | PF,
    });
    return;
  }
  if (kind === 'imul2' || kind === 'imul3') {
    const size = rng.pick([16, 32] as const);
    const rm = b.rm(size, rng.chance(0.35));
    const reg = b.operand(size);
    const fl = { sets: CF | OF, undef: SF | ZF | AF | PF };
    if (kind === 'imul2') {
      b.emit({ bytes: [...opsize(size), ...rmPrefix(rm), 0x0f, 0xaf, ...rmBytes(rm, reg)], text: `imul ${regName(reg, size)}, ${rmText(rm, size)}`, ...fl });
    } else {
      const s8 = rng.chance(0.5);
      const imm = s8 ? value(rng, 8) : value(rng, size);
      b.emit({
        bytes: [...opsize(size), ...rmPrefix(rm), s8 ? 0x6b : 0x69, ...rmBytes(rm, reg), ...(s8 ? [imm] : le(imm, size / 8))],
        text: `imul ${regName(reg, size)}, ${rmText(rm, size)}, ${immText(s8 ? signExtend(imm, 8) : imm, size)}`,
        ...fl,
      });
    }
    return;
  }
  // DIV/IDIV: mostly valid quotients, plus divide by zero and quotient overflow (#DE)
  const size = pickSize(rng);
  const signed = rng.chance(0.5);
  const bits = BigInt(size);
  const mod = 1n << bits;
  const mask2 = (1n << (2n * bits)) - 1n;
  const what = rng.weighted([[70, 'valid'], [10, 'zero'], [12, 'overflow'], [8, 'random']] as const);
  let divisor = BigInt(value(rng, size));
  let dividend: bigint;
  const toSigned = (v: bigint, n: bigint): bigint => (v >= 1n << (n - 1n) ? v - (1n << n) : v);
  if (what === 'zero') divisor = 0n;
  else if (divisor === 0n) divisor = 1n;
  if (what === 'valid' && divisor !== 0n) {
    if (signed) {
      const d = toSigned(divisor, bits);
      const half = 1n << (bits - 1n);
      let q = toSigned(BigInt(value(rng, size)), bits);
      if (rng.chance(0.1)) q = rng.chance(0.5) ? -half : half - 1n;
      const absD = d < 0n ? -d : d;
      const rAbs = BigInt(rng.below(Number(absD)));
      // The remainder has the dividend's sign, so the quotient truncates to q
      const qd = q * d;
      const r = qd < 0n || (qd === 0n && rng.chance(0.5)) ? -rAbs : rAbs;
      dividend = (qd + r) & mask2;
    } else {
      const q = BigInt(value(rng, size));
      const r = BigInt(rng.below(Number(divisor)));
      dividend = (q * divisor + r) & mask2;
    }
  } else if (what === 'overflow' && divisor !== 0n) {
    if (signed && rng.chance(0.3)) {
      divisor = mod - 1n; // -1
      dividend = 1n << (2n * bits - 1n); // most negative
    } else {
      const hi = BigInt(rng.u32()) % mod;
      dividend = ((hi | (signed ? 0n : divisor)) << bits) | (BigInt(rng.u32()) % mod);
      dividend &= mask2;
    }
  } else {
    dividend = ((BigInt(rng.u32()) << 32n) | BigInt(rng.u32())) & mask2;
  }
  const lo = Number(dividend & (mod - 1n));
  const hi = Number(dividend >> bits);
  if (size === 8) {
    b.setOperand(0, 16, (hi << 8) | lo);
  } else {
    b.setOperand(0, size, lo);
    b.setOperand(EDX, size, hi);
  }
  // The divisor: another register, sometimes AH/DX/EDX/EAX itself, or memory
  let rm: RM;
  if (rng.chance(0.05)) {
    const idx = size === 8 ? rng.pick([0, 4]) : rng.pick([EAX, EDX]);
    rm = { kind: 'reg', idx };
  } else if (rng.chance(0.35)) {
    const addr = b.alloc(size / 8);
    b.writeData(addr, le(Number(divisor), size / 8));
    rm = { kind: 'mem', mem: memOperand(b, addr) };
  } else {
    const idx = b.operand(size, { fresh: true, exclude: [EAX, EDX] });
    b.setOperand(idx, size, Number(divisor));
    rm = { kind: 'reg', idx };
  }
  b.faults.add(0);
  b.emit({
    bytes: [...opsize(size), ...rmPrefix(rm), size === 8 ? 0xf6 : 0xf7, ...rmBytes(rm, signed ? 7 : 6)],
    text: `${signed ? 'idiv' : 'div'} ${rmText(rm, size)}`,
    undef: STATUS,
  });
}

// ---------------------------------------------------------------------------
// Group: bcd

function bcdByte(rng: Rng): number {
  if (rng.chance(0.4)) return rng.pick([0x00, 0x09, 0x0a, 0x0f, 0x10, 0x19, 0x1a, 0x90, 0x99, 0x9a, 0x9f, 0xa0, 0xf9, 0xfa, 0xff, 0x66, 0x6f]);
  if (rng.chance(0.5)) return rng.below(10) * 16 + rng.below(10);
  return rng.below(256);
}

const DAA_FLAGS = { reads: AF | CF, sets: CF | AF | SF | ZF | PF, undef: OF };
const AAA_FLAGS = { reads: AF, sets: AF | CF, undef: OF | SF | ZF | PF };
const AAM_FLAGS = { sets: SF | ZF | PF, undef: OF | AF | CF };

function genBcd(b: Builder): void {
  const rng = b.rng;
  b.setReg(EAX, (rng.u32() & 0xffff0000) | (bcdByte(rng) << 8) | bcdByte(rng));
  const kind = rng.weighted([[2, 'daa'], [2, 'das'], [2, 'aaa'], [2, 'aas'], [2, 'aam'], [2, 'aad'], [3, 'pair']] as const);
  const single: Record<string, Insn> = {
    daa: { bytes: [0x27], text: 'daa', ...DAA_FLAGS },
    das: { bytes: [0x2f], text: 'das', ...DAA_FLAGS },
    aaa: { bytes: [0x37], text: 'aaa', ...AAA_FLAGS },
    aas: { bytes: [0x3f], text: 'aas', ...AAA_FLAGS },
  };
  if (kind === 'aam' || kind === 'aad') {
    const base = rng.weighted([[6, 10], [1, 0], [1, 16], [3, rng.below(256)]] as const);
    if (kind === 'aam') b.faults.add(0);
    b.emit({ bytes: [kind === 'aam' ? 0xd4 : 0xd5, base], text: base === 10 ? kind : `${kind} ${hex(base)}`, ...AAM_FLAGS });
    return;
  }
  if (kind === 'pair') {
    // The way BCD code uses them: ADD/SUB (or ADC/SBB) on AL, then the adjustment
    const sub = rng.chance(0.5);
    const carry = rng.chance(0.3);
    const reg = b.operand(8, { exclude: [EAX] });
    if (reg === 0 || reg === 4) return genBcd(b);
    b.setOperand(reg, 8, bcdByte(rng));
    const op = sub ? (carry ? 3 : 5) : carry ? 2 : 0;
    b.emit({ bytes: [op * 8 + 0, 0xc0 | (reg << 3)], text: `${ALU[op]} al, ${R8[reg]}`, ...aluFlags(op) });
    if (rng.chance(0.25)) {
      b.emit({ bytes: [0xf6, 0xe0 | reg], text: `mul ${R8[reg]}`, sets: CF | OF, undef: SF | ZF | AF | PF });
      b.emit({ bytes: [0xd4, 0x0a], text: 'aam', ...AAM_FLAGS });
      return;
    }
    b.emit(single[rng.chance(0.5) ? (sub ? 'das' : 'daa') : sub ? 'aas' : 'aaa']);
    return;
  }
  b.emit(single[kind]);
}

// ---------------------------------------------------------------------------
// Group: bitops

const BT_OPS = ['bt', 'bts', 'btr', 'btc'];
const BT_FLAGS = { sets: CF, undef: OF | SF | AF | PF };

function genBitops(b: Builder): void {
  const rng = b.rng;
  const kind = rng.weighted([
    [14, 'bt'], [6, 'bsf'], [2, 'bswap'], [5, 'setcc'], [6, 'cmov'], [2, 'cbw'], [5, 'movx'], [4, 'xchg'],
    [4, 'xadd'], [5, 'cmpxchg'], [3, 'cmpxchg8b'], [10, 'lea'],
  ] as const);
  switch (kind) {
    case 'bt':
      return genBt(b);
    case 'bsf': {
      const size = rng.pick([16, 32] as const);
      const reverse = rng.chance(0.5);
      const src = rng.weighted([[2, 0], [2, 1 << rng.below(size)], [3, value(rng, size)], [2, rng.u32() & sizeMask(size)]] as const);
      let rm: RM;
      if (rng.chance(0.35)) {
        const addr = b.alloc(size / 8);
        b.writeData(addr, le(src, size / 8));
        rm = { kind: 'mem', mem: memOperand(b, addr) };
      } else {
        const idx = b.operand(size, { fresh: true });
        b.setOperand(idx, size, src);
        rm = { kind: 'reg', idx };
      }
      const dest = b.operand(size);
      const zero = (src & sizeMask(size)) === 0;
      b.emit({
        bytes: [...opsize(size), ...rmPrefix(rm), 0x0f, reverse ? 0xbd : 0xbc, ...rmBytes(rm, dest)],
        text: `${reverse ? 'bsr' : 'bsf'} ${regName(dest, size)}, ${rmText(rm, size)}`,
        sets: ZF,
        undef: CF | OF | SF | AF | PF,
        regUndef: zero ? [[dest, sizeMask(size)]] : [],
      });
      return;
    }
    case 'bswap': {
      const r = b.operand(32);
      b.emit({ bytes: [0x0f, 0xc8 + r], text: `bswap ${R32[r]}` });
      return;
    }
    case 'setcc':
      b.emit(setccInsn(b, rng.below(16), rng.chance(0.35)));
      return;
    case 'cmov': {
      const size = rng.pick([16, 32] as const);
      const cc = rng.below(16);
      const rm = b.rm(size, rng.chance(0.35));
      const reg = b.operand(size);
      b.emit({ bytes: [...opsize(size), ...rmPrefix(rm), 0x0f, 0x40 + cc, ...rmBytes(rm, reg)], text: `cmov${CC_NAMES[cc]} ${regName(reg, size)}, ${rmText(rm, size)}`, reads: CC_READS[cc >> 1] });
      return;
    }
    case 'cbw': {
      b.setReg(EAX, rng.chance(0.5) ? value(rng, 32) : rng.u32());
      b.setReg(EDX, rng.u32());
      const [bytes, text] = rng.pick([[[0x66, 0x98], 'cbw'], [[0x98], 'cwde'], [[0x66, 0x99], 'cwd'], [[0x99], 'cdq']] as const);
      b.emit({ bytes: [...bytes], text });
      return;
    }
    case 'movx': {
      const signed = rng.chance(0.5);
      const srcSize = rng.pick([8, 16] as const);
      const dstSize = srcSize === 8 ? rng.pick([16, 32] as const) : rng.chance(0.9) ? 32 : 16;
      const rm = b.rm(srcSize, rng.chance(0.35));
      const reg = b.operand(dstSize);
      const opc = (signed ? 0xbe : 0xb6) + (srcSize === 16 ? 1 : 0);
      b.emit({ bytes: [...opsize(dstSize), ...rmPrefix(rm), 0x0f, opc, ...rmBytes(rm, reg)], text: `${signed ? 'movsx' : 'movzx'} ${regName(reg, dstSize)}, ${rmText(rm, srcSize)}` });
      return;
    }
    case 'xchg': {
      const size = pickSize(rng);
      if (size !== 8 && rng.chance(0.3)) {
        if (b.pinned.has(EAX)) return genBitops(b);
        b.setOperand(0, size, value(rng, size));
        const r = b.operand(size, { exclude: [EAX] });
        b.emit({ bytes: [...opsize(size), 0x90 + r], text: `xchg ${regName(0, size)}, ${regName(r, size)}` });
        return;
      }
      const rm = b.rm(size, rng.chance(0.4));
      const reg = b.operand(size);
      b.emit({ bytes: [...opsize(size), ...rmPrefix(rm), size === 8 ? 0x86 : 0x87, ...rmBytes(rm, reg)], text: `xchg ${rmText(rm, size)}, ${regName(reg, size)}` });
      return;
    }
    case 'xadd': {
      const size = pickSize(rng);
      const toMem = rng.chance(0.4);
      const rm = b.rm(size, toMem);
      const reg = b.operand(size);
      const lock = toMem && rng.chance(0.3) ? [0xf0] : [];
      b.emit({
        bytes: [...lock, ...opsize(size), ...rmPrefix(rm), 0x0f, size === 8 ? 0xc0 : 0xc1, ...rmBytes(rm, reg)],
        text: `${lock.length ? 'lock ' : ''}xadd ${rmText(rm, size)}, ${regName(reg, size)}`,
        sets: STATUS,
      });
      return;
    }
    case 'cmpxchg': {
      const size = pickSize(rng);
      const toMem = rng.chance(0.5);
      const dv = value(rng, size);
      // The accumulator equals the destination half of the time
      b.setOperand(0, size, rng.chance(0.5) ? dv : value(rng, size));
      let rm: RM;
      if (toMem) {
        const addr = b.alloc(size / 8);
        b.writeData(addr, le(dv, size / 8));
        rm = { kind: 'mem', mem: memOperand(b, addr) };
      } else {
        const idx = b.operand(size, { fresh: rng.chance(0.9) });
        if (gprOf(idx, size) !== EAX) b.setOperand(idx, size, dv);
        rm = { kind: 'reg', idx };
      }
      const reg = b.operand(size);
      const lock = toMem && rng.chance(0.3) ? [0xf0] : [];
      b.emit({
        bytes: [...lock, ...opsize(size), ...rmPrefix(rm), 0x0f, size === 8 ? 0xb0 : 0xb1, ...rmBytes(rm, reg)],
        text: `${lock.length ? 'lock ' : ''}cmpxchg ${rmText(rm, size)}, ${regName(reg, size)}`,
        sets: STATUS,
      });
      return;
    }
    case 'cmpxchg8b': {
      const lo = value(rng, 32), hi = value(rng, 32);
      const equal = rng.chance(0.5);
      b.setReg(EAX, equal ? lo : rng.chance(0.5) ? lo : value(rng, 32));
      b.setReg(EDX, equal ? hi : value(rng, 32));
      b.setReg(EBX, value(rng, 32));
      b.setReg(ECX, value(rng, 32));
      const addr = b.alloc(8, rng.chance(0.7) ? 8 : 1);
      b.writeData(addr, [...le(lo, 4), ...le(hi, 4)]);
      const mem = memOperand(b, addr);
      const lock = rng.chance(0.3) ? [0xf0] : [];
      b.emit({ bytes: [...lock, ...mem.prefix, 0x0f, 0xc7, ...mem.enc(1)], text: `${lock.length ? 'lock ' : ''}cmpxchg8b qword ${mem.text}`, sets: ZF });
      return;
    }
    case 'lea':
      return genLea(b);
  }
}

/** BT/BTS/BTR/BTC: register and memory bases, register and immediate offsets. */
function genBt(b: Builder): void {
  const rng = b.rng;
  const size = rng.pick([16, 32] as const);
  const op = rng.below(4);
  const byImm = rng.chance(0.35);
  const toMem = rng.chance(0.55);
  const lock = toMem && op !== 0 && rng.chance(0.2) ? [0xf0] : [];
  const lockText = lock.length ? 'lock ' : '';
  if (byImm) {
    const imm = rng.chance(0.5) ? rng.below(256) : rng.below(size);
    const rm = b.rm(size, toMem);
    b.emit({
      bytes: [...lock, ...opsize(size), ...rmPrefix(rm), 0x0f, 0xba, ...rmBytes(rm, 4 + op), imm],
      text: `${lockText}${BT_OPS[op]} ${rmText(rm, size)}, ${hex(imm)}`,
      ...BT_FLAGS,
    });
    return;
  }
  if (!toMem) {
    const rm = b.rm(size, false);
    const reg = b.operand(size, { exclude: [gprOf(rm.kind === 'reg' ? rm.idx : 0, size)] });
    b.emit({ bytes: [...opsize(size), 0x0f, 0xa3 + op * 8, ...rmBytes(rm, reg)], text: `${BT_OPS[op]} ${rmText(rm, size)}, ${regName(reg, size)}`, ...BT_FLAGS });
    return;
  }
  // Memory base with a register offset: the offset is signed and reaches
  // outside the operand, EA + (offset SAR log2(size)) * size/8.
  const offset = rng.weighted([[3, rng.below(size)], [3, rng.range(-4000, 4000)], [2, rng.u32() | 0]] as const);
  const shift = size === 32 ? 5 : 4;
  const off = size === 16 ? signExtend(offset, 16) : offset | 0;
  const target = b.alloc(4);
  b.writeData(target, le(rng.u32(), 4));
  const ea = (target - (off >> shift) * (size / 8)) >>> 0;
  const reg = b.operand(size, { fresh: true });
  b.setOperand(reg, size, offset & sizeMask(size));
  b.pinned.add(gprOf(reg, size));
  const mem = memOperand(b, ea);
  b.emit({
    bytes: [...lock, ...opsize(size), ...mem.prefix, 0x0f, 0xa3 + op * 8, ...mem.enc(reg)],
    text: `${lockText}${BT_OPS[op]} ${PTR[size]} ${mem.text}, ${regName(reg, size)}`,
    ...BT_FLAGS,
  });
}

const ADDR16 = ['bx+si', 'bx+di', 'bp+si', 'bp+di', 'si', 'di', 'bp', 'bx'];

/** LEA in every addressing form, including 16-bit ones (0x67); it computes, never accesses. */
function genLea(b: Builder): void {
  const rng = b.rng;
  const size = rng.chance(0.8) ? 32 : 16;
  if (rng.chance(0.02)) {
    // LEA with a register operand is #UD
    const reg = b.operand(size);
    b.faults.add(6);
    b.emit({ bytes: [...opsize(size), 0x8d, 0xc0 | (reg << 3) | rng.below(8)], text: `lea ${regName(reg, size)}, <register>` });
    return;
  }
  if (rng.chance(0.35)) {
    for (const r of [EBX, EBP, ESI, EDI]) b.setReg(r, rng.chance(0.5) ? rng.u32() : value(rng, 16));
    const rm = rng.below(8);
    const mod = rng.below(3);
    const d = mod === 1 ? rng.range(-128, 127) : rng.below(0x10000);
    const direct = mod === 0 && rm === 6;
    const dbytes = mod === 1 ? [d & 0xff] : mod === 2 || direct ? le(d, 2) : [];
    const reg = b.operand(size, { exclude: [EBX, EBP, ESI, EDI] });
    const addrText = direct ? hex(d) : ADDR16[rm] + (mod === 0 ? '' : dispText(mod === 1 ? d : signExtend(d, 16)));
    b.emit({ bytes: [...opsize(size), 0x67, 0x8d, (mod << 6) | (reg << 3) | rm, ...dbytes], text: `lea ${regName(reg, size)}, [${addrText}] (addr16)` });
    return;
  }
  const mem = memOperand(b, rng.u32(), { noSegment: rng.chance(0.9) });
  const reg = b.operand(size);
  b.emit({ bytes: [...opsize(size), ...mem.prefix, 0x8d, ...mem.enc(reg)], text: `lea ${regName(reg, size)}, ${mem.text}` });
}

// ---------------------------------------------------------------------------
// Group: string

const STRING_OPS = { movs: 0xa4, cmps: 0xa6, stos: 0xaa, lods: 0xac, scas: 0xae } as const;

function genString(b: Builder): void {
  const rng = b.rng;
  const op = rng.pick(['movs', 'cmps', 'scas', 'lods', 'stos'] as const);
  const size = rng.pick([8, 16, 32] as const);
  const n = size / 8;
  const compares = op === 'cmps' || op === 'scas';
  const rep = compares
    ? rng.weighted([[3, ''], [4, 'repe'], [4, 'repne']] as const)
    : rng.weighted([[3, ''], [7, 'rep']] as const);
  const down = rng.chance(0.5);
  b.eflags = down ? b.eflags | DF : b.eflags & ~DF;
  const count = rep ? (rng.chance(0.08) ? 0 : rng.range(1, 40)) : 1;
  if (rep) b.setReg(ECX, count);
  const span = Math.max(count, 1) * n;
  // ESI/EDI point at the first element; with DF=1 that is the highest one
  const place = (start: number): number => (down ? start + span - n : start);
  const usesSrc = op === 'movs' || op === 'cmps' || op === 'lods';
  const usesDst = op !== 'lods';
  let src = 0, dst = 0;
  if (usesSrc) {
    src = b.alloc(span);
    b.setReg(ESI, place(src));
    const bytes = new Uint8Array(span).map(() => (rng.chance(0.15) ? 0 : rng.below(256)));
    b.writeData(src, bytes);
  } else {
    b.setReg(ESI, rng.u32());
  }
  if (usesDst) {
    if (op === 'movs' && rng.chance(0.2)) {
      // Overlapping copy: element by element, so the result shows the direction
      dst = Math.min(Math.max(src + rng.range(-8, 8), DATA_BASE), DATA_BASE + AREA_SIZE - span);
    } else {
      dst = b.alloc(span);
    }
    b.setReg(EDI, place(dst));
  } else {
    b.setReg(EDI, rng.u32());
  }
  const acc = value(rng, size);
  b.setOperand(0, size, acc);
  if (op === 'cmps') {
    // Mostly equal strings with a few differences, so REPE/REPNE stop somewhere inside
    const bytes = b.data.slice(src - DATA_BASE, src - DATA_BASE + span);
    const diffs = rep === 'repne' ? span : rng.below(4);
    for (let i = 0; i < diffs; i++) if (rng.chance(rep === 'repne' ? 0.85 : 1)) bytes[rng.below(span)] = rng.below(256);
    b.writeData(dst, bytes);
  } else if (op === 'scas') {
    const bytes = new Uint8Array(span);
    const fill = rep === 'repe' ? acc : rng.u32();
    for (let i = 0; i < span; i += n) bytes.set(le(rng.chance(0.85) ? fill : rng.u32(), n), i);
    for (let k = rng.below(3); k > 0; k--) bytes.set(le(rep === 'repe' ? rng.u32() : acc, n), rng.below(span / n) * n);
    b.writeData(dst, bytes);
  } else if (op === 'stos' && rng.chance(0.5)) {
    b.writeData(dst, new Uint8Array(span).map(() => rng.below(256)));
  }
  const seg: number[] = usesSrc && rng.chance(0.12) ? [rng.pick([0x26, 0x36, 0x3e])] : [];
  const segText = seg.length ? `${{ 0x26: 'es', 0x36: 'ss', 0x3e: 'ds' }[seg[0]]} ` : '';
  const repByte = rep === 'repne' ? [0xf2] : rep ? [0xf3] : [];
  const suffix = size === 8 ? 'b' : size === 16 ? 'w' : 'd';
  const executes = rep ? count > 0 : true;
  b.emit({
    bytes: [...repByte, ...seg, ...opsize(size), STRING_OPS[op] + (size === 8 ? 0 : 1)],
    text: `${rep ? rep + ' ' : ''}${segText}${op}${suffix}`,
    ...(compares && executes ? { sets: STATUS } : {}),
  });
}

// ---------------------------------------------------------------------------
// Group: flags

const LAHF: Insn = {
  bytes: [0x9f],
  text: 'lahf',
  effect: (d) => {
    // AH = SF:ZF:0:AF:0:PF:1:CF; bits of undefined flags are undefined in AH
    const def = (~d.flagsUndef & (SF | ZF | AF | PF | CF)) | 0x2a;
    d.regDef[EAX] = ((d.regDef[EAX] & ~0xff00) | (def << 8)) >>> 0;
  },
};

const SAHF: Insn = {
  bytes: [0x9e],
  text: 'sahf',
  effect: (d) => {
    // SF ZF AF PF CF = AH bits 7 6 4 2 0: as defined as those bits of AH are
    const ah = (d.regDef[EAX] >>> 8) & 0xff;
    for (const f of [SF, ZF, AF, PF, CF]) d.flagsUndef = ah & f ? d.flagsUndef & ~f : d.flagsUndef | f;
  },
};

function genFlags(b: Builder): void {
  const rng = b.rng;
  b.setReg(EAX, rng.u32());
  let esp = ESP_DEFAULT - 4 * rng.below(16);
  b.setReg(ESP, esp);
  // One operand size per case: then every POPF takes back exactly what one
  // PUSHF pushed or one value this case put there, never a mix of halves
  // (a pushed PF landing in AC, say).
  const o16 = rng.chance(0.2);
  const w = o16 ? 2 : 4;
  const o16p = o16 ? [0x66] : [];
  /** Stack slots already holding an input value or a pushed EFLAGS image. */
  const used = new Set<number>();
  const n = rng.range(1, 5);
  for (let i = 0; i < n; i++) {
    const kind = rng.weighted([[3, 'clc'], [3, 'stc'], [3, 'cmc'], [2, 'cld'], [2, 'std'], [3, 'lahf'], [4, 'sahf'], [3, 'pushf'], [4, 'popf'], [1.5, 'into']] as const);
    switch (kind) {
      case 'clc':
        b.emit({ bytes: [0xf8], text: 'clc', sets: CF });
        break;
      case 'stc':
        b.emit({ bytes: [0xf9], text: 'stc', sets: CF });
        break;
      case 'cmc':
        b.emit({ bytes: [0xf5], text: 'cmc', reads: CF, sets: CF });
        break;
      case 'cld':
        b.emit({ bytes: [0xfc], text: 'cld' });
        break;
      case 'std':
        b.emit({ bytes: [0xfd], text: 'std' });
        break;
      case 'lahf':
        b.emit(LAHF);
        break;
      case 'sahf':
        b.emit(SAHF);
        break;
      case 'pushf':
        esp -= w;
        used.add(esp);
        b.emit({ bytes: [...o16p, 0x9c], text: o16 ? 'pushfw' : 'pushfd', reads: STATUS });
        break;
      case 'popf': {
        // Random bits everywhere except TF, NT, AC and ID, which would change
        // how the rest runs (or which CPU model it looks like); IF and IOPL
        // are ignored at CPL 3 with IOPL 0, RF is cleared, VM VIF VIP kept.
        if (!used.has(esp)) {
          b.writeData(esp, le(rng.u32() & ~(TF | 0x4000 | 0x40000 | 0x200000), w));
          used.add(esp);
        }
        esp += w;
        b.emit({ bytes: [...o16p, 0x9d], text: o16 ? 'popfw' : 'popfd', sets: STATUS });
        break;
      }
      case 'into':
        b.faults.add(4);
        b.emit({ bytes: [0xce], text: 'into', reads: OF });
        break;
    }
  }
}

// ---------------------------------------------------------------------------
// Group: stack

function genStack(b: Builder): void {
  const rng = b.rng;
  const esp0 = ESP_DEFAULT + 4 * rng.range(-32, 32) + (rng.chance(0.05) ? rng.range(1, 3) : 0);
  b.setReg(ESP, esp0);
  const kind = rng.weighted([[6, 'pushpop'], [2, 'enter'], [1, 'leave'], [2, 'call']] as const);
  if (kind === 'pushpop') return genPushPop(b, esp0);
  if (kind === 'enter') return genEnter(b, esp0);
  if (kind === 'leave') {
    const o16 = rng.chance(0.2);
    const ebp = esp0 + rng.range(0, 64);
    b.setReg(EBP, ebp);
    b.writeData(ebp, le(rng.u32(), o16 ? 2 : 4));
    b.emit({ bytes: [...(o16 ? [0x66] : []), 0xc9], text: o16 ? 'leavew' : 'leave' });
    return;
  }
  genCall(b);
}

function fillStack(b: Builder, from: number, bytes: number): void {
  const lo = Math.max(from, STACK_BASE);
  const hi = Math.min(from + bytes, STACK_TOP);
  if (hi > lo) b.writeData(lo, new Uint8Array(hi - lo).map(() => b.rng.below(256)));
}

function genPushPop(b: Builder, esp0: number): void {
  const rng = b.rng;
  let esp = esp0;
  const n = rng.range(1, 4);
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const o16 = rng.chance(0.2);
    const size = o16 ? 16 : 32;
    const w = size / 8;
    const os = opsize(size);
    const kind = rng.weighted([
      [4, 'push r'], [4, 'pop r'], [2, 'push imm'], [2, 'push m'], [2, 'pop m'], [1, 'pusha'], [1, 'popa'], [1, 'push esp'], [last ? 1 : 0, 'pop esp'],
    ] as const);
    switch (kind) {
      case 'push r': {
        const r = b.operand(32, { exclude: [ESP] });
        esp -= w;
        b.emit({ bytes: [...os, 0x50 + r], text: `push ${regName(r, size)}` });
        break;
      }
      case 'pop r': {
        const r = rng.pick([EAX, ECX, EDX, EBX, EBP, ESI, EDI]);
        fillStack(b, esp, w);
        esp += w;
        b.assigned.add(r);
        b.emit({ bytes: [...os, 0x58 + r], text: `pop ${regName(r, size)}` });
        break;
      }
      case 'push imm': {
        const s8 = rng.chance(0.5);
        const v = s8 ? value(rng, 8) : value(rng, size);
        esp -= w;
        b.emit({ bytes: [...os, s8 ? 0x6a : 0x68, ...(s8 ? [v] : le(v, w))], text: `push${o16 ? 'w' : 'd'} ${immText(s8 ? signExtend(v, 8) : v, size)}` });
        break;
      }
      case 'push m': {
        // [disp32] in the data area, or [esp+d] computed before ESP moves
        let mem: Mem;
        if (rng.chance(0.4)) {
          const addr = esp + rng.range(-8, 24);
          fillStack(b, addr, w);
          mem = espOperand(addr, esp);
        } else {
          const addr = b.alloc(w);
          b.writeData(addr, le(rng.u32(), w));
          mem = { addr, text: `[${hex(addr)}]`, prefix: [], enc: (reg) => [(reg << 3) | 5, ...le(addr, 4)] };
        }
        esp -= w;
        b.emit({ bytes: [...os, 0xff, ...mem.enc(6)], text: `push ${PTR[size]} ${mem.text}` });
        break;
      }
      case 'pop m': {
        // POP [ESP+d] computes the address after incrementing ESP
        fillStack(b, esp, w);
        let mem: Mem;
        if (rng.chance(0.5)) {
          const addr = esp + w + rng.range(-8, 24);
          mem = espOperand(addr, esp + w);
        } else {
          const addr = b.alloc(w);
          mem = { addr, text: `[${hex(addr)}]`, prefix: [], enc: (reg) => [(reg << 3) | 5, ...le(addr, 4)] };
        }
        esp += w;
        b.emit({ bytes: [...os, 0x8f, ...mem.enc(0)], text: `pop ${PTR[size]} ${mem.text}` });
        break;
      }
      case 'pusha':
        for (let r = 0; r < 8; r++) if (r !== ESP && !b.assigned.has(r)) b.setReg(r, value(rng, 32));
        esp -= 8 * w;
        b.emit({ bytes: [...os, 0x60], text: o16 ? 'pushaw' : 'pushad' });
        break;
      case 'popa':
        fillStack(b, esp, 8 * w);
        esp += 8 * w;
        for (let r = 0; r < 8; r++) if (r !== ESP) b.assigned.add(r);
        b.emit({ bytes: [...os, 0x61], text: o16 ? 'popaw' : 'popad' });
        break;
      case 'push esp':
        esp -= w;
        b.emit({ bytes: [...os, 0x54], text: `push ${regName(ESP, size)}` });
        break;
      case 'pop esp':
        fillStack(b, esp, w);
        b.emit({ bytes: [...os, 0x5c], text: `pop ${regName(ESP, size)}` });
        return;
    }
  }
}

/** ENTER with nesting levels 0..3 (and levels ≥ 32, which the CPU takes mod 32), then maybe LEAVE. */
function genEnter(b: Builder, esp0: number): void {
  const rng = b.rng;
  const o16 = rng.chance(0.2);
  const w = o16 ? 2 : 4;
  const level = rng.weighted([[3, 0], [3, 1], [3, 2], [3, 3], [1, rng.range(4, 8)], [1, rng.pick([32, 33, 34])]] as const);
  // The host probes the final ESP (a #PF below the stack area), so stay inside it
  const alloc = rng.weighted([[3, 0], [5, rng.below(64)], [1, rng.below(0x600)]] as const);
  const ebp = esp0 + rng.range(0, 0x100);
  b.setReg(EBP, ebp);
  // ENTER copies level-1 frame pointers from [EBP-w], [EBP-2w], …
  const l = level & 31;
  if (l > 1) fillStack(b, ebp - (l - 1) * w, (l - 1) * w);
  b.emit({ bytes: [...(o16 ? [0x66] : []), 0xc8, ...le(alloc, 2), level], text: `enter${o16 ? 'w' : ''} ${hex(alloc)}, ${hex(level)}` });
  if (rng.chance(0.5)) {
    if (alloc < 0x400 && rng.chance(0.5)) {
      const v = value(rng, 32);
      b.emit({ bytes: [0x68, ...le(v, 4)], text: `push ${hex(v)}` });
    }
    const l16 = rng.chance(0.2);
    b.emit({ bytes: [...(l16 ? [0x66] : []), 0xc9], text: l16 ? 'leavew' : 'leave' });
  }
}

/** CALL rel32 / CALL reg / CALL [mem] to a subroutine after a short JMP, which returns with RET or RET imm16. */
function genCall(b: Builder): void {
  const rng = b.rng;
  const form = rng.pick(['rel', 'reg', 'mem'] as const);
  const body: Insn[] = [];
  const bodyKind = rng.pick(['none', 'peek', 'pushpop'] as const);
  if (bodyKind === 'peek') body.push({ bytes: [0x8b, 0x04, 0x24], text: 'mov eax, [esp]' });
  if (bodyKind === 'pushpop') {
    const v = value(rng, 8);
    body.push({ bytes: [0x6a, v], text: `push ${hex(signExtend(v, 8))}` }, { bytes: [0x59], text: 'pop ecx' });
  }
  const imm = rng.chance(0.5) ? rng.below(40) : -1;
  body.push(imm < 0 ? { bytes: [0xc3], text: 'ret' } : { bytes: [0xc2, ...le(imm, 2)], text: `ret ${hex(imm)}` });
  const bodyLen = body.reduce((s, i) => s + i.bytes.length, 0);
  let call: Insn;
  const callLen = form === 'rel' ? 5 : form === 'reg' ? 2 : 6;
  const sub = CODE_BASE + callLen + 2;
  if (form === 'rel') {
    call = { bytes: [0xe8, ...le(2, 4)], text: `call ${hex(sub)}` };
  } else if (form === 'reg') {
    const r = rng.pick([EAX, ECX, EDX, EBX, EBP, ESI, EDI]);
    b.setReg(r, sub);
    call = { bytes: [0xff, 0xd0 | r], text: `call ${R32[r]}` };
  } else {
    const addr = b.alloc(4);
    b.writeData(addr, le(sub, 4));
    call = { bytes: [0xff, 0x15, ...le(addr, 4)], text: `call dword [${hex(addr)}]` };
  }
  b.emit(call);
  b.emit({ bytes: [0xeb, bodyLen], text: `jmp ${hex(sub + bodyLen)}` });
  for (const i of body) b.emit(i);
}

// ---------------------------------------------------------------------------
// x87 values

/** An 80-bit extended real: sign, 15-bit biased exponent, 64-bit significand (explicit J bit). */
function ext(sign: number, exp: number, mant: bigint): Uint8Array {
  const out = new Uint8Array(10);
  for (let i = 0; i < 8; i++) out[i] = Number((mant >> BigInt(8 * i)) & 0xffn);
  const se = ((sign & 1) << 15) | (exp & 0x7fff);
  out[8] = se & 0xff;
  out[9] = se >> 8;
  return out;
}

const J = 1n << 63n;

function extFromInt(v: bigint, scale = 0): Uint8Array {
  if (v === 0n) return ext(0, 0, 0n);
  const sign = v < 0n ? 1 : 0;
  const a = v < 0n ? -v : v;
  const len = a.toString(2).length;
  return ext(sign, 0x3fff + len - 1 + scale, a << BigInt(64 - len));
}

function randMant(rng: Rng, bits = 63): bigint {
  return rng.u64() & ((1n << BigInt(bits)) - 1n);
}

const INT_EDGES = [0n, 1n, 2n, 3n, 10n, 127n, 128n, 255n, 32767n, 32768n, 65535n, 65536n, 2147483647n, 2147483648n, 4294967295n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, 1n << 64n];

/** Extended reals from every class: the edges (zeros, denormals, infinities, NaNs, limits) and ordinary values. */
function randExt(rng: Rng): Uint8Array {
  const s = rng.below(2);
  const cls = rng.weighted([
    [26, 'near1'], [12, 'int'], [7, 'half'], [7, 'wide'], [5, 'extreme'], [7, 'limits'], [6, 'zero'], [5, 'denormal'], [4, 'inf'],
    [4, 'qnan'], [4, 'snan'], [3, 'simple'], [3, 'short'],
  ] as const);
  switch (cls) {
    case 'near1':
      return ext(s, 0x3fff + rng.range(-70, 70), J | randMant(rng));
    case 'int': {
      const v = rng.chance(0.6) ? rng.pick(INT_EDGES) + BigInt(rng.range(-2, 2)) : BigInt(rng.u32());
      return extFromInt(s ? -v : v);
    }
    case 'half': {
      // k + 0.5, k + 0.25, k + 0.75: they round differently under each RC
      const k = BigInt(rng.below(rng.chance(0.5) ? 8 : 1 << 20));
      const q = BigInt(rng.pick([1, 2, 3]));
      const v = k * 4n + q;
      return extFromInt(s ? -v : v, -2);
    }
    case 'wide':
      return ext(s, rng.range(1, 0x7ffe), J | randMant(rng));
    case 'extreme':
      return ext(s, rng.chance(0.5) ? 0x7ffe - rng.below(4) : 1 + rng.below(4), J | randMant(rng));
    case 'limits': {
      // Around the single/double overflow, underflow and denormal thresholds
      const e = rng.pick([127, 128, 126, -126, -127, -149, -150, 1023, 1024, 1022, -1022, -1023, -1074, -1075, 63, 64, 31, 32, 15, 16]);
      const m = rng.chance(0.5) ? J | randMant(rng) : rng.pick([J, ~0n & ((1n << 64n) - 1n), J | (1n << 62n)]);
      return ext(s, 0x3fff + e, m);
    }
    case 'zero':
      return ext(s, 0, 0n);
    case 'denormal':
      return ext(s, 0, randMant(rng, rng.pick([63, 40, 10])) || 1n);
    case 'inf':
      return ext(s, 0x7fff, J);
    case 'qnan':
      return rng.chance(0.3) ? ext(1, 0x7fff, 0xc000000000000000n) : ext(s, 0x7fff, 0xc000000000000000n | randMant(rng, 62));
    case 'snan':
      return ext(s, 0x7fff, J | (randMant(rng, 62) || 1n));
    case 'simple':
      return extFromInt(BigInt(s ? -1 : 1) * BigInt(rng.pick([1, 2, 3, 5, 10])), rng.range(-2, 2));
    case 'short':
      // Few significand bits: exact in single and double
      return ext(s, 0x3fff + rng.range(-20, 20), J | (randMant(rng, 20) << 43n));
  }
}

/** Tag of a register value: 00 valid, 01 zero, 10 special, as FNSAVE computes it. */
function tagOf(v: Uint8Array): number {
  const exp = (v[8] | (v[9] << 8)) & 0x7fff;
  const jbit = v[7] & 0x80;
  let mantZero = true;
  for (let i = 0; i < 8; i++) if (v[i]) mantZero = false;
  if (exp === 0x7fff) return 2;
  if (exp === 0) return mantZero ? 1 : 2;
  return jbit ? 0 : 2;
}

function f32Bits(rng: Rng): number[] {
  const s = rng.below(2) << 31;
  const v = rng.weighted([
    [30, () => s | (rng.range(127 - 40, 127 + 40) << 23) | (rng.u32() & 0x7fffff)],
    [10, () => s | (rng.range(1, 254) << 23) | (rng.u32() & 0x7fffff)],
    [6, () => s],
    [6, () => s | (rng.u32() & 0x7fffff) || 1],
    [4, () => s | 0x7f800000],
    [4, () => s | 0x7fc00000 | (rng.u32() & 0x3fffff)],
    [4, () => s | 0x7f800000 | (rng.u32() & 0x3fffff || 1)],
    [8, () => {
      const f = new DataView(new ArrayBuffer(4));
      f.setFloat32(0, (s ? -1 : 1) * (rng.below(1000) + rng.pick([0, 0.5, 0.25, 0.75])));
      return f.getUint32(0);
    }],
    [3, () => s | 0x7f7fffff],
  ] as const)();
  return le(v >>> 0, 4);
}

function f64Bits(rng: Rng): number[] {
  const s = rng.below(2);
  const lo = rng.u32();
  const hiMant = rng.below(0x100000);
  const bits = (hi: number, low = lo): number[] => [...le(low >>> 0, 4), ...le(hi >>> 0, 4)];
  return rng.weighted([
    [30, () => bits((s << 31) | (rng.range(1023 - 70, 1023 + 70) << 20) | hiMant)],
    [10, () => bits((s << 31) | (rng.range(1, 2046) << 20) | hiMant)],
    [6, () => bits(s << 31, 0)],
    [6, () => bits((s << 31) | hiMant)],
    [4, () => bits((s << 31) | 0x7ff00000, 0)],
    [4, () => bits((s << 31) | 0x7ff80000 | (hiMant & 0x7ffff))],
    [4, () => bits((s << 31) | 0x7ff00000 | (hiMant & 0x7ffff) | 1)],
    [8, () => {
      const f = new DataView(new ArrayBuffer(8));
      f.setFloat64(0, (s ? -1 : 1) * (rng.below(100000) + rng.pick([0, 0.5, 0.25, 0.75, 1 / 3])), true);
      return Array.from(new Uint8Array(f.buffer));
    }],
    [3, () => bits((s << 31) | 0x7fefffff, 0xffffffff)],
  ] as const)();
}

function intBits(rng: Rng, bytes: number): number[] {
  const bits = bytes * 8;
  if (bytes === 8) {
    const v = rng.chance(0.5) ? rng.pick(INT_EDGES) + BigInt(rng.range(-1, 1)) : rng.u64() >> BigInt(rng.below(64));
    const signed = rng.chance(0.5) ? -v : v;
    const u = BigInt.asUintN(64, signed);
    return [...le(Number(u & 0xffffffffn), 4), ...le(Number(u >> 32n), 4)];
  }
  return le(value(rng, bits), bytes);
}

// ---------------------------------------------------------------------------
// Group: x87

const FPU_CW = 0, FPU_SW = 4, FPU_TW = 8, FPU_ST = 28;

interface FpuSetup {
  /** Registers ST(0)… that hold values. */
  depth: number;
  unmasked?: boolean;
  values?: (i: number) => Uint8Array;
}

/** The input FRSTOR image: random PC/RC, mostly masked exceptions, TOP anywhere, ST(0..depth-1) filled. */
function setupFpu(b: Builder, s: FpuSetup): void {
  const rng = b.rng;
  const img = new Uint8Array(FPU_IMAGE_SIZE);
  const pc = rng.pick([0, 2, 3, 3]);
  const rc = rng.below(4);
  // DM stays set: with an unmasked #D the host (AMD) still loads the operand,
  // where Intel's SDM leaves TOP and the operands unchanged
  let masks = 0x3f;
  if (s.unmasked) masks &= (~(1 << rng.pick([0, 2, 3, 4, 5])) & (rng.chance(0.5) ? rng.u32() : 0x3f)) | 0x02;
  const cw = 0x0040 | masks | (pc << 8) | (rc << 10);
  const top = rng.below(8);
  // Sticky flags only for masked exceptions, so nothing is pending at entry
  const sticky = rng.chance(0.15) ? rng.u32() & masks & 0x3f : 0;
  const sw = (top << 11) | (rng.u32() & CC) | sticky;
  let tw = 0;
  for (let i = 0; i < 8; i++) {
    const phys = (top + i) & 7;
    if (i < s.depth) {
      const v = s.values ? s.values(i) : randExt(rng);
      img.set(v, FPU_ST + 10 * i);
      tw |= tagOf(v) << (2 * phys);
    } else {
      tw |= 3 << (2 * phys);
    }
  }
  img[FPU_CW] = cw & 0xff;
  img[FPU_CW + 1] = cw >> 8;
  img[FPU_SW] = sw & 0xff;
  img[FPU_SW + 1] = sw >> 8;
  img[FPU_TW] = tw & 0xff;
  img[FPU_TW + 1] = tw >> 8;
  b.fpu = img;
}

/** Condition-code effects by kind (SDM "FPU Flags Affected"). */
const FK = {
  /** Loads, stores, arithmetic, FCHS/FABS, FXCH, FINCSTP…: C1 only. */
  c1: { fswSets: C1, fswUndef: C0 | C2 | C3 },
  /** Compares, FTST, FXAM, FPREM: all four. */
  cc: { fswSets: CC },
  /**
   * FCOMI family: ZF PF CF set, OF SF AF cleared; C0 C2 C3 unchanged. C1 is
   * "set to 0" in Intel's SDM, but the host (AMD) leaves it alone.
   */
  comi: { fswUndef: C1, sets: STATUS, comi: true },
  /** FCMOVcc: C0 C2 C3 undefined; C1 is cleared on Intel ("on underflow"), kept on AMD. */
  fcmov: { fswUndef: CC },
  /** FSIN FCOS FSINCOS FPTAN: C1, and C2 for out-of-range operands. */
  trig: { fswSets: C1 | C2, fswUndef: C0 | C3 },
  /** FFREE, FLDCW, FNSTCW, FNSTSW, FNCLEX, FNOP. */
  none: { fswUndef: CC },
} as const;

type FpuKind = keyof typeof FK;

function fins(bytes: number[], text: string, kind: FpuKind, extra: Partial<Insn> = {}): Insn {
  return { bytes, text, x87: true, ...FK[kind], ...extra };
}

const ARITH8 = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
/** DC/DE register forms name the reversed operation for SUB/DIV (Intel's mnemonics). */
const ARITH_DC = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsubr', 'fsub', 'fdivr', 'fdiv'];

/** A memory operand in the data area holding `bytes`. */
function fmem(b: Builder, bytes: number[]): Mem {
  const addr = b.alloc(bytes.length);
  b.writeData(addr, bytes);
  return memOperand(b, addr);
}

/** One x87 instruction; returns it and the stack depth it wants. */
type X87Gen = (b: Builder) => [Insn, number];

const FCOMPP: X87Gen = () => [fins([0xde, 0xd9], 'fcompp', 'cc'), 2];
const FUCOMPP: X87Gen = () => [fins([0xda, 0xe9], 'fucompp', 'cc'), 2];
const FTST: X87Gen = () => [fins([0xd9, 0xe4], 'ftst', 'cc'), 1];
const FUCOM: X87Gen = (b) => {
  const i = b.rng.below(8);
  const p = b.rng.chance(0.5);
  return [fins([0xdd, (p ? 0xe8 : 0xe0) + i], `${p ? 'fucomp' : 'fucom'} st(${i})`, 'cc'), i + 1];
};
const FCOM_MEM: X87Gen = (b) => {
  const p = b.rng.chance(0.5);
  const [opc, bytes, name] = b.rng.pick([[0xd8, f32Bits(b.rng), 'dword'], [0xdc, f64Bits(b.rng), 'qword']] as const);
  const m = fmem(b, bytes);
  return [fins([...m.prefix, opc, ...m.enc(p ? 3 : 2)], `${p ? 'fcomp' : 'fcom'} ${name} ${m.text}`, 'cc'), 1];
};
const FCOMI: X87Gen = (b) => {
  const i = b.rng.below(8);
  const [opc, lo, name] = b.rng.pick([[0xdb, 0xf0, 'fcomi'], [0xdb, 0xe8, 'fucomi'], [0xdf, 0xf0, 'fcomip'], [0xdf, 0xe8, 'fucomip']] as const);
  return [fins([opc, lo + i], `${name} st(0), st(${i})`, 'comi'), i + 1];
};
/** Only as the first instruction: later, the status word may hold undefined condition codes. */
const FNSTSW_M16: X87Gen = (b) => {
  const m = fmem(b, [b.rng.below(256), b.rng.below(256)]);
  return [fnstsw([...m.prefix, 0xdd, ...m.enc(7)], `fnstsw word ${m.text}`, false), b.rng.below(3)];
};
const COMPARES = [FCOMPP, FUCOMPP, FTST, FUCOM, FCOM_MEM];

const X87_OPS: [number, X87Gen][] = [
  // Loads
  [4, (b) => { const m = fmem(b, f32Bits(b.rng)); return [fins([...m.prefix, 0xd9, ...m.enc(0)], `fld dword ${m.text}`, 'c1'), 0]; }],
  [4, (b) => { const m = fmem(b, f64Bits(b.rng)); return [fins([...m.prefix, 0xdd, ...m.enc(0)], `fld qword ${m.text}`, 'c1'), 0]; }],
  [3, (b) => { const m = fmem(b, [...randExt(b.rng)]); return [fins([...m.prefix, 0xdb, ...m.enc(5)], `fld tword ${m.text}`, 'c1'), 0]; }],
  [3, (b) => { const i = b.rng.below(8); return [fins([0xd9, 0xc0 + i], `fld st(${i})`, 'c1'), i + 1]; }],
  [2, (b) => { const m = fmem(b, intBits(b.rng, 2)); return [fins([...m.prefix, 0xdf, ...m.enc(0)], `fild word ${m.text}`, 'c1'), 0]; }],
  [2, (b) => { const m = fmem(b, intBits(b.rng, 4)); return [fins([...m.prefix, 0xdb, ...m.enc(0)], `fild dword ${m.text}`, 'c1'), 0]; }],
  [2, (b) => { const m = fmem(b, intBits(b.rng, 8)); return [fins([...m.prefix, 0xdf, ...m.enc(5)], `fild qword ${m.text}`, 'c1'), 0]; }],
  [4, (b) => {
    const [lo, name] = b.rng.pick([[0xe8, 'fld1'], [0xe9, 'fldl2t'], [0xea, 'fldl2e'], [0xeb, 'fldpi'], [0xec, 'fldlg2'], [0xed, 'fldln2'], [0xee, 'fldz']] as const);
    return [fins([0xd9, lo], name, 'c1'), 0];
  }],
  // Stores
  [4, (b) => {
    const [op, reg, size, name] = b.rng.pick([[0xd9, 2, 4, 'fst dword'], [0xd9, 3, 4, 'fstp dword'], [0xdd, 2, 8, 'fst qword'], [0xdd, 3, 8, 'fstp qword'], [0xdb, 7, 10, 'fstp tword']] as const);
    const m = fmem(b, new Array<number>(size).fill(0).map(() => b.rng.below(256)));
    return [fins([...m.prefix, op, ...m.enc(reg)], `${name} ${m.text}`, 'c1'), 1];
  }],
  [2, (b) => { const i = b.rng.below(8); const p = b.rng.chance(0.5); return [fins([0xdd, (p ? 0xd8 : 0xd0) + i], `${p ? 'fstp' : 'fst'} st(${i})`, 'c1'), 1]; }],
  [4, (b) => {
    const [op, reg, size, name] = b.rng.pick([[0xdf, 2, 2, 'fist word'], [0xdf, 3, 2, 'fistp word'], [0xdb, 2, 4, 'fist dword'], [0xdb, 3, 4, 'fistp dword'], [0xdf, 7, 8, 'fistp qword']] as const);
    const m = fmem(b, new Array<number>(size).fill(0).map(() => b.rng.below(256)));
    return [fins([...m.prefix, op, ...m.enc(reg)], `${name} ${m.text}`, 'c1'), 1];
  }],
  // Arithmetic and compares, memory forms
  [8, (b) => {
    const op = b.rng.below(8);
    const [opc, bytes, name] = b.rng.pick([[0xd8, f32Bits(b.rng), 'dword'], [0xdc, f64Bits(b.rng), 'qword']] as const);
    const m = fmem(b, bytes);
    return [fins([...m.prefix, opc, ...m.enc(op)], `${ARITH8[op]} ${name} ${m.text}`, op === 2 || op === 3 ? 'cc' : 'c1'), 1];
  }],
  [4, (b) => {
    const op = b.rng.below(8);
    const [opc, bytes, name] = b.rng.pick([[0xde, intBits(b.rng, 2), 'word'], [0xda, intBits(b.rng, 4), 'dword']] as const);
    const m = fmem(b, bytes);
    return [fins([...m.prefix, opc, ...m.enc(op)], `fi${ARITH8[op].slice(1)} ${name} ${m.text}`, op === 2 || op === 3 ? 'cc' : 'c1'), 1];
  }],
  // Register forms
  [8, (b) => {
    const op = b.rng.below(8);
    const i = b.rng.below(8);
    const cmp = op === 2 || op === 3;
    return [fins([0xd8, 0xc0 + op * 8 + i], cmp ? `${ARITH8[op]} st(${i})` : `${ARITH8[op]} st(0), st(${i})`, cmp ? 'cc' : 'c1'), i + 1];
  }],
  [6, (b) => {
    const op = b.rng.pick([0, 1, 4, 5, 6, 7]);
    const i = b.rng.below(8);
    const pop = b.rng.chance(0.5);
    return [fins([pop ? 0xde : 0xdc, 0xc0 + op * 8 + i], `${ARITH_DC[op]}${pop ? 'p' : ''} st(${i}), st(0)`, 'c1'), Math.max(i + 1, 1)];
  }],
  [2, FCOMPP],
  [3, FUCOM],
  [1, FUCOMPP],
  [4, FCOMI],
  [2, FTST],
  // Unary and the rest of D9 E0..FF
  [6, (b) => {
    const [lo, name, kind, depth] = b.rng.pick([
      [0xe0, 'fchs', 'c1', 1], [0xe1, 'fabs', 'c1', 1], [0xfa, 'fsqrt', 'c1', 1], [0xfc, 'frndint', 'c1', 1], [0xfd, 'fscale', 'c1', 2], [0xf4, 'fxtract', 'c1', 1],
    ] as const);
    return [fins([0xd9, lo], name, kind), depth];
  }],
  [3, (b) => {
    const p1 = b.rng.chance(0.5);
    // A partial remainder (C2 = 1) leaves the quotient bits C0 C1 C3 without
    // meaning; a NaN result (invalid or NaN operands) all four: the host
    // leaves them as they were
    return [fins([0xd9, p1 ? 0xf5 : 0xf8], p1 ? 'fprem1' : 'fprem', 'cc', {
      post: (out, d) => {
        const sw = out.fpu[FPU_SW] | (out.fpu[FPU_SW + 1] << 8);
        if (sw & C2) d.fswUndef |= C0 | C1 | C3;
        const st0 = FPU_ST;
        const nan = ((out.fpu[st0 + 8] | (out.fpu[st0 + 9] << 8)) & 0x7fff) === 0x7fff && (out.fpu[st0 + 7] & 0x7f || out.fpu.subarray(st0, st0 + 7).some((x) => x !== 0));
        if (nan) d.fswUndef |= CC;
      },
    }), 2];
  }],
  // Stack management
  [3, (b) => { const i = b.rng.below(8); return [fins([0xd9, 0xc8 + i], `fxch st(${i})`, 'c1'), i + 1]; }],
  [2, (b) => { const inc = b.rng.chance(0.5); return [fins([0xd9, inc ? 0xf7 : 0xf6], inc ? 'fincstp' : 'fdecstp', 'c1'), b.rng.below(3)]; }],
  [2, (b) => { const i = b.rng.below(8); return [fins([0xdd, 0xc0 + i], `ffree st(${i})`, 'none'), b.rng.below(4)]; }],
  // Control
  [2, (b) => {
    // FLDCW with random masks, PC (not the reserved 01), RC, and sometimes the X and reserved bits set
    const pc = b.rng.pick([0, 2, 3]);
    const odd = b.rng.chance(0.1) ? b.rng.u32() & 0xf080 : 0;
    const cw = (b.rng.u32() & 0x0c3f) | 0x42 | (pc << 8) | odd; // DM set, as in setupFpu
    const m = fmem(b, le(cw, 2));
    return [fins([...m.prefix, 0xd9, ...m.enc(5)], `fldcw word ${m.text}`, 'none'), b.rng.below(3)];
  }],
  [1, (b) => { const m = fmem(b, [b.rng.below(256), b.rng.below(256)]); return [fins([...m.prefix, 0xd9, ...m.enc(7)], `fnstcw word ${m.text}`, 'none'), b.rng.below(3)]; }],
  [1, FNSTSW_M16],
  [1, () => [fins([0xdb, 0xe2], 'fnclex', 'none'), 1]],
  [4, (b) => {
    const cc = b.rng.below(8);
    const i = b.rng.below(8);
    const names = ['fcmovb', 'fcmove', 'fcmovbe', 'fcmovu', 'fcmovnb', 'fcmovne', 'fcmovnbe', 'fcmovnu'];
    const reads = [CF, ZF, CF | ZF, PF][cc & 3];
    return [fins([cc < 4 ? 0xda : 0xdb, 0xc0 + (cc & 3) * 8 + i], `${names[cc]} st(0), st(${i})`, 'fcmov', { reads }), i + 1];
  }],
];

/** FNSTSW: AX (or memory) gets the status word as it is, undefined condition codes included. */
function fnstsw(bytes: number[], text: string, toAx: boolean): Insn {
  return {
    bytes,
    text,
    x87: true,
    ...FK.none,
    effect: toAx
      ? (d) => {
          d.regDef[EAX] = ((d.regDef[EAX] & 0xffff0000) | (0xffff & ~d.fswUndef)) >>> 0;
        }
      : (d) => {
          if (d.fswUndef) d.memUndefined = true;
        },
  };
}

function genX87(b: Builder): void {
  const rng = b.rng;
  const unmasked = rng.chance(0.12);
  const shape = rng.weighted([[70, 'single'], [10, 'fxam'], [12, 'chain'], [8, 'compare']] as const);
  b.setReg(EAX, rng.u32());
  if (shape === 'fxam') {
    const depth = rng.weighted([[6, 1], [1, 0], [1, rng.range(2, 8)]] as const);
    setupFpu(b, { depth, unmasked });
    // FXAM on an empty register reports the sign of whatever it holds in C1
    b.emit(fins([0xd9, 0xe5], 'fxam', 'cc', depth === 0 ? { fswUndef: C1 } : {}));
  } else if (shape === 'compare') {
    // A compare whose condition codes reach EFLAGS the old way
    const [insn, depth] = rng.pick(COMPARES)(b);
    setupFpu(b, { depth: Math.max(depth, rng.below(4)), unmasked });
    b.emit(insn);
    b.emit(fnstsw([0xdf, 0xe0], 'fnstsw ax', true));
    if (rng.chance(0.7)) b.emit(SAHF);
  } else {
    const n = shape === 'chain' ? rng.range(2, 3) : 1;
    const ops: [Insn, number][] = [];
    while (ops.length < n) {
      const gen = rng.weighted(X87_OPS);
      if (gen !== FNSTSW_M16 || ops.length === 0) ops.push(gen(b));
    }
    const need = ops[0][1];
    const fill = rng.weighted([[6, 'under'], [6, 'full'], [88, 'enough']] as const);
    const depth =
      fill === 'under' ? Math.max(0, need - 1 - rng.below(2)) // stack underflow
      : fill === 'full' ? 8 // stack overflow on a push
      : Math.min(8, need + rng.below(3));
    setupFpu(b, { depth, unmasked });
    for (const [insn] of ops) b.emit(insn);
    if (rng.chance(0.15)) b.emit(fnstsw([0xdf, 0xe0], 'fnstsw ax', true));
  }
  // A waiting instruction delivers a pending unmasked exception as #MF
  if (unmasked && rng.chance(0.6)) b.emit({ bytes: [0x9b], text: 'fwait' });
  b.faults.add(16);
}

// ---------------------------------------------------------------------------
// Group: x87trans

function genX87Trans(b: Builder): void {
  const rng = b.rng;
  const op = rng.pick(['fsin', 'fcos', 'fsincos', 'fptan', 'fpatan', 'f2xm1', 'fyl2x', 'fyl2xp1'] as const);
  const lo = { f2xm1: 0xf0, fyl2x: 0xf1, fptan: 0xf2, fpatan: 0xf3, fyl2xp1: 0xf9, fsincos: 0xfb, fsin: 0xfe, fcos: 0xff }[op];
  const edge = (): Uint8Array => randExt(rng);
  const inRange = (lim: number, pos = false): Uint8Array => {
    // |x| ≤ lim, spread over many binades
    const e = rng.range(-40, Math.floor(Math.log2(lim)) - 1);
    return ext(pos ? 0 : rng.below(2), 0x3fff + e, J | randMant(rng));
  };
  /** Edge values inside every domain: zeros, denormals, NaNs. */
  const inDomainEdge = (): Uint8Array => {
    const s = rng.below(2);
    return rng.pick([
      () => ext(s, 0, 0n),
      () => ext(s, 0, randMant(rng) || 1n),
      () => ext(s, 0x7fff, 0xc000000000000000n | randMant(rng, 62)),
      () => ext(s, 0x7fff, J | (randMant(rng, 62) || 1n)),
    ])();
  };
  let st0: () => Uint8Array;
  let st1: () => Uint8Array = edge;
  switch (op) {
    case 'fsin':
    case 'fcos':
    case 'fsincos':
    case 'fptan':
      // Mostly within ±π/4..±8, where argument reduction differs least between implementations
      st0 = () => rng.weighted([[6, () => inRange(1)], [3, () => inRange(8)], [1, () => ext(rng.below(2), 0x3fff + 63 + rng.below(3), J | randMant(rng))], [2, edge]] as const)();
      break;
    case 'f2xm1':
      // Outside -1..+1 the result is undefined
      st0 = () => (rng.chance(0.85) ? inRange(1) : inDomainEdge());
      break;
    case 'fyl2x':
      st0 = () => (rng.chance(0.85) ? ext(0, 0x3fff + rng.range(-200, 200), J | randMant(rng)) : edge());
      st1 = () => (rng.chance(0.85) ? ext(rng.below(2), 0x3fff + rng.range(-20, 20), J | randMant(rng)) : edge());
      break;
    case 'fyl2xp1':
      // Outside ±(1 - √2/2) the result is undefined
      st0 = () => (rng.chance(0.85) ? inRange(0.25) : inDomainEdge());
      st1 = () => (rng.chance(0.85) ? ext(rng.below(2), 0x3fff + rng.range(-20, 20), J | randMant(rng)) : edge());
      break;
    case 'fpatan':
      st0 = () => (rng.chance(0.85) ? ext(rng.below(2), 0x3fff + rng.range(-30, 30), J | randMant(rng)) : edge());
      st1 = st0;
      break;
  }
  const two = op === 'fpatan' || op === 'fyl2x' || op === 'fyl2xp1';
  const pushes = op === 'fptan' || op === 'fsincos';
  const depth = two ? 2 : pushes && rng.chance(0.05) ? 8 : 1 + rng.below(2);
  setupFpu(b, { depth, unmasked: rng.chance(0.05), values: (i) => (i === 0 ? st0() : i === 1 ? st1() : randExt(rng)) });
  const trig = op === 'fsin' || op === 'fcos' || op === 'fsincos' || op === 'fptan';
  b.emit(fins([0xd9, lo], op, trig ? 'trig' : 'c1'));
  b.faults.add(16);
}

// ---------------------------------------------------------------------------
// Groups

interface Group {
  name: string;
  count: number;
  gen: (b: Builder) => void;
  /** Max difference of x87 register values, in ulps of the 64-bit significand. */
  ulps?: number;
}

const GROUPS: Group[] = [
  { name: 'alu', count: 30000, gen: genAlu },
  { name: 'shift', count: 20000, gen: genShift },
  { name: 'muldiv', count: 9000, gen: genMulDiv },
  { name: 'bcd', count: 4000, gen: genBcd },
  { name: 'bitops', count: 18000, gen: genBitops },
  { name: 'string', count: 7000, gen: genString },
  { name: 'flags', count: 3000, gen: genFlags },
  { name: 'stack', count: 6000, gen: genStack },
  { name: 'x87', count: 16000, gen: genX87 },
  { name: 'x87trans', count: 4000, gen: genX87Trans, ulps: 4 },
];

// ---------------------------------------------------------------------------
// The native runner

interface NativeCase {
  code: Uint8Array;
  regs: number[];
  eflags: number;
  fpu?: Uint8Array;
  data: Run[];
  stack: Run[];
}

interface NativeResult {
  exception: number | null;
  signal: number;
  eip: number;
  regs: number[];
  eflags: number;
  fpu: Uint8Array;
  damage: number;
  /** Bytes of the areas that changed, as the runner reports them. */
  data: Run[];
  stack: Run[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function buildRunner(dir: string): string {
  const exe = join(dir, 'x86-runner');
  const src = join(ROOT, 'scripts', 'native', 'x86-runner.c');
  const r = spawnSync('gcc', ['-m32', '-O1', '-static', '-Wall', '-Wextra', '-o', exe, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the native runner failed:\n${r.stderr}${r.error ? String(r.error) : ''}`);
  return exe;
}

/** Nonzero ranges of an area (joined across gaps under 4 bytes): its input as runs. */
function areaRuns(area: Uint8Array): Run[] {
  // Mostly zeros: skip them a word at a time
  const words = new Uint32Array(area.buffer, area.byteOffset, area.length >> 2);
  const runs: Run[] = [];
  let start = -1;
  let last = -1;
  for (let w = 0; w < words.length; w++) {
    if (words[w] === 0) continue;
    for (let i = w * 4; i < w * 4 + 4; i++) {
      if (area[i] === 0) continue;
      if (start >= 0 && i - last > 4) {
        runs.push({ offset: start, bytes: area.slice(start, last + 1) });
        start = -1;
      }
      if (start < 0) start = i;
      last = i;
    }
  }
  if (start >= 0) runs.push({ offset: start, bytes: area.slice(start, last + 1) });
  return runs;
}

function runNative(exe: string, cases: NativeCase[]): NativeResult[] {
  const parts: Buffer[] = [];
  const u32 = (v: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    parts.push(b);
  };
  const runs = (rs: Run[]): void => {
    u32(rs.length);
    for (const r of rs) {
      const h = Buffer.alloc(4);
      h.writeUInt16LE(r.offset, 0);
      h.writeUInt16LE(r.bytes.length, 2);
      parts.push(h, Buffer.from(r.bytes));
    }
  };
  for (const c of cases) {
    u32(c.code.length);
    u32(c.fpu ? 1 : 0);
    for (const r of c.regs) u32(r);
    u32(c.eflags);
    parts.push(Buffer.from(c.fpu ?? new Uint8Array(FPU_IMAGE_SIZE)));
    runs(c.data);
    runs(c.stack);
    parts.push(Buffer.from(c.code));
  }
  u32(0xffffffff);
  const r = spawnSync(exe, [], { input: Buffer.concat(parts), maxBuffer: 1 << 30, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`native runner failed (status ${r.status}, signal ${r.signal}): ${r.stderr.toString().slice(-2000)}`);
  const out = r.stdout;
  let pos = 0;
  const rd = (): number => {
    const v = out.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const results: NativeResult[] = [];
  for (let k = 0; k < cases.length; k++) {
    const status = rd();
    const trapno = rd();
    rd(); // error code
    const signal = rd();
    const eip = rd();
    const regs = Array.from({ length: 8 }, rd);
    const eflags = rd();
    const fpu = new Uint8Array(out.subarray(pos, pos + FPU_IMAGE_SIZE));
    pos += FPU_IMAGE_SIZE;
    const damage = rd();
    const areas: Run[][] = [[], []];
    for (const runs of areas) {
      const n = rd();
      for (let i = 0; i < n; i++) {
        const offset = out.readUInt16LE(pos);
        const len = out.readUInt16LE(pos + 2);
        runs.push({ offset, bytes: new Uint8Array(out.subarray(pos + 4, pos + 4 + len)) });
        pos += 4 + len;
      }
    }
    results.push({ exception: status ? trapno : null, signal, eip, regs, eflags, fpu, damage, data: areas[0], stack: areas[1] });
  }
  if (pos !== out.length) throw new Error(`native runner output has ${out.length - pos} extra bytes`);
  return results;
}

// ---------------------------------------------------------------------------
// Turning a run into a fixture case

function disassemblyOf(insns: Insn[]): string {
  return insns.map((i) => i.text).join('; ');
}

function toFixture(group: Group, b: Builder, c: NativeCase, res: NativeResult): FixtureCase {
  const code = c.code;
  const asm = disassemblyOf(b.insns);
  const where = `${group.name}: ${asm} [${Buffer.from(code).toString('hex')}]`;
  if (res.damage) throw new Error(`${where}: wrote outside the areas (damage ${res.damage})`);
  if (res.exception !== null && !b.faults.has(res.exception)) {
    const state = `regs ${b.regs.map(hex).join(' ')} eflags ${hex(b.eflags)} stack ${c.stack.map((r) => `${hex(STACK_BASE + r.offset)}: ${Buffer.from(r.bytes).toString('hex')}`).join(', ')}`;
    throw new Error(`${where}: unexpected exception ${res.exception} at ${hex(res.eip)}; ${state}`);
  }
  const eipOff = res.eip - CODE_BASE;
  // Definedness from the instructions that completed (a fault leaves the state before its instruction)
  const d: DefState = { flagsUndef: 0, fswUndef: 0, regDef: new Array<number>(8).fill(0xffffffff) };
  // Where Intel and the host (AMD) part ways on x87 condition codes: after an
  // unmasked exception (Intel: "not set"; AMD sets them, and FCOMI's EFLAGS
  // too) and after a stack fault (C0 C2 C3; C1 tells overflow from underflow).
  const fsw = res.fpu[FPU_SW] | (res.fpu[FPU_SW + 1] << 8);
  const fcw = res.fpu[FPU_CW] | (res.fpu[FPU_CW + 1] << 8);
  const unmaskedRaised = b.fpu !== undefined && (fsw & ~fcw & 0x3f) !== 0;
  const stackFault = b.fpu !== undefined && (fsw & 0x40) !== 0;
  let off = 0;
  for (const i of b.insns) {
    off += i.bytes.length;
    if (res.exception !== null && off > eipOff) break;
    applyInsn(d, i);
    i.post?.(res, d);
    if (i.x87 && unmaskedRaised) {
      d.fswUndef |= CC;
      if (i.comi) d.flagsUndef |= STATUS;
    }
    if (i.x87 && stackFault) d.fswUndef |= C0 | C2 | C3;
  }
  if (d.memUndefined) throw new Error(`${where}: stores undefined bits to memory`);
  let fswMask = 0xffff & ~d.fswUndef;
  if (group.ulps) fswMask &= ~C1; // the rounding direction of an approximation is not comparable
  return {
    asm,
    code,
    regs: b.regs.slice(),
    eflags: b.eflags,
    data: c.data,
    stack: c.stack,
    fpu: b.fpu,
    expect: {
      exception: res.exception,
      eip: res.exception === null ? code.length : eipOff,
      regs: res.regs,
      regMask: d.regDef,
      eflags: res.eflags,
      eflagsMask: COMPARED_EFLAGS & ~d.flagsUndef,
      data: res.data,
      stack: res.stack,
      fpu: b.fpu ? res.fpu : undefined,
      fswMask: b.fpu ? fswMask : 0,
    },
  };
}

// ---------------------------------------------------------------------------
// Sanity checks of the runner itself, with results known by hand

function selfCheck(exe: string): void {
  const base = (code: number[], regs: Partial<Record<number, number>> = {}, eflags = 0x202, extra: Partial<NativeCase> = {}): NativeCase => {
    const r = DEFAULT_REGS.slice();
    for (const [k, v] of Object.entries(regs)) if (v !== undefined) r[Number(k)] = v;
    return { code: Uint8Array.from(code), regs: r, eflags, data: [], stack: [], ...extra };
  };
  const fpuData: Run[] = [{ offset: 0, bytes: Uint8Array.from([0x7b, 0x03]) }]; // control word with ZM clear
  const stackWord = (r: NativeResult, addr: number): number => {
    const area = applyRuns(new Uint8Array(AREA_SIZE), r.stack);
    return Buffer.from(area.subarray(addr - STACK_BASE, addr - STACK_BASE + 4)).readUInt32LE();
  };
  const checks: [string, NativeCase, (r: NativeResult) => boolean][] = [
    ['add eax, ebx (0x7fffffff + 1)', base([0x01, 0xd8], { [EAX]: 0x7fffffff, [EBX]: 1 }, 0x202 | CF | ZF),
      (r) => r.exception === null && r.regs[EAX] === 0x80000000 && (r.eflags & STATUS) === (OF | SF | AF | PF)],
    ['sub eax, ebx (0 - 1)', base([0x29, 0xd8], { [EAX]: 0, [EBX]: 1 }),
      (r) => r.regs[EAX] === 0xffffffff && (r.eflags & STATUS) === (CF | SF | AF | PF)],
    ['registers survive a nop', base([0x90], {}, 0x202 | DF | OF | CF),
      (r) => r.regs.every((v, i) => v === DEFAULT_REGS[i]) && (r.eflags & 0xffff) === (0x202 | DF | OF | CF) && r.eip === CODE_BASE + 1],
    ['div ebx by zero → #DE at the div', base([0x90, 0xf7, 0xf3], { [EBX]: 0 }),
      (r) => r.exception === 0 && r.eip === CODE_BASE + 1 && r.regs[EAX] === DEFAULT_REGS[EAX]],
    ['int3 → vector 3, EIP after it', base([0x90, 0xcc]), (r) => r.exception === 3 && r.eip === CODE_BASE + 2],
    ['ud2 → #UD', base([0x90, 0x0f, 0x0b]), (r) => r.exception === 6 && r.eip === CODE_BASE + 1],
    ['into with OF=1 → #OF after it', base([0xce], {}, 0x202 | OF), (r) => r.exception === 4 && r.eip === CODE_BASE + 1],
    ['into with OF=0 does nothing', base([0xce]), (r) => r.exception === null],
    ['push 0x12345678 lands below ESP', base([0x68, 0x78, 0x56, 0x34, 0x12]),
      (r) => r.regs[ESP] === ESP_DEFAULT - 4 && stackWord(r, ESP_DEFAULT - 4) === 0x12345678],
    ['std; pushfd shows DF and IF', base([0xfd, 0x9c]),
      (r) => stackWord(r, ESP_DEFAULT - 4) === (0x202 | DF) && (r.eflags & DF) !== 0],
    ['mov [DATA_BASE+4096], eax → #PF', base([0xa3, ...le(DATA_BASE + AREA_SIZE, 4)]), (r) => r.exception === 14],
    ['fld1; fldpi; faddp → 1+π', base([0xd9, 0xe8, 0xd9, 0xeb, 0xde, 0xc1]),
      (r) => Buffer.from(r.fpu.subarray(FPU_ST, FPU_ST + 10)).toString('hex') === '1a61b41051ed87840140' && r.fpu[FPU_TW] === 0xff && r.fpu[FPU_TW + 1] === 0x3f],
    ['unmasked 1/0 then fwait → #MF at the fwait', base([0xd9, 0x2d, ...le(DATA_BASE, 4), 0xd9, 0xee, 0xd9, 0xe8, 0xd8, 0xf1, 0x9b], {}, 0x202, { data: fpuData }),
      (r) => r.exception === 16 && r.eip === CODE_BASE + 12 && (r.fpu[FPU_SW] & 0x84) === 0x84],
  ];
  const results = runNative(exe, checks.map((c) => c[1]));
  const bad = checks.filter((c, i) => !c[2](results[i])).map((c) => c[0]);
  if (bad.length) throw new Error(`native runner self-check failed: ${bad.join(', ')}`);
}

// ---------------------------------------------------------------------------

function generateGroup(exe: string, group: Group, seed: number, scale: number): FixtureCase[] {
  const rng = new Rng(hashName(group.name) ^ Math.imul(seed, 0x9e3779b1));
  const count = Math.max(1, Math.round(group.count * scale));
  const out: FixtureCase[] = [];
  const CHUNK = 4000;
  for (let done = 0; done < count; done += CHUNK) {
    const builders: Builder[] = [];
    const natives: NativeCase[] = [];
    for (let i = done; i < Math.min(count, done + CHUNK); i++) {
      const b = new Builder(rng);
      group.gen(b);
      const code = Uint8Array.from(b.insns.flatMap((x) => x.bytes));
      builders.push(b);
      natives.push({ code, regs: b.regs, eflags: b.eflags, fpu: b.fpu, data: areaRuns(b.data), stack: areaRuns(b.stack) });
    }
    runNative(exe, natives).forEach((res, k) => out.push(toFixture(group, builders[k], natives[k], res)));
  }
  return out;
}

function main(argv: string[]): void {
  let seed = 1;
  let scale = 1;
  let outDir = join(ROOT, 'test', 'fixtures', 'x86');
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--seed') seed = Number(next()) >>> 0;
    else if (a === '--scale') scale = Number(next());
    else if (a === '--out') outDir = next();
    else if (a === '--group') only.push(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (process.arch !== 'x64' && process.arch !== 'ia32') throw new Error('the fixtures come from running on an x86 processor');
  const unknown = only.filter((g) => !GROUPS.some((x) => x.name === g));
  if (unknown.length) throw new Error(`unknown group(s): ${unknown.join(', ')}`);
  const tmp = mkdtempSync(join(tmpdir(), 'typevisor-x86-runner-'));
  try {
    const exe = buildRunner(tmp);
    selfCheck(exe);
    mkdirSync(outDir, { recursive: true });
    let total = 0;
    let bytes = 0;
    for (const group of GROUPS) {
      if (only.length && !only.includes(group.name)) continue;
      const t0 = Date.now();
      const cases = generateGroup(exe, group, seed, scale);
      const gz = gzipSync(encodeFixture({ group: group.name, seed, ulps: group.ulps ?? 0, cases }), { level: 9 });
      writeFileSync(join(outDir, `${group.name}.bin.gz`), gz);
      const faults = cases.filter((c) => c.expect.exception !== null).length;
      console.log(`${group.name.padEnd(9)} ${String(cases.length).padStart(6)} cases  ${String(faults).padStart(5)} with exceptions  ${(gz.length / 1024).toFixed(0).padStart(5)} KiB  ${Date.now() - t0} ms`);
      total += cases.length;
      bytes += gz.length;
    }
    console.log(`total     ${String(total).padStart(6)} cases  ${(bytes / 1024 / 1024).toFixed(2)} MiB`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main(process.argv.slice(2));
