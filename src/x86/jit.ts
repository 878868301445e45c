/**
 * Block compiler.
 *
 * A block that has run `hotThreshold` times is turned into one JavaScript
 * function. Stage one made it call each instruction's handler directly, in
 * order; stage two (jit-emit.ts) emits the most frequent instruction forms
 * inline, operands folded in as constants, and calls the handler for the
 * rest. Either way, the function runs the block's instructions exactly as the
 * interpreter would.
 *
 * Contract (the same as the interpreter's inner loop):
 * - the function returns the number of instructions it retired;
 * - EIP is stored before the block's last instruction runs, or after the
 *   instruction at which `blockAbort` was raised (self-modifying code, a
 *   device's stop request);
 * - on a fault it records the index of the faulting instruction in
 *   `cpu.faultIndex` and rethrows, so the run loop can rewind EIP. Everything
 *   the instructions before it did is committed (registers, flags, memory);
 *   the faulting one committed nothing.
 */
import type { Cpu } from './cpu.js';
import { PARITY } from './cpu.js';
import type { Block } from './decoder.js';
import { Emitted, emitInsn, FLAG_STORES, FlagState, KEEP } from './jit-emit.js';
import { IF, RF, TF } from './constants.js';

/**
 * Executions of a block before it is compiled. A new function starts in V8's
 * bytecode interpreter and only beats our interpreter loop once V8 has
 * optimized it, so only blocks that will run many more times are worth it.
 */
export const HOT_THRESHOLD = 10000;

/** The compile threshold in force (tests set 1: every block is compiled before its first run). */
export let hotThreshold = HOT_THRESHOLD;

export function setHotThreshold(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`hot threshold ${n} is not a positive integer`);
  hotThreshold = n;
}

let inlineEnabled = true;
let dropDeadFlags = true;
let selfLoops = true;

/**
 * Stage two's parts, all on by default: `inline` off makes every instruction
 * call its handler, as stage one did; the others are the two optimizations
 * on top of the templates (tests and benchmarks compare with them off).
 */
export function setJitOptions(o: { inline?: boolean; dropDeadFlags?: boolean; selfLoops?: boolean }): void {
  inlineEnabled = o.inline ?? inlineEnabled;
  dropDeadFlags = o.dropDeadFlags ?? dropDeadFlags;
  selfLoops = o.selfLoops ?? selfLoops;
}

/**
 * A compiled block: runs the block once (or, for a loop onto itself, as
 * often as the run loop would run it in a row, see `blockSource`); returns
 * the instructions retired by its last pass. `target` is the run loop's
 * instruction count target.
 */
export type CompiledBlock = (c: Cpu, target: number) => number;

/** What the compiler has done: blocks, instructions emitted inline and by handler call, uses of each template. */
export const jitStats = {
  blocks: 0,
  /** Blocks that loop onto themselves inside their function. */
  loops: 0,
  inline: 0,
  fallback: 0,
  templates: new Map<string, number>(),
  reset(): void {
    this.blocks = this.loops = this.inline = this.fallback = 0;
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

/** Templates whose branch target is the constant `imm`: a block ending in one may loop onto itself. */
const LOOP_BRANCHES = new Set(['jcc', 'jmp', 'loop', 'jcxz']);

/** Names the generated code may use, and what they are bound to at the top of the function. */
const HOISTED: [string, string][] = [
  ['R16', 'c.regs16'], ['R8', 'c.regs8'], ['T', 'c.tlb'], ['SF', 'c.segFlat'],
  ['M8', 'c.u8'], ['M16', 'c.u16'], ['M32', 'c.i32'],
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
  if (!dropDeadFlags) return live;
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

/**
 * The body of the block's function (exported for tests and debugging).
 *
 * A block whose last instruction is an inline jump or conditional jump back
 * to its own first instruction loops inside the function: after a pass that
 * jumped back, it does what the run loop would do before running the block
 * again, or returns to the run loop when that would do anything else. The run
 * loop would: count the pass's instructions and stop at `target`; return on
 * an exit request; handle a halt, an interrupt shadow, a pending NMI or
 * interrupt, single-stepping or RF; and take the block again only through
 * the chain link it keeps for the block (valid for the current `chainGen`),
 * since finding the block anew goes through the TLB and the block cache. All
 * of these are checked here; passes before the last one add their
 * instructions to `icount` themselves.
 */
export function blockSource(b: Block): string {
  const n = b.insns.length;
  const ems: (Emitted | null)[] = [];
  let s: FlagState = null;
  for (let k = 0; k < n; k++) {
    const em: Emitted | null = inlineEnabled ? emitInsn(b.insns[k], k, k === n - 1, s) : null;
    ems.push(em);
    s = em === null ? null : em.flags === KEEP ? s : em.flags;
  }
  const live = liveFlagStores(ems);
  const lines: string[] = [];
  /** The value `k` holds at this point of the code: the index a fault here reports. */
  let kNow = 0;
  const setK = (k: number) => {
    if (kNow !== k) lines.push(`k = ${k};`);
    kNow = k;
  };
  for (let k = 0; k < n; k++) {
    const i = b.insns[k];
    const last = k === n - 1;
    const em = ems[k];
    if (em !== null) {
      jitStats.inline++;
      jitStats.templates.set(em.name, (jitStats.templates.get(em.name) ?? 0) + 1);
      if (em.fault) setK(k);
      if (last && !em.branch) lines.push(`c.eip = ${i.next};`);
      lines.push(`{ ${em.code.replace(FLAG_STORES, live[k] ? em.flagCode : '')} }`);
      if (!last && em.mem) lines.push(`if (c.blockAbort) { c.eip = ${i.next}; return ${k + 1}; }`);
    } else {
      jitStats.fallback++;
      setK(k);
      if (last) {
        lines.push(`c.eip = ${i.next}; h${k}(c, i${k});`);
      } else {
        lines.push(`h${k}(c, i${k});`);
        if (!(i.mod === 3 && REGISTER_ONLY.has(i.op))) lines.push(`if (c.blockAbort) { c.eip = ${i.next}; return ${k + 1}; }`);
      }
    }
  }
  const lastEm = ems[n - 1];
  const loops = selfLoops && lastEm !== null && LOOP_BRANCHES.has(lastEm.name) && b.insns[n - 1].imm === b.eip;
  let body: string;
  if (loops) {
    jitStats.loops++;
    const start = b.eip;
    lines.push(`if (c.eip === ${start} && c.icount + ${n} < target && !c.blockAbort && c.exitReason === 0 && !c.halted && !c.inhibitIrq &&
        !c.nmiPending && !(c.irqLine && (c.flags & ${IF}) !== 0) && (c.flags & ${TF | RF}) === 0 && c.chainGen === gen && B.valid) {
        const to = B.next1Eip === ${start} && B.next1Gen === gen && B.next1.valid ? B.next1 :
          B.next2Eip === ${start} && B.next2Gen === gen && B.next2.valid ? B.next2 : null;
        if (to === B) { c.icount += ${n}; k = 0; continue; }
      }
      return ${n};`);
    body = `const gen = c.chainGen;
      for (;;) {
      ${lines.join('\n      ')}
      }`;
  } else {
    lines.push(`return ${n};`);
    body = lines.join('\n      ');
  }
  const hoisted = HOISTED.filter(([name]) => new RegExp(`\\b${name}\\[`).test(body)).map(([name, v]) => `, ${name} = ${v}`).join('');
  return `const R = c.regs${hoisted};
    let k = 0, e = 0, fa = 0, fb = 0, fr = 0;
    try {
      ${body}
    } catch (x) {
      c.faultIndex = k;
      throw x;
    }`;
}

export function compileBlock(b: Block): CompiledBlock {
  const n = b.insns.length;
  const params: string[] = ['PARITY', 'B'];
  const args: unknown[] = [PARITY, b];
  for (let k = 0; k < n; k++) {
    params.push(`h${k}`, `i${k}`);
    args.push(b.insns[k].exec, b.insns[k]);
  }
  // A unique name keeps V8 from sharing one compiled function (and its call feedback) between blocks.
  const name = `block_${(serial++).toString(36)}`;
  const source = `return function ${name}(c, target) {
    ${blockSource(b)}
  };`;
  jitStats.blocks++;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generating code for guest blocks is this module's purpose
  const factory = new Function(...params, source) as (...a: unknown[]) => CompiledBlock;
  const fn = factory(...args);
  return jitHooks.wrap !== null ? jitHooks.wrap(fn, b) : fn;
}
