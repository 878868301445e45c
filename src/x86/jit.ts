/**
 * Block compiler, stage one: threaded code.
 *
 * A block that has run `HOT_THRESHOLD` times is turned into one JavaScript
 * function that calls each instruction's handler directly, in order. Every
 * call site then has a single target, which V8 inlines; the interpreter's
 * indirect call, loop and per-instruction bookkeeping disappear. Later stages
 * can emit the handlers' bodies themselves; the contract with the run loop
 * stays the one below.
 *
 * Contract (the same as the interpreter's inner loop):
 * - the function returns the number of instructions it retired;
 * - EIP is stored before the block's last instruction runs, or after the
 *   instruction at which `blockAbort` was raised (self-modifying code, a
 *   device's stop request);
 * - on a fault it records the index of the faulting instruction in
 *   `cpu.faultIndex` and rethrows, so the run loop can rewind EIP.
 */
import type { Cpu } from './cpu.js';
import type { Block } from './decoder.js';

/**
 * Executions of a block before it is compiled. A new function starts in V8's
 * bytecode interpreter and only beats our interpreter loop once V8 has
 * optimized it, so only blocks that will run many more times are worth it.
 */
export const HOT_THRESHOLD = 10000;

export type CompiledBlock = (c: Cpu) => number;

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

export function compileBlock(b: Block): CompiledBlock {
  const n = b.insns.length;
  const lines: string[] = [];
  for (let k = 0; k < n - 1; k++) {
    const i = b.insns[k];
    lines.push(`h${k}(c, i${k}); k = ${k + 1};`);
    if (!(i.mod === 3 && REGISTER_ONLY.has(i.op))) lines.push(`if (c.blockAbort) { c.eip = i${k}.next; return ${k + 1}; }`);
  }
  lines.push(`c.eip = i${n - 1}.next; h${n - 1}(c, i${n - 1});`);
  lines.push(`return ${n};`);
  const params: string[] = [];
  const args: unknown[] = [];
  for (let k = 0; k < n; k++) {
    params.push(`h${k}`, `i${k}`);
    args.push(b.insns[k].exec, b.insns[k]);
  }
  // A unique name keeps V8 from sharing one compiled function (and its call feedback) between blocks.
  const name = `block_${(serial++).toString(36)}`;
  const source = `return function ${name}(c) {
    let k = 0;
    try {
      ${lines.join('\n      ')}
    } catch (e) {
      c.faultIndex = k;
      throw e;
    }
  };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generating code for guest blocks is this module's purpose
  const factory = new Function(...params, source) as (...a: unknown[]) => CompiledBlock;
  return factory(...args);
}
