/**
 * The differential fixture suite (differential.test.ts: cases recorded on a
 * real x86) with every block compiled before its first run, so that each
 * instruction template is checked against the host CPU: the compile threshold
 * is 1, and the suite's own tests are loaded into this process. The last test
 * checks that the cases' code really ran as compiled blocks.
 *
 * X86_DIFF_GROUPS limits the groups, as for differential.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { jitHooks, jitStats, setHotThreshold } from '../../src/x86/jit.js';
import { decodeFixture } from './fixture-format.js';
import { CODE_BASE } from './flat.js';

setHotThreshold(1);
/** Runs of compiled blocks that start at the cases' first instruction. */
let caseRuns = 0;
jitHooks.wrap = (fn, b) => {
  if (b.eip !== CODE_BASE) return fn;
  return (c, target) => {
    caseRuns++;
    return fn(c, target);
  };
};

await import('./differential.test.js');

const GROUPS = ['alu', 'shift', 'muldiv', 'bcd', 'bitops', 'string', 'flags', 'stack', 'x87', 'x87trans'];

test('the fixture cases ran as compiled blocks, through the templates', (t) => {
  const only = process.env.X86_DIFF_GROUPS?.split(',').map((g) => g.trim()).filter(Boolean);
  let cases = 0;
  for (const group of GROUPS) {
    if (only && !only.includes(group)) continue;
    const file = new URL(`../../../test/fixtures/x86/${group}.bin.gz`, import.meta.url);
    cases += decodeFixture(gunzipSync(readFileSync(file))).cases.length;
  }
  const templates = [...jitStats.templates.keys()].sort();
  t.diagnostic(`${cases} cases, ${caseRuns} compiled runs of their code; ${jitStats.blocks} blocks compiled, ` +
    `${jitStats.inline} instructions inline and ${jitStats.fallback} by handler; ${templates.length} templates used: ${templates.join(' ')}`);
  assert.ok(caseRuns >= cases, `${caseRuns} compiled runs for ${cases} cases`);
  if (!only) {
    // Every family met the host CPU's results.
    for (const name of ['add_EG32m', 'adc_EI8r', 'sbb_GE16m', 'cmp_AI32', 'xor_EG8r', 'test_EI32m', 'inc32m', 'dec8r', 'neg16m', 'not32r',
      'shl32r', 'shr32m', 'sar32cl', 'rol32r', 'ror32m', 'mul32r', 'imul1_32m', 'imul2_32r', 'imul3_32m', 'div32r', 'setcc_r', 'setcc_m',
      'cmov32m', 'movzx32_8m', 'movsx32_16r', 'lea32', 'lea16', 'push_r32', 'pop_r32', 'push_imm32', 'leave32', 'call32', 'ret32', 'xchg32r', 'cwd32']) {
      assert.ok(jitStats.templates.has(name), `template ${name} never used by the fixtures`);
    }
  }
});
