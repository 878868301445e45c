/** The extended-precision helpers behind the transcendental instructions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf,
  bfAdd,
  bfAtan,
  bfCos,
  bfExpm1,
  bfInt,
  bfLn,
  bfMul,
  bfScale,
  bfSin,
  bfSqrt,
  bfSub,
  bfTop,
  LN2,
  PI,
  PREC,
} from '../../src/x86/fpu-bigfloat.js';
import type { BF } from '../../src/x86/fpu-bigfloat.js';

/** The top `bits` bits of a positive value's significand, as hex. */
function topHex(a: BF, bits: number): string {
  return (a.m >> BigInt(PREC - bits)).toString(16);
}

/** |a − b| ≤ 2^-118 · |b| */
function near(a: BF, b: BF, what: string): void {
  const d = bfSub(a, b);
  assert.ok(d.m === 0n || bfTop(d) <= bfTop(b) - 118, `${what}: off by 2^${bfTop(d) - bfTop(b)} relative`);
}

test('constants: ln 2 and π to 120 bits', () => {
  // ln 2 = 0.B17217F7D1CF79ABC9E3B39803F2F6AF40F3…, π = 3.243F6A8885A308D313198A2E0370734…
  assert.equal(topHex(LN2, 120), 'b17217f7d1cf79abc9e3b39803f2f6');
  assert.equal(topHex(PI, 120), 'c90fdaa22168c234c4c6628b80dc1c');
});

test('series agree with identities to ~118 bits', () => {
  const one = bfInt(1);
  for (const x of [bf(0x1234567n, -26), bf(-0x7654321n, -27), bf(3n, -40)]) {
    const s = bfSin(x);
    const c = bfCos(x);
    near(bfAdd(bfMul(s, s), bfMul(c, c)), one, 'sin² + cos²');
    near(bfLn(bfAdd(one, bfExpm1(x))), x, 'ln(1 + expm1 x)');
  }
  near(bfAtan(one), bfScale(PI, -2), 'atan 1');
  near(bfAtan(bfSqrt(bfInt(3))), bf((PI.m << 130n) / 3n, PI.e - 130), 'atan √3 = π/3');
  near(bfSqrt(bfInt(4)), bfInt(2), '√4');
  near(bfLn(bfInt(1024)), bfMul(bfInt(10), LN2), 'ln 1024');
});
