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

export function compileBlock(b: Block): CompiledBlock {
  const n = b.insns.length;
  const lines: string[] = [];
  for (let k = 0; k < n - 1; k++) {
    lines.push(`h${k}(c, i${k}); k = ${k + 1};`);
    lines.push(`if (c.blockAbort) { c.eip = i${k}.next; return ${k + 1}; }`);
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
