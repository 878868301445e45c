/**
 * Block compiler, stage two: JavaScript templates for the most frequent
 * instruction forms, with the decoded operands (registers, displacement,
 * immediate, segment, size) folded in as constants.
 *
 * Every template does exactly what the instruction's handler does, in the
 * same order: the same typed-array and field stores, the same lazy-flag
 * record, every access that may fault before any state is committed. Where a
 * template has a fast path (a flat segment and a TLB hit), its slow path calls
 * the same `Cpu` methods the handler would (`lin`, `rmw`, `rd32`, `wr32`...),
 * so segment checks, page walks, MMIO and self-modifying-code detection are
 * shared with the interpreter. Anything without a template, or decoded to a
 * handler other than the opcode table's (an invalid LOCK, a #UD form), runs
 * its handler.
 *
 * The generated code sees these names (jit.ts binds them):
 *   c                 the Cpu
 *   R R16 R8          c.regs, c.regs16, c.regs8
 *   T SF              c.tlb, c.segFlat
 *   RM RW WM WW       c.rdMask, c.rdWant, c.wrMask, c.wrWant (they change with
 *                     the CPL or the mode, only at the end of a block)
 *   M8 M16 M32        c.u8, c.u16, c.i32
 *   PARITY            the parity table
 *   fa fb fr          operands and result of the last flag-setting template
 *   e                 scratch for TLB entries
 *   h<k> i<k>         handler and Insn of instruction k (fallbacks, slow paths;
 *                     jit.ts renames them per block of a region)
 *
 * A template's memory access comes before it assigns `fa`, `fb` or `fr`: where
 * the access leaves the inline path, they still hold the record of the
 * instruction before, whose stores jit.ts may have put off until then.
 *
 * Flag knowledge: `fa`, `fb` and `fr` always hold the lazy record's A, B and
 * result of the last inline flag-setting template, and `FlagState` says what
 * that record is. A condition (Jcc, SETcc, CMOVcc, ADC/SBB's carry, INC/DEC's
 * carry) that follows such a template in the same block, with only templates
 * that leave the flags alone in between, is computed from those locals, e.g.
 * `JL` after `CMP r32, r32` is `(fa | 0) < (fb | 0)`. The lazy record in the
 * Cpu gets what the handler writes (`flagCode`), at `FLAG_STORES` or, where
 * jit.ts puts the stores off, later (before anything may look at the record);
 * stores that jit.ts proves dead are left out.
 */
import type { Insn } from './decoder.js';
import { reg8Offset } from './decoder.js';
import { OPS } from './opcodes.js';
import { AF, ARITH_FLAGS, ATTR_DB, CF, CS, OF, PF, SF, SS, ZF } from './constants.js';

/**
 * Marks the slow path: a handler runs, or an access misses the inline TLB
 * path. jit.ts puts there the code that records it (in a compiled loop, the
 * local `S`, see regionSource) and brings `icount` up to date for what the
 * slow path may call. An expression (it is used inside ternaries).
 */
export const SLOW = '\u0002';

/**
 * Marks the point right after a handler call: a handler may change any guest
 * register, so jit.ts puts there the reload of the registers it keeps in
 * locals (a statement).
 */
export const RELOAD = '\u0004';

/**
 * How an access that misses the inline path (a segment that is not flat, a
 * TLB miss, an unaligned or MMIO access, a write to a page of code) goes on.
 * By default the inline code is left: `SX()` throws the side-exit token, and
 * the function's catch runs the block from that instruction on through the
 * handlers (`Cpu.finishBlock`), slow path and all. No state of the
 * instruction has changed by then: every template makes its accesses before
 * it commits anything. So the compiled code holds only the inline paths, which keeps it
 * small for V8 and its guest registers in locals throughout. Accesses
 * through a segment that is not flat when the block is compiled (FS, for
 * Linux's per-CPU data), and every access of a block that leaves too often,
 * call the Cpu's slow path in place instead (`SLOW`).
 */
let sideExits = true;
let segFlatNow: ArrayLike<number> = [];

export function setEmitSlowPaths(exits: boolean, segFlat: ArrayLike<number>): void {
  sideExits = exits;
  segFlatNow = segFlat;
}

function exitsAt(seg: number): boolean {
  return sideExits && segFlatNow[seg] !== 0;
}

/** Call instruction `k`'s handler from a template (its slow path). */
function handlerCall(k: number): string {
  return `{ ${SLOW}; h${k}(c, i${k}); ${RELOAD} }`;
}

/** What the lazy flag record holds after an inline template (its A, B, result are in fa, fb, fr). */
export type FlagState =
  | { kind: 'arith'; op: number; sub: number; top: number }
  | { kind: 'logic'; top: number }
  | { kind: 'incdec'; sub: number; top: number }
  | { kind: 'result'; top: number }
  | null;

/** A template that leaves the flags (and fa/fb/fr) alone. */
export const KEEP = 'keep' as const;
export type FlagEffect = FlagState | typeof KEEP;

/** Where a template's flag-record stores go in its code (jit.ts drops them when they are dead). */
export const FLAG_STORES = '\u0001';

export interface Emitted {
  /** Statements; `FLAG_STORES` marks the place of `flagCode`. */
  code: string;
  /** The stores of the flag record (the fields the handler's setArith/setLogic/... would write). */
  flagCode: string;
  /** May throw (a fault): the block must record its index first. */
  fault: boolean;
  /** Touches memory or the bus: `blockAbort` may have been raised. */
  mem: boolean;
  /** Reads the flag record in the Cpu (c.lazy*, c.flags' arithmetic bits, c.cf()...), rather than fa/fb/fr. */
  reads: boolean;
  /** Template name, for statistics and tests. */
  name: string;
  /** It sets c.eip itself (a branch at the end of the block). */
  branch: boolean;
  flags: FlagEffect;
}

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const LOGIC = [false, true, false, false, true, false, true, false];
const SUB = [0, 0, 0, 1, 0, 1, 0, 1];
const CMP = 7;
const NOT_CF_OF_AF = ~(CF | OF | AF);
const ZSP = ZF | SF | PF;
const CFOF = CF | OF;

type Size = 1 | 2 | 4;

function topOf(size: Size): number {
  return size * 8 - 1;
}

/** `x` reduced to the operand size, as the handlers do it (`| 0` or `& mask`). */
function fit(size: Size, x: string): string {
  return size === 4 ? `(${x}) | 0` : `(${x}) & ${size === 2 ? 0xffff : 0xff}`;
}

function regRef(size: Size, r: number): string {
  if (size === 4) return `R[${r}]`;
  if (size === 2) return `R16[${r << 1}]`;
  return `R8[${reg8Offset(r)}]`;
}

/** The handler the opcode table gives this instruction: a template applies only when the decoder chose it. */
function standardHandler(i: Insn): boolean {
  const entry = OPS[i.op];
  if (entry === undefined) return false;
  const spec = Array.isArray(entry) ? entry[i.reg] : entry;
  if (spec === undefined) return false;
  const h = i.o32 ? spec.h32 ?? spec.h : spec.h16 ?? spec.h;
  return h === i.exec;
}

/** Offset of the memory operand, constants folded (the same sum as `ea()`). */
export function eaExpr(i: Insn): string {
  const terms: string[] = [];
  if (i.disp !== 0 || (i.base < 0 && i.index < 0)) terms.push(String(i.disp));
  if (i.base >= 0) terms.push(`R[${i.base}]`);
  if (i.index >= 0) terms.push(i.scale ? `(R[${i.index}] << ${i.scale})` : `R[${i.index}]`);
  const sum = terms.join(' + ');
  if (i.a32) return terms.length === 1 && terms[0].startsWith('R[') ? sum : `(${sum}) | 0`;
  return `(${sum}) & 65535`;
}

function memArray(size: Size): string {
  return size === 4 ? 'M32' : size === 2 ? 'M16' : 'M8';
}

/** Index of the access in its typed array, given the TLB entry in `e` and the offset variable. */
function memIndex(size: Size, off: string): string {
  const addr = `(e & -4096) | (${off} & 4095)`;
  return size === 4 ? `((${addr}) >>> 2)` : size === 2 ? `((${addr}) >>> 1)` : `(${addr})`;
}

function aligned(size: Size, off: string): string {
  return size === 1 ? '' : ` && (${off} & ${size - 1}) === 0`;
}

/** The inline path's condition: a flat segment, a TLB entry allowing the access (its entry left in `e`), alignment. */
function inlineHit(size: Size, seg: number, off: string, write: boolean): string {
  return `SF[${seg}] !== 0 && ((e = T[${off} >>> 12]) & ${write ? 'WM) === WW' : 'RM) === RW'}${aligned(size, off)}`;
}

/**
 * Read `size` bytes at offset `off` (a variable) of segment `seg`: flat segment
 * and TLB hit inline, otherwise `c.lin` + `c.rdN` as the handlers do.
 */
function readExpr(size: Size, seg: number, off: string): string {
  const slow = exitsAt(seg) ? '(SX() | 0)' : `(${SLOW}, c.rd${size * 8}(c.lin(${seg}, ${off}, ${size}, false)))`;
  return `(${inlineHit(size, seg, off, false)} ? ` +
    `${memArray(size)}[${memIndex(size, off)}] : ${slow})`;
}

/** Write statement: flat segment and TLB hit inline (never a code page: TLB_CODE is in wrMask), else `c.lin` + `c.wrN`. */
function writeStmt(size: Size, seg: number, off: string, v: string): string {
  const slow = exitsAt(seg) ? 'SX();' : `{ ${SLOW}; c.wr${size * 8}(c.lin(${seg}, ${off}, ${size}, true), ${v}); }`;
  return `if (${inlineHit(size, seg, off, true)}) ` +
    `${memArray(size)}[${memIndex(size, off)}] = ${v}; else ${slow}`;
}

/**
 * Read-modify-write: `pre` reads the operand into `dst` with the write
 * permission established first (the handlers' `c.rmw`), leaving either a typed
 * array index in `p` (fast path) or the linear address in `lin`; `post(v)`
 * writes the result back.
 */
function rmw(size: Size, seg: number, off: string, dst: string): { pre: string; post: (v: string) => string } {
  const arr = memArray(size);
  const hit = `if (${inlineHit(size, seg, off, true)}) { p = ${memIndex(size, off)}; ${dst} = ${arr}[p]; }`;
  if (exitsAt(seg)) {
    return { pre: `let p = 0;
      ${hit} else SX();`, post: (v) => `${arr}[p] = ${v};` };
  }
  const pre = `let p = -1, lin = 0;
      ${hit}
      else { ${SLOW}; lin = c.rmw(${seg}, ${off}, ${size}); ${dst} = c.rd${size * 8}(lin); }`;
  return { pre, post: (v) => `if (p >= 0) ${arr}[p] = ${v}; else c.wr${size * 8}(lin, ${v});` };
}

// ------------------------------------------------------------------ flags

/** setArith(top, sub, fa, fb, fr) */
function storeArith(top: number, sub: number): string {
  return `c.lazyTop = ${top}; c.lazySub = ${sub}; c.lazyA = fa; c.lazyB = fb; c.lazyRes = fr; c.lazyMask = ${ARITH_FLAGS};`;
}

/** setLogic(top, fr) */
function storeLogic(top: number): string {
  return `c.flags &= ${NOT_CF_OF_AF}; c.lazyTop = ${top}; c.lazyRes = fr; c.lazyMask = ${ZSP};`;
}

/** setResultFlags(top, fr, cfof) */
function storeResult(top: number, cfof: string): string {
  return `c.flags = (c.flags & ${~ARITH_FLAGS}) | ${cfof}; c.lazyTop = ${top}; c.lazyRes = fr; c.lazyMask = ${ZSP};`;
}

/** Per-flag boolean expressions for a known lazy record. */
function flagExprs(s: NonNullable<FlagState>): { cf: string; zf: string; sf: string; of: string; pf: string } {
  const top = s.top;
  const zf = top === 31 ? '(fr === 0)' : `((fr << ${31 - top}) === 0)`;
  const sf = top === 31 ? '(fr < 0)' : `(((fr >>> ${top}) & 1) !== 0)`;
  const pf = '(PARITY[fr & 255] !== 0)';
  const bit = (x: string) => (top === 31 ? `((${x}) < 0)` : `((((${x}) >>> ${top}) & 1) !== 0)`);
  switch (s.kind) {
    case 'arith': {
      const cf = s.sub ? bit('(~fa & fb) | ((~fa | fb) & fr)') : bit('(fa & fb) | ((fa | fb) & ~fr)');
      const of = s.sub ? bit('(fa ^ fb) & (fa ^ fr)') : bit('(fa ^ fr) & (fb ^ fr)');
      return { cf, zf, sf, of, pf };
    }
    case 'incdec':
      return { cf: '((c.flags & 1) !== 0)', zf, sf, of: s.sub ? bit('(fa ^ 1) & (fa ^ fr)') : bit('(fa ^ fr) & (1 ^ fr)'), pf };
    case 'logic':
      return { cf: 'false', zf, sf, of: 'false', pf };
    case 'result':
      return { cf: '((c.flags & 1) !== 0)', zf, sf, of: `((c.flags & ${OF}) !== 0)`, pf };
  }
}

/**
 * Condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc) as a boolean
 * expression: from fa/fb/fr when the record is known, else through the Cpu's
 * flag getters as the handlers do.
 */
export function condExpr(cc: number, s: FlagState): string {
  const neg = (cc & 1) !== 0;
  let r: string;
  if (s === null) {
    r = [
      'c.of()', '(c.cf() !== 0)', 'c.zf()', '(c.cf() !== 0 || c.zf())',
      'c.sf()', 'c.pf()', '(c.sf() !== c.of())', '(c.zf() || c.sf() !== c.of())',
    ][cc >> 1];
  } else {
    const f = flagExprs(s);
    const generic = [f.of, f.cf, f.zf, `(${f.cf} || ${f.zf})`, f.sf, f.pf, `(${f.sf} !== ${f.of})`, `(${f.zf} || ${f.sf} !== ${f.of})`];
    let special: (string | null)[] = [];
    // 32-bit SUB/CMP and ADD, and logic results: the comparisons the flags stand for.
    if (s.top === 31 && s.kind === 'arith' && (s.op === 5 || s.op === CMP)) {
      special = [null, '((fa >>> 0) < (fb >>> 0))', null, '((fa >>> 0) <= (fb >>> 0))', null, null, '((fa | 0) < (fb | 0))', '((fa | 0) <= (fb | 0))'];
    } else if (s.top === 31 && s.kind === 'arith' && s.op === 0) {
      special = [null, '((fr >>> 0) < (fa >>> 0))', null, '((fr >>> 0) < (fa >>> 0) || fr === 0)'];
    } else if (s.top === 31 && s.kind === 'logic') {
      special = ['false', 'false', null, '(fr === 0)', null, null, '(fr < 0)', '(fr <= 0)'];
    }
    r = special[cc >> 1] ?? generic[cc >> 1];
  }
  return neg ? `!${r}` : r;
}

/** CF as 0/1, for ADC/SBB. */
function carryExpr(s: FlagState): string {
  if (s === null) return 'c.cf()';
  if (s.kind === 'logic') return '0';
  if (s.kind === 'incdec' || s.kind === 'result') return '(c.flags & 1)';
  return `(${condExpr(2, s)} ? 1 : 0)`;
}

const readsCpu = (x: string): boolean => x.includes('c.');

// ------------------------------------------------------------------ templates

interface Options {
  flags: FlagEffect;
  flagCode?: string;
  fault?: boolean;
  mem?: boolean;
  reads?: boolean;
  branch?: boolean;
}

function make(name: string, code: string, o: Options): Emitted {
  return {
    name, code, flagCode: o.flagCode ?? '', fault: o.fault ?? false, mem: o.mem ?? false, reads: o.reads ?? false,
    branch: o.branch ?? false, flags: o.flags,
  };
}

/** r/m operand read: the expression and the statements before it. */
interface Operand {
  pre: string;
  expr: string;
  mem: boolean;
}

function readRm(i: Insn, size: Size): Operand {
  if (i.mod === 3) return { pre: '', expr: regRef(size, i.rm), mem: false };
  return { pre: `const off = ${eaExpr(i)};`, expr: readExpr(size, i.seg, 'off'), mem: true };
}

const F = FLAG_STORES;

/** ALU op `op` (0..7) in form EG (r/m, reg), GE (reg, r/m), EI (r/m, imm), AI (acc, imm), as alu.ts's generator. */
function alu(i: Insn, op: number, form: 'EG' | 'GE' | 'EI' | 'AI', size: Size, s: FlagState): Emitted {
  const top = topOf(size);
  const carry = op === 2 || op === 3 ? carryExpr(s) : '';
  // ADC/SBB take CF from the record before it is replaced.
  const cy = carry ? `const cy = ${carry}; ` : '';
  const expr = ['fa + fb', 'fa | fb', 'fa + fb + cy', 'fa - fb - cy', 'fa & fb', 'fa - fb', 'fa ^ fb', 'fa - fb'][op];
  const compute = `fr = ${fit(size, expr)};`;
  const flagCode = LOGIC[op] ? storeLogic(top) : storeArith(top, SUB[op]);
  const store = op !== CMP;
  const name = `${ALU_NAMES[op]}_${form}${size * 8}${form === 'AI' ? '' : i.mod === 3 ? 'r' : 'm'}`;
  const effect: FlagState = LOGIC[op] ? { kind: 'logic', top } : { kind: 'arith', op, sub: SUB[op], top };
  let code: string;
  let mem = false;
  switch (form) {
    case 'EG':
    case 'EI': {
      const src = form === 'EG' ? regRef(size, i.reg) : String(i.imm);
      if (i.mod === 3) {
        const dst = regRef(size, i.rm);
        code = `${cy}fb = ${src}; fa = ${dst}; ${compute} ${F}${store ? ` ${dst} = fr;` : ''}`;
      } else if (store) {
        mem = true;
        const m = rmw(size, i.seg, 'off', 'fa');
        code = `${cy}const off = ${eaExpr(i)}; ${m.pre} fb = ${src};
      ${compute} ${m.post('fr')} ${F}`;
      } else {
        mem = true;
        code = `const off = ${eaExpr(i)}; fa = ${readExpr(size, i.seg, 'off')}; fb = ${src}; ${compute} ${F}`;
      }
      break;
    }
    case 'GE': {
      const dst = regRef(size, i.reg);
      const b = readRm(i, size);
      mem = b.mem;
      code = `${cy}${b.pre} fb = ${b.expr}; fa = ${dst}; ${compute} ${F}${store ? ` ${dst} = fr;` : ''}`;
      break;
    }
    default: {
      const acc = regRef(size, 0);
      code = `${cy}fa = ${acc}; fb = ${i.imm}; ${compute} ${F}${store ? ` ${acc} = fr;` : ''}`;
    }
  }
  return make(name, code, { flags: effect, flagCode, fault: mem, mem, reads: readsCpu(carry) });
}

/** TEST: setLogic(top, r/m & src & mask). */
function test(i: Insn, size: Size, src: string, name: string): Emitted {
  const a = readRm(i, size);
  const mask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
  return make(name, `${a.pre} fr = ${a.expr} & ${src} & ${mask}; ${F}`,
    { flags: { kind: 'logic', top: topOf(size) }, flagCode: storeLogic(topOf(size)), fault: a.mem, mem: a.mem });
}

/**
 * INC/DEC (setIncDec): the old record's CF is moved into c.flags when the
 * record is replaced. With the old record known, its CF is computed from
 * fa/fb/fr before they are overwritten; records whose CF is already in
 * c.flags (logic, INC/DEC, shift/multiply results) need nothing.
 */
function incDec(i: Insn, size: Size, sub: number, s: FlagState, dst: string | null): Emitted {
  const top = topOf(size);
  let saveCf = '', keepCf = '';
  if (s === null) {
    keepCf = 'if (c.lazyMask & 1) c.flags = (c.flags & -2) | c.cf(); ';
  } else if (s.kind === 'arith') {
    saveCf = `const cy = ${carryExpr(s)}; `;
    keepCf = 'c.flags = (c.flags & -2) | cy; ';
  }
  const compute = `fr = ${fit(size, sub ? 'fa - 1' : 'fa + 1')};`;
  const flagCode = `${keepCf}c.lazyTop = ${top}; c.lazySub = ${sub}; c.lazyA = fa; c.lazyB = 1; c.lazyRes = fr; c.lazyMask = ${ARITH_FLAGS & ~CF};`;
  const o: Options = { flags: { kind: 'incdec', sub, top }, flagCode, reads: s === null };
  const name = `${sub ? 'dec' : 'inc'}${size * 8}`;
  if (dst !== null) return make(`${name}r`, `${saveCf}fa = ${dst}; ${compute} ${F} ${dst} = fr;`, o);
  const m = rmw(size, i.seg, 'off', 'fa');
  return make(`${name}m`, `${saveCf}const off = ${eaExpr(i)}; ${m.pre}
      ${compute} ${m.post('fr')} ${F}`, { ...o, fault: true, mem: true });
}

/** NOT and NEG (NEG: setArith(top, 1, 0, b, -b)). */
function notNeg(i: Insn, size: Size, neg: boolean): Emitted {
  const top = topOf(size);
  const name = `${neg ? 'neg' : 'not'}${size * 8}${i.mod === 3 ? 'r' : 'm'}`;
  if (!neg) {
    if (i.mod === 3) return make(name, `${regRef(size, i.rm)} = ~${regRef(size, i.rm)};`, { flags: KEEP });
    const m = rmw(size, i.seg, 'off', 'x');
    return make(name, `const off = ${eaExpr(i)}; let x = 0; ${m.pre}
      ${m.post('~x')}`, { flags: KEEP, fault: true, mem: true });
  }
  const compute = `fa = 0; fr = -fb & ${size === 4 ? -1 : size === 2 ? 0xffff : 0xff};`;
  const o: Options = { flags: { kind: 'arith', op: 8, sub: 1, top }, flagCode: storeArith(top, 1) };
  if (i.mod === 3) {
    const r = regRef(size, i.rm);
    return make(name, `fb = ${r}; ${compute} ${F} ${r} = fr;`, o);
  }
  const m = rmw(size, i.seg, 'off', 'fb');
  return make(name, `const off = ${eaExpr(i)}; ${m.pre}
      ${compute} ${m.post('fr')} ${F}`, { ...o, fault: true, mem: true });
}

/** The stack is flat and 32-bit: PUSH/POP can take the inline path (else the handler runs). */
const STACK32 = `SF[${SS}] !== 0 && (c.segAttr[${SS}] & ${ATTR_DB}) !== 0`;

/** push32(v); the handler runs when the stack is not flat and 32-bit. */
function push32(v: string, k: number): string {
  return `if (${STACK32}) { const v = ${v}; const sp = (R[4] - 4) | 0; ${writeStmt(4, SS, 'sp', 'v')} R[4] = sp; } else ${handlerCall(k)}`;
}

/**
 * Shift or rotate of the 32-bit `fa` into `fr` by a count known at compile
 * time (1..31), as shiftOp() does it: the computation and the flag code.
 */
function shiftConst(op: number, n: number): { compute: string; flagCode: string; flags: FlagState; reads: boolean } | null {
  const result: FlagState = { kind: 'result', top: 31 };
  switch (op) {
    case 4: case 6: // SHL/SAL
      return {
        compute: `fr = (fa << ${n}) | 0;`,
        flagCode: storeResult(31, `(((fa >>> ${32 - n}) & 1) ? ${CF} : 0) | ((((fr >>> 31) & 1) ^ ((fa >>> ${32 - n}) & 1)) ? ${OF} : 0)`),
        flags: result, reads: false,
      };
    case 5: // SHR
      return {
        compute: `fr = (fa >>> ${n}) | 0;`,
        flagCode: storeResult(31, `(((fa >>> ${n - 1}) & 1) ? ${CF} : 0) | (((fa >>> 31) & 1) ? ${OF} : 0)`),
        flags: result, reads: false,
      };
    case 7: // SAR
      return { compute: `fr = fa >> ${n};`, flagCode: storeResult(31, `(((fa >> ${n - 1}) & 1) ? ${CF} : 0)`), flags: result, reads: false };
    // Rotates keep SF ZF AF PF: setFlagBits() materializes the record (a read); fr is not the record's result.
    case 0: // ROL
      return {
        compute: `fr = ((fa << ${n}) | (fa >>> ${32 - n})) | 0;`,
        flagCode: `c.setFlagBits(${CFOF}, ((fr & 1) ? ${CF} : 0) | ((((fr >>> 31) & 1) ^ (fr & 1)) ? ${OF} : 0));`,
        flags: null, reads: true,
      };
    case 1: // ROR
      return {
        compute: `fr = ((fa >>> ${n}) | (fa << ${32 - n})) | 0;`,
        flagCode: `c.setFlagBits(${CFOF}, (((fr >>> 31) & 1) ? ${CF} : 0) | ((((fr >>> 31) & 1) ^ ((fr >>> 30) & 1)) ? ${OF} : 0));`,
        flags: null, reads: true,
      };
    default:
      return null;
  }
}

/**
 * SHL/SAL, SHR, SAR of a 16- or 8-bit `fa` (zero-extended) into `fr` by a
 * count known at compile time (1..31), as shiftOp() does it; null for rotates.
 */
function shiftConstSmall(op: number, n: number, size: 1 | 2): { compute: string; flagCode: string; flags: FlagState } | null {
  const w = size * 8, top = w - 1, mask = size === 2 ? 0xffff : 0xff;
  const flags: FlagState = { kind: 'result', top };
  switch (op) {
    case 4: case 6: { // SHL/SAL: CF is the last bit shifted out (none past the width), OF = MSB ^ CF
      const cf = n > w ? '0' : `((fa >>> ${w - n}) & 1)`;
      return { compute: `fr = (fa << ${n}) & ${mask};`, flagCode: storeResult(top, `(${cf} ? ${CF} : 0) | ((((fr >>> ${top}) & 1) ^ ${cf}) ? ${OF} : 0)`), flags };
    }
    case 5: { // SHR: OF is the operand's MSB
      const cf = n > w ? '0' : `((fa >>> ${n - 1}) & 1)`;
      return { compute: `fr = (fa >>> ${n}) & ${mask};`, flagCode: storeResult(top, `(${cf} ? ${CF} : 0) | (((fa >>> ${top}) & 1) ? ${OF} : 0)`), flags };
    }
    case 7: { // SAR of the sign-extended operand
      const sa = `((fa << ${32 - w}) >> ${32 - w})`;
      return { compute: `fr = (${sa} >> ${n}) & ${mask};`, flagCode: storeResult(top, `(((${sa} >> ${n - 1}) & 1) ? ${CF} : 0)`), flags };
    }
    default:
      return null;
  }
}

/** 32x32 -> 64 products into `lo`/`hi` (muldiv.ts's mulU32 / mulS32, the same arithmetic). */
function mulCode(signed: boolean, a: string, b: string): string {
  const u = `const ua = ${a} >>> 0, ub = ${b} >>> 0;
      const aLo = ua & 0xffff, aHi = ua >>> 16, bLo = ub & 0xffff, bHi = ub >>> 16;
      const ll = aLo * bLo, lh = aLo * bHi, hl = aHi * bLo, hh = aHi * bHi;
      const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
      const lo = ((mid << 16) | (ll & 0xffff)) | 0;
      let hi = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;`;
  if (!signed) return u;
  return `${u} if (${a} < 0) hi -= ${b}; if (${b} < 0) hi -= ${a}; hi |= 0;`;
}

/** F7 /4../6 with a 32-bit operand: MUL, IMUL, and DIV's common case (register divisor, EDX = 0). */
function mulDiv32(i: Insn, k: number): Emitted | null {
  const a = readRm(i, 4);
  const o: Options = { flags: { kind: 'result', top: 31 }, fault: a.mem, mem: a.mem };
  switch (i.reg) {
    case 4:
      return make(`mul32${a.mem ? 'm' : 'r'}`, `${a.pre} const src = ${a.expr}; const acc = R[0]; ${mulCode(false, 'acc', 'src')}
      R[0] = lo; R[2] = hi; fr = lo; ${F}`, { ...o, flagCode: storeResult(31, `(hi !== 0 ? ${CFOF} : 0)`) });
    case 5:
      return make(`imul1_32${a.mem ? 'm' : 'r'}`, `${a.pre} const src = ${a.expr}; const acc = R[0]; ${mulCode(true, 'acc', 'src')}
      R[0] = lo; R[2] = hi; fr = lo; ${F}`, { ...o, flagCode: storeResult(31, `(hi !== lo >> 31 ? ${CFOF} : 0)`) });
    case 6:
      // A memory divisor only where a miss leaves the compiled code: the handler reads it again (from RAM, then).
      if (i.mod !== 3 && !exitsAt(i.seg)) return null;
      // The handler's EDX = 0 path; a zero divisor or a 64-bit dividend runs the handler. The quotient is the
      // handler's Math.floor(lo / du), exact for 32-bit operands; lo - q * du is then exactly its lo % du,
      // without the floating-point remainder V8 uses for operands above 2^31.
      return make(`div32${a.mem ? 'm' : 'r'}`, `${a.pre} const du = ${a.expr} >>> 0; if (du !== 0 && R[2] === 0) { const lo = R[0] >>> 0; const q = Math.floor(lo / du); R[0] = q; R[2] = lo - q * du; }
      else ${handlerCall(k)}`, { flags: KEEP, fault: true, mem: a.mem });
    default:
      return null;
  }
}

/** IMUL r32, r/m32 (0F AF) and IMUL r32, r/m32, imm (69, 6B): imulTrunc(). */
function imul(i: Insn, form: 'rm' | 'imm'): Emitted {
  const b = readRm(i, 4);
  const pre = form === 'rm' ? `const y = ${b.expr}; const x = R[${i.reg}];` : `const x = ${b.expr}; const y = ${i.imm | 0};`;
  // The product overflows 32 bits exactly when its double differs from the truncated one: a double is exact up to
  // 2^53, and beyond that it cannot equal a 32-bit value.
  return make(`imul${form === 'rm' ? 2 : 3}_32${b.mem ? 'm' : 'r'}`, `${b.pre} ${pre} const lo = Math.imul(x, y);
      fr = lo; ${F} R[${i.reg}] = lo;`,
  { flags: { kind: 'result', top: 31 }, flagCode: storeResult(31, `((x | 0) * (y | 0) !== lo ? ${CFOF} : 0)`), fault: b.mem, mem: b.mem });
}

/** jumpNear(): a target past the CS limit is #GP(0) at the branch. */
function branchTo(target: string): string {
  return `${csLimitCheck(target)} c.eip = ${target};`;
}

/**
 * Whether the block being emitted runs under a 4 GiB code segment. A block
 * only runs under the CS limit it was decoded with (`Block.csLimit`: the block
 * lookup compares it, a CS load that changes it drops the links), and no
 * target is past 0xFFFFFFFF, so its branches need no limit check.
 */
let flatCode = false;

export function setEmitCsLimit(csLimit: number): void {
  flatCode = csLimit >>> 0 === 0xffffffff;
}

/** The #GP(0) check of a branch target against the CS limit. */
function csLimitCheck(target: string): string {
  return flatCode ? '' : `if ((${target} >>> 0) > (c.segLimit[${CS}] >>> 0)) { ${SLOW}; c.gp(0); }`;
}

/**
 * The template for instruction `i` (index `k` in its block, `last` if it ends
 * it), or null when its handler must run. `s` is the flag knowledge before it.
 */
export function emitInsn(i: Insn, k: number, last: boolean, s: FlagState): Emitted | null {
  if (!standardHandler(i)) return null;
  const op = i.op;
  const v: Size = i.o32 ? 4 : 2;
  // ALU 00-3F
  if (op < 0x40 && (op & 7) < 6) {
    const aluOp = op >> 3;
    switch (op & 7) {
      case 0: return alu(i, aluOp, 'EG', 1, s);
      case 1: return alu(i, aluOp, 'EG', v, s);
      case 2: return alu(i, aluOp, 'GE', 1, s);
      case 3: return alu(i, aluOp, 'GE', v, s);
      case 4: return alu(i, aluOp, 'AI', 1, s);
      default: return alu(i, aluOp, 'AI', v, s);
    }
  }
  if (op >= 0x40 && op <= 0x4f) return incDec(i, v, (op >> 3) & 1, s, regRef(v, op & 7));
  if (op >= 0x50 && op <= 0x57) return i.o32 ? make('push_r32', push32(`R[${op & 7}]`, k), { flags: KEEP, fault: true, mem: true }) : null;
  if (op >= 0x58 && op <= 0x5f) {
    if (!i.o32) return null;
    // pop32(): read, ESP += 4, then the register (POP ESP ends with the value read).
    const code = `if (${STACK32}) { const off = R[4]; const v = ${readExpr(4, SS, 'off')}; R[4] = off + 4; R[${op & 7}] = v; } else ${handlerCall(k)}`;
    return make('pop_r32', code, { flags: KEEP, fault: true, mem: true });
  }
  if (op >= 0x91 && op <= 0x97) {
    const a = regRef(v, 0), b = regRef(v, op & 7);
    return make(`xchg_acc${v * 8}`, `const t = ${a}; ${a} = ${b}; ${b} = t;`, { flags: KEEP });
  }
  if (op >= 0xb0 && op <= 0xb7) return make('mov_RI8', `R8[${reg8Offset(op & 7)}] = ${i.imm};`, { flags: KEEP });
  if (op >= 0xb8 && op <= 0xbf) return make(`mov_RI${v * 8}`, `${regRef(v, op & 7)} = ${i.imm};`, { flags: KEEP });
  if (op >= 0x190 && op <= 0x19f) {
    const cond = condExpr(op & 15, s);
    if (i.mod === 3) return make('setcc_r', `R8[${i.rm8}] = ${cond} ? 1 : 0;`, { flags: KEEP, reads: readsCpu(cond) });
    return make('setcc_m', `const v = ${cond} ? 1 : 0; const off = ${eaExpr(i)}; ${writeStmt(1, i.seg, 'off', 'v')}`,
      { flags: KEEP, fault: true, mem: true, reads: readsCpu(cond) });
  }
  if (op >= 0x140 && op <= 0x14f) {
    // The source is read (and may fault) whether or not the move happens.
    const a = readRm(i, v);
    const cond = condExpr(op & 15, s);
    return make(`cmov${v * 8}${a.mem ? 'm' : 'r'}`, `${a.pre} const v = ${a.expr}; if (${cond}) ${regRef(v, i.reg)} = v;`,
      { flags: KEEP, fault: a.mem, mem: a.mem, reads: readsCpu(cond) });
  }
  if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
    if (!last) return null;
    const cond = condExpr(op & 15, s);
    return make('jcc', `if (${cond}) { ${branchTo(String(i.imm))} } else c.eip = ${i.next};`,
      { flags: KEEP, fault: !flatCode, branch: true, reads: readsCpu(cond) });
  }
  switch (op) {
    case 0x80: case 0x82: return alu(i, i.reg, 'EI', 1, s);
    case 0x81: case 0x83: return alu(i, i.reg, 'EI', v, s);
    case 0x84: return test(i, 1, regRef(1, i.reg), `test_EG8${i.mod === 3 ? 'r' : 'm'}`);
    case 0x85: return test(i, v, regRef(v, i.reg), `test_EG${v * 8}${i.mod === 3 ? 'r' : 'm'}`);
    case 0xa8:
      return make('test_AI8', `fr = R8[0] & ${i.imm}; ${F}`, { flags: { kind: 'logic', top: 7 }, flagCode: storeLogic(7) });
    case 0xa9:
      return make(`test_AI${v * 8}`, `fr = ${regRef(v, 0)} & ${i.imm}; ${F}`, { flags: { kind: 'logic', top: topOf(v) }, flagCode: storeLogic(topOf(v)) });
    case 0xf6: case 0xf7: {
      const size: Size = op === 0xf6 ? 1 : v;
      if (i.reg <= 1) return test(i, size, String(i.imm), `test_EI${size * 8}${i.mod === 3 ? 'r' : 'm'}`);
      if (i.reg <= 3) return notNeg(i, size, i.reg === 3);
      return op === 0xf7 && i.o32 ? mulDiv32(i, k) : null;
    }
    case 0xfe: case 0xff: {
      if (i.reg > 1) return null;
      const size: Size = op === 0xfe ? 1 : v;
      return incDec(i, size, i.reg, s, i.mod === 3 ? regRef(size, i.rm) : null);
    }
    case 0x88: case 0x89: {
      const size: Size = op === 0x88 ? 1 : v;
      if (i.mod === 3) return make(`mov_EG${size * 8}r`, `${regRef(size, i.rm)} = ${regRef(size, i.reg)};`, { flags: KEEP });
      return make(`mov_EG${size * 8}m`, `const off = ${eaExpr(i)}; ${writeStmt(size, i.seg, 'off', regRef(size, i.reg))}`, { flags: KEEP, fault: true, mem: true });
    }
    case 0x8a: case 0x8b: {
      const size: Size = op === 0x8a ? 1 : v;
      const a = readRm(i, size);
      return make(`mov_GE${size * 8}${a.mem ? 'm' : 'r'}`, `${a.pre} ${regRef(size, i.reg)} = ${a.expr};`, { flags: KEEP, fault: a.mem, mem: a.mem });
    }
    case 0xc6: case 0xc7: {
      const size: Size = op === 0xc6 ? 1 : v;
      if (i.mod === 3) return make(`mov_EI${size * 8}r`, `${regRef(size, i.rm)} = ${i.imm};`, { flags: KEEP });
      return make(`mov_EI${size * 8}m`, `const off = ${eaExpr(i)}; ${writeStmt(size, i.seg, 'off', String(i.imm))}`, { flags: KEEP, fault: true, mem: true });
    }
    case 0xa0: case 0xa1: {
      // MOV AL/eAX, moffs: the offset is `disp`.
      const size: Size = op === 0xa0 ? 1 : v;
      return make(`mov_load_moffs${size * 8}`, `const off = ${i.disp}; ${regRef(size, 0)} = ${readExpr(size, i.seg, 'off')};`, { flags: KEEP, fault: true, mem: true });
    }
    case 0xa2: case 0xa3: {
      const size: Size = op === 0xa2 ? 1 : v;
      return make(`mov_store_moffs${size * 8}`, `const off = ${i.disp}; ${writeStmt(size, i.seg, 'off', regRef(size, 0))}`, { flags: KEEP, fault: true, mem: true });
    }
    case 0x8d:
      return make(`lea${v * 8}`, `${regRef(v, i.reg)} = ${eaExpr(i)};`, { flags: KEEP });
    case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: {
      const src: Size = op & 1 ? 2 : 1;
      const a = readRm(i, src);
      let x = a.expr;
      if (op === 0x1be) x = `(${x} << 24) >> 24`;
      else if (op === 0x1bf && v === 4) x = `(${x} << 16) >> 16`;
      return make(`${op < 0x1b8 ? 'movzx' : 'movsx'}${v * 8}_${src * 8}${a.mem ? 'm' : 'r'}`, `${a.pre} ${regRef(v, i.reg)} = ${x};`,
        { flags: KEEP, fault: a.mem, mem: a.mem });
    }
    case 0x87: {
      if (i.mod !== 3) return null;
      const a = regRef(v, i.reg), b = regRef(v, i.rm);
      return make(`xchg${v * 8}r`, `const t = ${a}; ${a} = ${b}; ${b} = t;`, { flags: KEEP });
    }
    case 0x90:
      return make('nop', '', { flags: KEEP });
    case 0x98:
      return make(`cbw${v * 8}`, v === 4 ? 'R[0] = (R16[0] << 16) >> 16;' : 'R16[0] = (R8[0] << 24) >> 24;', { flags: KEEP });
    case 0x99:
      return make(`cwd${v * 8}`, v === 4 ? 'R[2] = R[0] >> 31;' : 'R16[4] = (R16[0] & 0x8000) !== 0 ? 0xffff : 0;', { flags: KEEP });
    case 0x68: case 0x6a:
      return i.o32 ? make('push_imm32', push32(String(i.imm), k), { flags: KEEP, fault: true, mem: true }) : null;
    case 0xc9: {
      if (!i.o32) return null;
      const code = `if (${STACK32}) { const off = R[5]; const v = ${readExpr(4, SS, 'off')}; R[4] = off + 4; R[5] = v; } else ${handlerCall(k)}`;
      return make('leave32', code, { flags: KEEP, fault: true, mem: true });
    }
    case 0xc0: case 0xd0: case 0xc1: case 0xd1: {
      // Shifts and rotates of r/m by imm8 or 1: a masked count of 0 changes nothing (the memory form still probes).
      const size: Size = op === 0xc0 || op === 0xd0 ? 1 : v;
      if (size !== 4) {
        const n = (op === 0xc0 || op === 0xc1 ? i.imm : 1) & 31;
        const sh = n === 0 ? null : shiftConstSmall(i.reg, n, size);
        if (sh === null) return null;
        const name = `${['', '', '', '', 'shl', 'shr', 'shl', 'sar'][i.reg]}${size * 8}${i.mod === 3 ? 'r' : 'm'}`;
        const o: Options = { flags: sh.flags, flagCode: sh.flagCode };
        if (i.mod === 3) return make(name, `fa = ${regRef(size, i.rm)}; ${sh.compute} ${F} ${regRef(size, i.rm)} = fr;`, o);
        const m = rmw(size, i.seg, 'off', 'fa');
        return make(name, `const off = ${eaExpr(i)}; ${m.pre}
      ${sh.compute} ${F} ${m.post('fr')}`, { ...o, fault: true, mem: true });
      }
      const n = (op === 0xd1 ? 1 : i.imm) & 31;
      if (n === 0) return i.mod === 3 ? make('shift_count0', '', { flags: KEEP }) : null;
      const sh = shiftConst(i.reg, n);
      if (sh === null) return null;
      const name = `${['rol', 'ror', '', '', 'shl', 'shr', 'shl', 'sar'][i.reg]}32${i.mod === 3 ? 'r' : 'm'}`;
      const o: Options = { flags: sh.flags, flagCode: sh.flagCode, reads: sh.reads };
      if (i.mod === 3) return make(name, `fa = R[${i.rm}]; ${sh.compute} ${F} R[${i.rm}] = fr;`, o);
      // The handler records the flags, then writes (the write cannot fault: its page was probed).
      const m = rmw(4, i.seg, 'off', 'fa');
      return make(name, `const off = ${eaExpr(i)}; ${m.pre}
      ${sh.compute} ${F} ${m.post('fr')}`, { ...o, fault: true, mem: true });
    }
    case 0xd3: {
      // SHL/SHR/SAL/SAR r32, CL.
      if (!i.o32 || i.mod !== 3 || i.reg < 4) return null;
      const flagCode = i.reg === 5
        ? storeResult(31, `(((fa >>> (n - 1)) & 1) ? ${CF} : 0) | (((fa >>> 31) & 1) ? ${OF} : 0)`)
        : i.reg === 7
          ? storeResult(31, `(((fa >> (n - 1)) & 1) ? ${CF} : 0)`)
          : storeResult(31, `(((fa >>> (32 - n)) & 1) ? ${CF} : 0) | ((((fr >>> 31) & 1) ^ ((fa >>> (32 - n)) & 1)) ? ${OF} : 0)`);
      const compute = i.reg === 5 ? 'fr = (fa >>> n) | 0;' : i.reg === 7 ? 'fr = fa >> n;' : 'fr = (fa << n) | 0;';
      // A zero count changes nothing, fa/fb/fr included: what the record holds is then known only at run time.
      // Its flag stores are not separable (they are conditional), so they stay in the code.
      const name = `${['', '', '', '', 'shl', 'shr', 'shl', 'sar'][i.reg]}32cl`;
      return make(name, `const n = R8[4] & 31; if (n !== 0) { fa = R[${i.rm}]; ${compute} ${flagCode} R[${i.rm}] = fr; }`, { flags: null });
    }
    case 0x1af:
      return i.o32 ? imul(i, 'rm') : null;
    case 0x69: case 0x6b:
      return i.o32 ? imul(i, 'imm') : null;
    case 0xeb: case 0xe9:
      return last ? make('jmp', branchTo(String(i.imm)), { flags: KEEP, fault: !flatCode, branch: true }) : null;
    case 0xe8: {
      if (!last || !i.o32) return null;
      const code = `${csLimitCheck(String(i.imm))}
      if (${STACK32}) { const v = ${i.next}; const sp = (R[4] - 4) | 0; ${writeStmt(4, SS, 'sp', 'v')} R[4] = sp; c.eip = ${i.imm}; }
      else { c.eip = ${i.next}; ${handlerCall(k)} }`;
      return make('call32', code, { flags: KEEP, fault: true, mem: true, branch: true });
    }
    case 0xc3: {
      if (!last || !i.o32) return null;
      const code = `if (${STACK32}) { const off = R[4]; const t = ${readExpr(4, SS, 'off')} | 0;
      ${csLimitCheck('t')} R[4] = off + 4; c.eip = t; }
      else { c.eip = ${i.next}; ${handlerCall(k)} }`;
      return make('ret32', code, { flags: KEEP, fault: true, mem: true, branch: true });
    }
  }
  return null;
}
