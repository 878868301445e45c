/**
 * The system tests with every block compiled before its first run (compile
 * threshold 1): faults in the middle of blocks (page faults in REP MOVS,
 * segment limits, #SS, #DF, task switches), self-modifying code, privilege
 * transitions, v86 mode, paging with accessed and dirty bits, real mode. The
 * suites' own tests are loaded into this process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jitStats, setHotThreshold } from '../../src/x86/jit.js';

setHotThreshold(1);

for (const suite of ['smc-lock', 'system-desc', 'system-faults', 'system-paging', 'system-privilege', 'system-sysenter-io', 'system-task',
  'system-v86', 'realmode', 'cpuid-msr-io', 'state', 'fpu', 'fpu-state']) {
  await import(`./${suite}.test.js`);
}

test('the system suites ran compiled blocks with inline templates', (t) => {
  t.diagnostic(`${jitStats.blocks} blocks compiled, ${jitStats.inline} instructions inline and ${jitStats.fallback} by handler`);
  assert.ok(jitStats.blocks > 1000);
  assert.ok(jitStats.inline > jitStats.blocks);
});
