/**
 * Block compiler.
 *
 * A block that has run `hotThreshold` times is turned into one JavaScript
 * function. Stage one made it call each instruction's handler directly, in
 * order. Stage two (jit-emit.ts) emits the most frequent instruction forms
 * inline, operands folded in as constants, and calls the handler for the
 * rest; it leaves out flag stores that are provably dead; and it compiles a
 * loop (the block itself, or a few blocks the run loop has seen lead back to
 * it) into the one function, which goes round the loop itself as long as the
 * run loop would. Either way, the function runs the instructions exactly as
 * the interpreter would.
 *
 * Contract with the run loop (the interpreter's inner loop does the same for
 * one block):
 * - `cpu.currentBlock` is the block running or one on the same frame (a
 *   write to the frame must abort the block): the run loop sets it, the
 *   function updates it when it goes on into a block of its region on
 *   another frame, and when it returns or faults;
 * - the function returns the number of instructions retired by the last
 *   block it ran (those of the blocks before were added to `icount`);
 * - EIP is stored before a block's last instruction runs, or after the
 *   instruction at which `blockAbort` was raised (self-modifying code, a
 *   device's stop request), which ends the function;
 * - on a fault it records the index of the faulting instruction in
 *   `currentBlock` in `cpu.faultIndex` and rethrows, so the run loop can
 *   rewind EIP. Everything the instructions before it did is committed
 *   (registers, flags, memory); the faulting one committed nothing.
 */
import { setFlagsFromString } from 'node:v8';
import type { Cpu } from './cpu.js';
import type { Block } from './decoder.js';
import { Emitted, emitInsn, FLAG_STORES, FlagState, KEEP, RELOAD, setEmitCsLimit, setEmitSlowPaths, SLOW } from './jit-emit.js';
import { CS } from './constants.js';
import { PARITY, TLB_NOT_RAM, TLB_NX, TLB_USER, TLB_VALID } from './cpu.js';

/**
 * Executions of a block before it is compiled. A new function starts in V8's
 * bytecode interpreter and only beats our interpreter loop once V8 has
 * optimized it, so only blocks that will run many more times are worth it.
 * On the Linux boot, with side exits and registers in locals, 8000 beat 2000
 * in five boots out of five (by 1 to 7 s of some 40 to 60), and 20000 was no
 * better than 8000; the kernel's initialization compiles about 1,750 blocks
 * at 2000, each costing TurboFan some 7 ms on its thread.
 */
export const HOT_THRESHOLD = 8000;

/**
 * Executions of a block before it is compiled again, with the loop it heads
 * (see `regionOf`); until then its function runs it alone (and loops on it
 * if it loops onto itself). A region costs V8 more to compile and runs
 * unoptimized for longer, which only the hottest loops pay back: on the
 * Linux boot, regions from the first compile sped the kernel's XZ
 * decompression up by some 15% and slowed the kernel's initialization down
 * by about as much.
 */
export const REGION_THRESHOLD = 50_000;

/**
 * V8 keeps a function in its bytecode interpreter and baseline code until it
 * has spent its interrupt budget 3 + (bytecode length / 150) times: some 450
 * calls for a large function, whatever its size. A compiled block is hot
 * already, and its function runs to kilobytes of bytecode (a region to tens),
 * so that wait cost the Linux boot a tenth of its time in baseline code. With
 * the allowance per tick raised past any function's length, every function
 * is considered for optimization after 3 ticks: in 8 alternating pairs of
 * boots the median fell from 42.1 to 35.0 s (faster in 7 pairs). V8 reads
 * the flag at each tick, so setting it once the process runs takes effect.
 */
setFlagsFromString('--bytecode-size-allowance-per-tick=100000');

/** The compile thresholds in force (tests set 1: every block is compiled before its first run). */
export let hotThreshold = HOT_THRESHOLD;
export let regionThreshold = REGION_THRESHOLD;

/** Set the compile threshold, and the one for regions (by default the same: regions from the first compile). */
export function setHotThreshold(n: number, region = n): void {
  for (const x of [n, region]) if (!Number.isInteger(x) || x < 1) throw new Error(`hot threshold ${x} is not a positive integer`);
  hotThreshold = n;
  regionThreshold = Math.max(n, region);
}

export interface JitOptions {
  /** Instruction templates (off: every instruction calls its handler, as stage one did). */
  inline: boolean;
  /** Leave out flag-record stores that a later instruction of the block replaces unobserved. */
  dropDeadFlags: boolean;
  /** Compile a block together with the blocks the run loop has linked it to, see `regionSource`. */
  regions: boolean;
  /** At most this many blocks, and instructions, in one compiled region. */
  maxRegionBlocks: number;
  maxRegionInsns: number;
  /** Keep the guest's 32-bit registers in locals of the compiled function, see `regionSource`. */
  registerLocals: boolean;
  /** Put flag-record stores off until something may look at the record (see blockCode). */
  deferFlags: boolean;
  /** Leave the compiled code where an access misses its inline path (see jit-emit's `setEmitSlowPaths`). */
  sideExits: boolean;
}

/**
 * The defaults. On the Linux boot, the XZ decompression took 40% longer with
 * regions of up to 32 blocks (400 instructions) than with regions of 8, and
 * 70% longer with 64: V8's code for the larger functions is slower, and it
 * comes later.
 */
const options: JitOptions = { inline: true, dropDeadFlags: true, regions: true, maxRegionBlocks: 8, maxRegionInsns: 160, registerLocals: true, deferFlags: true, sideExits: true };

/**
 * Set some of stage two's options (tests and benchmarks compare settings);
 * they apply to blocks compiled from then on. Returns the options as they were.
 */
export function setJitOptions(o: Partial<JitOptions>): JitOptions {
  const old = { ...options };
  Object.assign(options, o);
  return old;
}

/**
 * A compiled block (with its region): runs until the run loop would have to
 * do something other than run the next block of the region; returns the
 * instructions retired by the last block it ran, which it leaves in
 * `cpu.currentBlock` (the ones before were added to `icount`). `target` is
 * the run loop's instruction count target.
 */
export type CompiledBlock = (c: Cpu, target: number) => number;

/** What the compiler has done: blocks, instructions emitted inline and by handler call, uses of each template. */
export const jitStats = {
  blocks: 0,
  /** Blocks compiled into another block's region (counted again in `inline` and `fallback`). */
  regionBlocks: 0,
  /** Compiles that reused the function of an identical earlier one. */
  reused: 0,
  inline: 0,
  fallback: 0,
  templates: new Map<string, number>(),
  reset(): void {
    this.blocks = this.regionBlocks = this.reused = this.inline = this.fallback = 0;
    this.templates.clear();
  },
};

/** Test seam: when set, every compiled function is passed through it (to count its runs, say). */
export const jitHooks: { wrap: ((fn: CompiledBlock, b: Block) => CompiledBlock) | null } = { wrap: null };

let serial = 0;

/**
 * Opcodes that touch no memory when their ModRM names a register (or that have
 * no memory operand at all): after them `blockAbort` cannot have been raised,
 * since only memory writes (self-modifying code, A/D-bit updates of page
 * tables) and device accesses raise it. Anything not listed is checked.
 */
const REGISTER_ONLY = new Set<number>([
  // ALU r/m forms and their AL/eAX, imm forms
  ...[0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38].flatMap((b) => [b, b + 1, b + 2, b + 3, b + 4, b + 5]),
  0x27, 0x2f, 0x37, 0x3f, // DAA DAS AAA AAS
  ...range(0x40, 0x4f), // INC/DEC r
  0x69, 0x6b, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b,
  ...range(0x90, 0x99), 0x9e, 0x9f, 0xa8, 0xa9, ...range(0xb0, 0xbf),
  0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
  0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfc, 0xfd, 0xfe,
  ...range(0x140, 0x14f), ...range(0x190, 0x19f), // CMOVcc, SETcc
  0x1a3, 0x1a4, 0x1a5, 0x1ab, 0x1ac, 0x1ad, 0x1af, 0x1b0, 0x1b1, 0x1b3, 0x1b6, 0x1b7,
  0x1ba, 0x1bb, 0x1bc, 0x1bd, 0x1be, 0x1bf, 0x1c0, 0x1c1, ...range(0x1c8, 0x1cf),
]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

/** Thrown by a compiled function's access that misses the inline path (see jit-emit's `setEmitSlowPaths`). */
const SIDE_EXIT = { sideExit: true };

function sideExit(): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- a token, as cpu.ts's FAULT: no stack to capture
  throw SIDE_EXIT;
}

/**
 * Side exits of a block's function after which it is compiled again with the
 * slow paths inline: a block whose accesses keep missing the inline path
 * (MMIO, unaligned data) is better off calling the slow path in place.
 */
const SIDE_EXIT_LIMIT = 64;

/** Names the generated code may use, and what they are bound to at the top of the function. */
const HOISTED: [string, string][] = [
  ['R16', 'c.regs16'], ['R8', 'c.regs8'], ['T', 'c.tlb'], ['SF', 'c.segFlat'],
  ['M8', 'c.u8'], ['M16', 'c.u16'], ['M32', 'c.i32'],
  // The TLB permission masks change with the CPL or the mode: only block-ending instructions change them, and a
  // region goes on into another block only if no handler ran.
  ['RM', 'c.rdMask'], ['RW', 'c.rdWant'], ['WM', 'c.wrMask'], ['WW', 'c.wrWant'],
];

/**
 * Whether each instruction's flag-record stores must be kept. The stores of a
 * template are dead when a later template in the block replaces the whole
 * record (any arithmetic, logic, shift or multiply result: only INC/DEC keep
 * a part, CF) and nothing between can observe the record: no fault (the
 * faulting instruction must find the flags of the one before), no exit on
 * `blockAbort`, no handler call, no template reading the record from the Cpu,
 * and not the end of the block.
 */
function liveFlagStores(ems: (Emitted | null)[]): boolean[] {
  const n = ems.length;
  const live = new Array<boolean>(n).fill(true);
  if (!options.dropDeadFlags) return live;
  /** The record is replaced, unobserved, after this point. */
  let replaced = false;
  for (let k = n - 1; k >= 0; k--) {
    const em = ems[k];
    if (k === n - 1 || em === null) {
      replaced = false;
    } else if (em.mem) {
      replaced = false; // the block may return right after it (blockAbort)
    }
    if (em === null) continue;
    live[k] = !replaced;
    if (em.fault || em.reads) replaced = false;
    else if (em.flags === KEEP) continue;
    else replaced = em.flags !== null && em.flags.kind !== 'incdec';
  }
  return live;
}

/** Where a region's code is: CS's base and the CPL it was compiled under, and the TLB entry of each page but the first. */
export interface RegionPlace {
  csBase: number;
  cpl: number;
  pages: { page: number; entry: number }[];
}

/** The machine frame a block starts in (its key is its machine address * 2 + the code size bit). */
function frameOf(x: Block): number {
  return Math.floor(x.key / 8192);
}

/** The bits of a TLB entry that decide what an instruction fetch finds there: the frame, and whether it may fetch. */
function fetchEntry(e: number): number {
  // (Not a module constant: cpu.ts, which defines the bits, imports this module.)
  return e & (~0xfff | TLB_VALID | TLB_USER | TLB_NOT_RAM | TLB_NX);
}

/**
 * The blocks compiled together with `b`: the loop through `b`, if the run
 * loop's links show one. Candidates are the blocks linked from `b` (each
 * block keeps links to its last two successors), theirs, and so on, breadth
 * first up to the size limits, that are now the code at their address (the
 * TLB maps their page to their frame) and were decoded under the same CS;
 * of these, the region keeps the ones on a path from `b` back to `b`. So a
 * loop whose body is a few blocks (an if/else inside it, say) runs in one
 * function.
 *
 * While the function runs, `b` is the code at its address (the run loop
 * found it there). The others are the code at theirs as long as CS's base
 * and the pages' TLB entries are the ones at compile time, which the
 * function checks when it starts, unless `chainGen` is the one of its last
 * check (a mapping of a page of code cannot change without a bump), and as
 * long as they are valid.
 */
export function regionOf(b: Block, cpu: Cpu, withRegion = true): { region: Block[]; place: RegionPlace } {
  const csBase = cpu.segBase[CS];
  const place: RegionPlace = { csBase, cpl: cpu.cpl, pages: [] };
  if (!withRegion || !options.regions || b.addr2 >= 0) return { region: [b], place };
  const linOf = (x: Block) => (csBase + x.eip) >>> 0;
  // The code at its address: the TLB maps its linear page to its frame, for fetches.
  const inPlace = (x: Block) => {
    const e = cpu.tlb[linOf(x) >>> 12];
    return x.key % 2 === b.key % 2 && x.addr2 < 0 && x.csLimit === b.csLimit && (linOf(x) & 0xfff) === Math.floor(x.key / 2) % 4096 &&
      (e & (TLB_VALID | TLB_NOT_RAM | TLB_NX)) === TLB_VALID && e >>> 12 === frameOf(x) && (cpu.cpl !== 3 || (e & TLB_USER) !== 0);
  };
  const seen = [b];
  let insns = b.insns.length;
  for (let at = 0; at < seen.length; at++) {
    for (const next of [seen[at].next1, seen[at].next2]) {
      if (next === null || !next.valid || !next.cacheable || seen.includes(next) || !inPlace(next)) continue;
      if (seen.length >= options.maxRegionBlocks || insns + next.insns.length > options.maxRegionInsns) continue;
      seen.push(next);
      insns += next.insns.length;
    }
  }
  // Blocks that lead back to b, found backwards from b.
  const back = new Set<Block>([b]);
  for (let grew = true; grew;) {
    grew = false;
    for (const x of seen) {
      if (back.has(x)) continue;
      if ((x.next1 !== null && back.has(x.next1)) || (x.next2 !== null && back.has(x.next2))) {
        back.add(x);
        grew = true;
      }
    }
  }
  // ... and that b leads to (every candidate does: it was found from b).
  const region = seen.filter((x) => back.has(x));
  const first = linOf(b) >>> 12;
  for (const x of region) {
    const page = linOf(x) >>> 12;
    if (page !== first && !place.pages.some((p) => p.page === page)) place.pages.push({ page, entry: fetchEntry(cpu.tlb[page]) });
  }
  return { region, place };
}

/**
 * Markers in a block's code for the moves between the registers' locals and
 * the Cpu (see `regionSource`, which knows which registers have locals):
 * all of them to the Cpu (an expression list after a comma, and a statement),
 * all of them back from the Cpu (after a handler, `RELOAD`), and one register
 * (its number follows the marker) to and from the Cpu.
 */
const STORE_EXPR = '\u0003';
const STORE_STMT = '\u0005';
const STORE_ONE = '\u0006';
const LOAD_ONE = '\u0007';

/** The locals the generated code keeps the 32-bit registers in. */
const REG_LOCALS = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

/** The registers whose 8- or 16-bit parts `code` reads or writes (R16[2r], R8[4r] or R8[4r + 1]). */
function subRegisters(code: string): { used: number[]; written: number[] } {
  const used = new Set<number>(), written = new Set<number>();
  for (const m of code.matchAll(/\bR(16|8)\[(\d+)\]( = (?!=))?/g)) {
    const r = m[1] === '16' ? Number(m[2]) >> 1 : Number(m[2]) >> 2;
    used.add(r);
    if (m[3] !== undefined) written.add(r);
  }
  return { used: [...used], written: [...written] };
}

/** The code of block `j` of a region: its instructions, then the way on to the next block. */
function blockCode(b: Block, j: number, region: Block[]): { code: string; sideStores: string[] } {
  const n = b.insns.length;
  const ems: (Emitted | null)[] = [];
  let s: FlagState = null;
  setEmitCsLimit(b.csLimit);
  for (let k = 0; k < n; k++) {
    const em: Emitted | null = options.inline ? emitInsn(b.insns[k], k, k === n - 1, s) : null;
    ems.push(em);
    s = em === null ? null : em.flags === KEEP ? s : em.flags;
  }
  const live = liveFlagStores(ems);
  // The blocks of the region that may run next: the ones the run loop has linked this one to.
  const targets = region.filter((x) => x === b.next1 || x === b.next2);
  const loops = region.length > 1 || targets.length > 0;
  /** Return, retiring `count` instructions of this block (and, in a loop, those of the blocks before it). */
  const exit = (count: number) => !loops ? `{ ${STORE_STMT}return ${count}; }`
    : region.length === 1 ? `{ ${STORE_STMT}c.icount += ic; return ${count}; }` : `{ ${STORE_STMT}c.icount += ic; c.currentBlock = B${j}; return ${count}; }`;
  // The slow path: no more blocks in this call, `icount` as the run loop would have it, and the registers in the
  // Cpu, for what it calls.
  const slow = loops ? `(c.icount += ic, ic = 0, S = 1${STORE_EXPR})` : `(S = 1${STORE_EXPR})`;
  const lines: string[] = [];
  /** The value `k` holds at this point of the code: the index a fault here reports. It is 0 when a block starts. */
  let kNow = 0;
  const setK = (k: number) => {
    if (kNow !== k) lines.push(`k = ${k};`);
    kNow = k;
  };
  /**
   * Flag-record stores put off (statements), and where they must be made: they only read fa/fb/fr, which hold
   * that record until the next flag-setting template replaces it (see `deferrable`).
   */
  let pending = '';
  const flush = () => {
    const f = pending;
    pending = '';
    return f;
  };
  /** The stores each side exit of the block needs (`case k: ...`), for the function's catch. */
  const sideStores: string[] = [];
  for (let k = 0; k < n; k++) {
    const i = b.insns[k];
    const last = k === n - 1;
    const em = ems[k];
    // Handlers and Insns are the factory's parameters h<j>_<k>, i<j>_<k>; the templates say h<k>(c, i<k>).
    const own = (code: string) => code.replace(/\b([hi])(\d+)\b/g, (_, x: string, kk: string) => `${x}${j}_${kk}`);
    if (em !== null) {
      jitStats.inline++;
      jitStats.templates.set(em.name, (jitStats.templates.get(em.name) ?? 0) + 1);
      if (em.fault) setK(k);
      if (last && !em.branch) lines.push(`c.eip = ${i.next};`);
      const sets = em.flags !== KEEP;
      const defer = options.deferFlags && sets && live[k] && deferrable(em);
      // The record goes to the Cpu first for a template that reads it there (INC/DEC keep its CF), that calls a
      // handler, or whose own stores are made in place (they may replace only part of it).
      if (em.reads || em.code.includes(`h${k}(c, i${k})`) || (em.flags !== KEEP && em.flags?.kind === 'incdec') || (sets && live[k] && !defer)) {
        lines.push(flush());
      }
      if (pending !== '' && em.code.includes('SX()')) sideStores.push(`case ${k}: ${pending} break;`);
      const slowHere = pending === '' ? slow : `${slow.slice(0, -1)}, ${pending.trim().replace(/;$/, '').split(/; */).join(', ')})`;
      const code = own(em.code.replace(FLAG_STORES, live[k] && !defer ? em.flagCode : '')).replaceAll(SLOW, slowHere);
      if (sets) pending = defer ? em.flagCode : '';
      // 8- and 16-bit registers are read and written in the Cpu's arrays: their register's local goes there first,
      // and comes back after a write.
      const sub = subRegisters(code);
      lines.push(`${sub.used.map((r) => `${STORE_ONE}${r}`).join('')}{ ${code} }${sub.written.map((r) => `${LOAD_ONE}${r}`).join('')}`);
      // Only a slow path can raise blockAbort (the inline path never writes a page of code; a side exit leaves).
      if (!last && em.mem && em.code.includes(SLOW)) lines.push(`if (S !== 0 && c.blockAbort === true) { c.eip = ${i.next}; ${pending}${exit(k + 1)} }`);
    } else {
      jitStats.fallback++;
      setK(k);
      lines.push(flush());
      const quiet = i.mod === 3 && REGISTER_ONLY.has(i.op);
      const call = `${quiet ? STORE_STMT : `${slow}; `}h${j}_${k}(c, i${j}_${k}); ${RELOAD}`;
      if (last) {
        lines.push(`c.eip = ${i.next}; ${call}`);
      } else {
        lines.push(call);
        if (!quiet) lines.push(`if (c.blockAbort === true) { c.eip = ${i.next}; ${exit(k + 1)} }`);
      }
    }
  }
  lines.push(flush());
  if (targets.length > 0) {
    // On into a block of the region, where the run loop would run it next: nothing slow has happened (see
    // regionSource), the budget is not spent, and EIP is that block's start.
    const go = targets.map((x) => {
      const to = region.indexOf(x);
      if (to === j) return `if (eip === ${x.eip | 0}) { ic += ${n}; k = 0; continue; }`;
      // A block on another frame may have been dropped (a write there); `currentBlock` is then on the frame that runs,
      // so that a write to it aborts the block.
      if (frameOf(x) === frameOf(b)) return `if (eip === ${x.eip | 0}) { ic += ${n}; k = 0; at = ${to}; continue dispatch; }`;
      return `if (eip === ${x.eip | 0} && B${to}.valid === true) { ic += ${n}; k = 0; at = ${to}; c.currentBlock = B${to}; continue dispatch; }`;
    });
    lines.push(`if (S === 0 && ic + ${n} < lim) {
        const eip = c.eip | 0;
        ${go.join('\n        ')}
      }`);
  }
  lines.push(exit(n));
  return { code: lines.filter((x) => x !== '').join('\n      '), sideStores };
}

/**
 * Whether a template's flag-record stores can be put off: plain stores of
 * constants and of fa/fb/fr into the Cpu's fields (not ones that use the
 * template's own locals, or call the Cpu).
 */
function deferrable(em: Emitted): boolean {
  if (em.flags === KEEP || em.flags === null || em.flagCode === '') return false;
  const rest = em.flagCode.replace(/\bc\.(lazy\w+|flags)\b/g, '');
  return !rest.includes('c.') && (rest.match(/\b[A-Za-z_]\w*\b/g) ?? []).every((x) => x === 'fa' || x === 'fb' || x === 'fr');
}

/**
 * The body of a region's function (exported for tests and debugging).
 *
 * The region's first block is the one the function is compiled for. After a
 * block of the region, the function runs the next one itself if it is in the
 * region and the run loop would run it next, else returns. The run loop
 * would stop at `target` and, between blocks, take an interrupt, a halt, an
 * interrupt shadow, single-stepping or RF, a stop request, a `blockAbort`;
 * and it would find a block anew after a mapping or CS changed or code was
 * written. Only a handler or a slow path (a TLB miss, a write to a page of
 * code, MMIO) can bring any of these about, so the function goes on only if
 * none ran since it was called (`S` is 0), counting the instructions in `ic`
 * against the `lim` left to `target`. `S` starts at 1 (the function runs one
 * block) unless the region's code is where it was compiled from (see
 * `regionOf`): `V.gen` is the `chainGen` at which that was last found true.
 */
export function regionSource(region: Block[], place: RegionPlace): string {
  const blocks = region.map((b, j) => blockCode(b, j, region));
  const codes = blocks.map((x) => x.code);
  // A side exit first makes the flag stores put off before its instruction.
  const sideCases = (j: number) => blocks[j].sideStores.length === 0 ? '' : `switch (k) { ${blocks[j].sideStores.join(' ')} }`;
  const sideStores = region.length === 1 ? sideCases(0)
    : blocks.some((x) => x.sideStores.length > 0) ? `switch (at) { ${blocks.map((_, j) => `case ${j}: ${sideCases(j)} break;`).join(' ')} }` : '';
  // A block that may run again right after itself gets a loop of its own, so that the hot loop stays small.
  const loop = (code: string) => (code.includes('continue;') ? `for (;;) {\n      ${code}\n      }` : code);
  let body: string;
  const loops = region.length > 1 || codes[0].includes('continue');
  let start = '';
  if (region.length === 1) {
    body = loop(codes[0]);
  } else {
    const cases = codes.map((code, j) => `case ${j}: {
      ${loop(code)}
      }`);
    body = `dispatch: for (;;) {
      switch (at) {
      ${cases.join('\n      ')}
      }
      }`;
    const pages = place.pages.map((p) => `(T[${p.page}] & ${fetchEntry(-1)}) === ${p.entry}`);
    start = `
    if (c.segBase[${CS}] === ${place.csBase} && c.cpl === ${place.cpl}) {
      if (c.chainGen === V.gen) S = 0;
      else if (${pages.length > 0 ? pages.join(' && ') : 'true'}) { V.gen = c.chainGen; S = 0; }
    }`;
  }
  const { body: withLocals, declare, store } = registerLocals(body);
  body = withLocals;
  const atBlock = region.length > 1 ? 'BS[at]' : 'B0';
  const hoisted = HOISTED.filter(([name]) => new RegExp(`\\b${name}\\b`).test(body + start)).map(([name, v]) => `, ${name} = ${v}`).join('');
  return `const R = c.regs${hoisted};
    let k = 0, e = 0, fa = 0, fb = 0, fr = 0, ${region.length > 1 ? 'S = 1, at = 0' : 'S = 0'}${declare}${loops ? ', ic = 0; const lim = target - c.icount' : ''};${start}
    try {
      ${body}
    } catch (x) {${loops ? ' c.icount += ic;' : ''}${region.length > 1 ? ' c.currentBlock = BS[at];' : ''}
      if (x !== SIDE) {
        c.faultIndex = k;
        throw x;
      }
      // A side exit: the block's handlers run it from instruction k on, as the run loop would.
      ${sideStores}${store}
      if (++B0.sideExits === ${SIDE_EXIT_LIMIT}) { B0.inlineSlowPaths = true; B0.fn = null; }
      return c.finishBlock(${atBlock}, k);
    }`;
}

/**
 * The guest's 32-bit registers that a function's code uses live in its locals
 * (`eax`...), read from the Cpu when it starts: TurboFan keeps them in
 * machine registers, where each `R[n]` would be a load or a store with its
 * bounds check. The Cpu's registers are brought up to date (the locals the
 * code assigns anywhere) wherever something else may look at them: before the
 * function returns, on every slow path (its call may fault, and the fault is
 * delivered with the registers of the instruction before) and before a
 * handler call; after a handler, the locals are read again. An 8- or 16-bit
 * register goes through the Cpu's arrays, its local stored before and read
 * back after the instruction. `body` has the markers blockCode left; returns
 * the body without them, and the declarations.
 */
function registerLocals(body: string): { body: string; declare: string; store: string } {
  const used = new Set<number>(), written = new Set<number>();
  if (options.registerLocals) {
    for (const m of body.matchAll(/\bR\[(\d)\]( = (?!=))?/g)) {
      used.add(Number(m[1]));
      if (m[2] !== undefined) written.add(Number(m[1]));
    }
  }
  const regs = [...used].sort(), dirty = [...written].sort();
  const out = dirty.map((r) => `R[${r}] = ${REG_LOCALS[r]}`);
  const reload = regs.map((r) => `${REG_LOCALS[r]} = R[${r}];`).join(' ');
  const store = out.map((x) => `${x}; `).join('');
  if (used.size > 0) body = body.replace(/\bR\[(\d)\]/g, (x, r: string) => (used.has(Number(r)) ? REG_LOCALS[Number(r)] : x));
  body = body
    .replaceAll(STORE_EXPR, out.map((x) => `, ${x}`).join(''))
    .replaceAll(STORE_STMT, store)
    .replaceAll(RELOAD, reload)
    .replace(new RegExp(`${STORE_ONE}(\\d)`, 'g'), (_, r: string) => (written.has(Number(r)) ? `R[${r}] = ${REG_LOCALS[Number(r)]}; ` : ''))
    .replace(new RegExp(`${LOAD_ONE}(\\d)`, 'g'), (_, r: string) => (used.has(Number(r)) ? ` ${REG_LOCALS[Number(r)]} = R[${r}];` : ''));
  return { body, declare: regs.map((r) => `, ${REG_LOCALS[r]} = R[${r}]`).join(''), store };
}

/** The region compiled for block `b`, with the templates told how its accesses leave their inline paths. */
function prepare(b: Block, cpu: Cpu, withRegion: boolean): { region: Block[]; place: RegionPlace } {
  setEmitSlowPaths(options.sideExits && !b.inlineSlowPaths, cpu.segFlat);
  return regionOf(b, cpu, withRegion);
}

/** The body of the function compiled for block `b` (with its region). */
export function blockSource(b: Block, cpu: Cpu): string {
  const { region, place } = prepare(b, cpu, true);
  return regionSource(region, place);
}

/**
 * Factories of compiled functions by their source, so that a block compiled
 * again (decoded anew after a write to its page, or the same code at the
 * same place in another machine) reuses the function V8 has already parsed,
 * and the optimized code it shares between closures of one source.
 */
const factories = new Map<string, (...a: unknown[]) => CompiledBlock>();
const MAX_FACTORIES = 4096;

export function compileBlock(b: Block, cpu: Cpu, withRegion = true): CompiledBlock {
  const { region, place } = prepare(b, cpu, withRegion);
  const params: string[] = ['PARITY', 'BS', 'V', 'SX', 'SIDE'];
  const args: unknown[] = [PARITY, region, { gen: -1 }, sideExit, SIDE_EXIT];
  region.forEach((x, j) => {
    params.push(`B${j}`);
    args.push(x);
    x.insns.forEach((i, k) => {
      params.push(`h${j}_${k}`, `i${j}_${k}`);
      args.push(i.exec, i);
    });
  });
  const body = regionSource(region, place);
  const key = `${params.length}\n${body}`;
  let factory = factories.get(key);
  if (factory === undefined) {
    // Named by a serial number, for profiles; V8 would otherwise share one function between identical sources
    // through its own compilation cache, which is what `factories` does on purpose.
    // Strict: a sloppy-mode function called without a receiver has it replaced by the global object on every call.
    const source = `'use strict';
  return function block_${(serial++).toString(36)}(c, target) {
    ${body}
  };`;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generating code for guest blocks is this module's purpose
    factory = new Function(...params, source) as (...a: unknown[]) => CompiledBlock;
    if (factories.size >= MAX_FACTORIES) factories.delete(factories.keys().next().value!);
    factories.set(key, factory);
  } else {
    jitStats.reused++;
  }
  jitStats.blocks++;
  jitStats.regionBlocks += region.length - 1;
  const fn = factory(...args);
  return jitHooks.wrap !== null ? jitHooks.wrap(fn, b) : fn;
}
