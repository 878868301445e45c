/**
 * The random-code fuzz test (fuzz.test.ts: random bytes at CPL 3 and CPL 0,
 * paging on and off) with every block compiled before its first run. With a
 * compile per block most of the time goes into compiling, so the instruction
 * budget per mode is smaller than the fuzz test's own (FUZZ_INSNS overrides
 * it). jit-templates.test.ts also compares random bytes run compiled against
 * the interpreter, state for state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jitStats, setHotThreshold } from '../../src/x86/jit.js';

setHotThreshold(1);
process.env.FUZZ_INSNS ??= '30000';

await import('./fuzz.test.js');

test('the fuzz cases ran compiled blocks', (t) => {
  t.diagnostic(`${jitStats.blocks} blocks compiled, ${jitStats.inline} instructions inline and ${jitStats.fallback} by handler`);
  assert.ok(jitStats.blocks > 1000);
  assert.ok(jitStats.inline > 0);
});
