/**
 * 64/32-bit DIV and IDIV against BigInt arithmetic: random operands weighted
 * to the edges (dividends just below the #DE bound, divisors near 2^32 and
 * 2^31, quotients at the signed limits), each run as `div ebx` / `idiv ebx`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlatMachine } from './flat.js';
import { Rng } from './rng.js';

const DE = 0;
const DIV_EBX = [0xf7, 0xf3], IDIV_EBX = [0xf7, 0xfb];

function run(m: FlatMachine, code: number[], edx: number, eax: number, ebx: number): { eax: number; edx: number; fault: boolean } {
  const r = m.run({ code: Uint8Array.from(code), regs: [eax, 0, edx, ebx, 0, 0, 0, 0], eflags: 0x2 });
  return { eax: r.regs[0] >>> 0, edx: r.regs[2] >>> 0, fault: r.exception === DE };
}

/** Operands near the interesting boundaries as often as uniform ones. */
function operand(rng: Rng): number {
  const edges = [0, 1, 2, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 0x10000, 0xffff];
  return rng.u32() % 3 === 0 ? edges[rng.u32() % edges.length] : rng.u32();
}

test('DIV r/m32 with a 64-bit dividend matches BigInt division, #DE on a zero divisor or a quotient above 32 bits', () => {
  const m = new FlatMachine();
  const rng = new Rng(0xd1f);
  for (let n = 0; n < 3000; n++) {
    const d = operand(rng);
    // Half the dividends are just inside the bound (EDX = d - 1), where the quotient is largest.
    const edx = n % 2 === 0 && d > 0 ? d - 1 : operand(rng), eax = operand(rng);
    const got = run(m, DIV_EBX, edx, eax, d);
    const dividend = (BigInt(edx) << 32n) | BigInt(eax);
    if (d === 0 || dividend / BigInt(d) > 0xffffffffn) {
      assert.ok(got.fault, `div ${edx.toString(16)}:${eax.toString(16)} / ${d.toString(16)} should raise #DE`);
      continue;
    }
    assert.ok(!got.fault, `div ${edx.toString(16)}:${eax.toString(16)} / ${d.toString(16)} raised #DE`);
    assert.deepEqual([got.eax, got.edx], [Number(dividend / BigInt(d)), Number(dividend % BigInt(d))],
      `div ${edx.toString(16)}:${eax.toString(16)} / ${d.toString(16)}`);
  }
});

test('IDIV r/m32 with a 64-bit dividend matches BigInt division (truncating), #DE outside -2^31..2^31-1', () => {
  const m = new FlatMachine();
  const rng = new Rng(0x1d1f);
  for (let n = 0; n < 3000; n++) {
    const d = operand(rng) | 0;
    let edx = operand(rng), eax = operand(rng);
    // Often a dividend that is a quotient near the limits times d plus a remainder, so the bound itself is tried.
    if (n % 2 === 0 && d !== 0) {
      const q = BigInt([0x7fffffff, -0x80000000, 0x80000000, -0x80000001, rng.u32() | 0][rng.u32() % 5]);
      const v = BigInt.asUintN(64, q * BigInt(d) + BigInt(rng.u32() % Math.min(Math.abs(d), 0x10000)) * (q < 0n ? -1n : 1n));
      edx = Number(v >> 32n);
      eax = Number(v & 0xffffffffn);
    }
    const got = run(m, IDIV_EBX, edx, eax, d);
    const dividend = BigInt.asIntN(64, (BigInt(edx) << 32n) | BigInt(eax));
    const what = `idiv ${edx.toString(16)}:${eax.toString(16)} / ${d}`;
    if (d === 0) {
      assert.ok(got.fault, `${what} should raise #DE`);
      continue;
    }
    const q = dividend / BigInt(d), r = dividend % BigInt(d);
    if (q > 0x7fffffffn || q < -0x80000000n) {
      assert.ok(got.fault, `${what} should raise #DE`);
      continue;
    }
    assert.ok(!got.fault, `${what} raised #DE`);
    assert.deepEqual([got.eax, got.edx], [Number(BigInt.asUintN(32, q)), Number(BigInt.asUintN(32, r))], what);
  }
});
