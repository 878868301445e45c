/**
 * Hand-written x87 cases with known results: rounding in every precision and rounding mode,
 * denormals, underflow and overflow, invalid operations, NaN propagation, integer and BCD
 * conversion, stack faults, compares, FXAM, FPREM, constants and the transcendental special cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fpu } from '../../src/x86/fpu.js';
import { exc, h, hexOf, push, pushNum, run, setup, st, TestHost, UndefinedOpcode } from './fpu-testhost.js';

// Status-word bits
const IE = 0x01;
const DE = 0x02;
const ZE = 0x04;
const OE = 0x08;
const UE = 0x10;
const PE = 0x20;
const SF = 0x40;
const ES = 0x80;
const C0 = 0x100;
const C1 = 0x200;
const C2 = 0x400;
const C3 = 0x4000;

const INDEFINITE = 'ffffc000000000000000';
const ONE = '3fff8000000000000000';
const MEM = 0x100;

const RC_NEAREST = 0x000;
const RC_DOWN = 0x400;
const RC_UP = 0x800;
const RC_CHOP = 0xc00;
const PC24 = 0x000;
const PC53 = 0x200;
const PC64 = 0x300;

/** CW with all exceptions masked and the given precision/rounding fields. */
const cwOf = (pc: number, rc: number): number => 0x007f | pc | rc;

/** Computes a op b with ST(0) = a, ST(1) = b using the D8 register form; returns [result, fpu]. */
function binary(modrm: number, a: string, b: string, cw = 0x037f): [string, Fpu] {
  const { fpu, host } = setup();
  push(fpu, host, b);
  push(fpu, host, a);
  fpu.cw = cw;
  run(fpu, host, 0xd8, modrm);
  return [st(fpu), fpu];
}
const FADD = 0xc1;
const FMUL = 0xc9;
const FSUB = 0xe1;
const FDIV = 0xf1;

test('power-on state is the FNINIT state', () => {
  const fpu = new Fpu();
  assert.equal(fpu.cw, 0x037f);
  assert.equal(fpu.sw, 0);
  assert.equal(fpu.tagWord, 0xffff);
  assert.equal(fpu.errorPending, false);
  assert.deepEqual([fpu.fip, fpu.fcs, fpu.fop, fpu.fdp, fpu.fds], [0, 0, 0, 0, 0]);
});

test('1/3 and 2/3 round correctly in every precision and rounding mode (C1 = rounded up)', () => {
  // 1/3 = 1.0101…b × 2^-2: significand bits AAAA…, discarded tail 1010… at every precision.
  const expect: Record<number, Record<number, [string, boolean]>> = {
    [PC64]: {
      [RC_NEAREST]: ['aaaaaaaaaaaaaaab', true],
      [RC_DOWN]: ['aaaaaaaaaaaaaaaa', false],
      [RC_UP]: ['aaaaaaaaaaaaaaab', true],
      [RC_CHOP]: ['aaaaaaaaaaaaaaaa', false],
    },
    [PC53]: {
      [RC_NEAREST]: ['aaaaaaaaaaaaa800', false], // tail 0x2AA < half of 0x800
      [RC_DOWN]: ['aaaaaaaaaaaaa800', false],
      [RC_UP]: ['aaaaaaaaaaaab000', true],
      [RC_CHOP]: ['aaaaaaaaaaaaa800', false],
    },
    [PC24]: {
      [RC_NEAREST]: ['aaaaab0000000000', true],
      [RC_DOWN]: ['aaaaaa0000000000', false],
      [RC_UP]: ['aaaaab0000000000', true],
      [RC_CHOP]: ['aaaaaa0000000000', false],
    },
  };
  for (const pc of [PC24, PC53, PC64]) {
    for (const rc of [RC_NEAREST, RC_DOWN, RC_UP, RC_CHOP]) {
      const [sig, up] = expect[pc][rc];
      for (const [num, exp] of [[1, '3ffd'], [2, '3ffe']] as const) {
        const [r, fpu] = binary(FDIV, hexOf(num), hexOf(3), cwOf(pc, rc));
        assert.equal(r, exp + sig, `${num}/3 pc=${pc >> 8} rc=${rc >> 10}`);
        assert.equal(fpu.sw & (PE | C1), PE | (up ? C1 : 0), `${num}/3 flags pc=${pc >> 8} rc=${rc >> 10}`);
      }
    }
  }
  // Negative: rounding down grows the magnitude.
  const [r, fpu] = binary(FDIV, hexOf(-1), hexOf(3), cwOf(PC64, RC_DOWN));
  assert.equal(r, 'bffdaaaaaaaaaaaaaaab');
  assert.equal(fpu.sw & C1, C1);
});

test('exact halfway cases round to even', () => {
  const half64 = h(0, 16383 - 64, 1n << 63n); // 2^-64: half an ulp of 1.0 at 64 bits
  assert.equal(binary(FADD, ONE, half64)[0], ONE);
  const oneUlp = h(0, 16383, (1n << 63n) | 1n); // 1 + 2^-63 (odd)
  const [r, fpu] = binary(FADD, oneUlp, half64);
  assert.equal(r, h(0, 16383, (1n << 63n) | 2n));
  assert.equal(fpu.sw & (PE | C1), PE | C1);
  // The same at 24 bits: 1 + 2^-24 → 1, (1 + 2^-23) + 2^-24 → 1 + 2^-22.
  assert.equal(binary(FADD, ONE, hexOf(2 ** -24), cwOf(PC24, RC_NEAREST))[0], ONE);
  assert.equal(binary(FADD, hexOf(1 + 2 ** -23), hexOf(2 ** -24), cwOf(PC24, RC_NEAREST))[0], hexOf(1 + 2 ** -22));
  // 53 bits, as a double would: 1 + 2^-53 → 1.
  assert.equal(binary(FADD, ONE, hexOf(2 ** -53), cwOf(PC53, RC_NEAREST))[0], ONE);
});

test('x + (−x) is +0, or −0 when rounding down', () => {
  assert.equal(binary(FSUB, hexOf(5), hexOf(5))[0], h(0, 0, 0n));
  assert.equal(binary(FSUB, hexOf(5), hexOf(5), cwOf(PC64, RC_DOWN))[0], h(1, 0, 0n));
});

test('denormal results and underflow (masked and unmasked)', () => {
  const minNormal = h(0, 1, 1n << 63n);
  // Exact denormal: no UE, no PE.
  let [r, fpu] = binary(FDIV, minNormal, hexOf(2));
  assert.equal(r, h(0, 0, 1n << 62n));
  assert.equal(exc(fpu), 0);
  // Inexact tiny result: UE and PE, denormalized with rounding.
  [r, fpu] = binary(FMUL, h(0, 1, (1n << 63n) | 1n), hexOf(0.25));
  assert.equal(r, h(0, 0, 1n << 61n));
  assert.equal(exc(fpu), UE | PE);
  // With PC=24 the rounding point is bit 40 of the denormalized significand field.
  // Tininess is judged after rounding (with unbounded exponent): 0x1.FFFFFF8p-16383 rounds to
  // 2^-16382 at 24 bits, so it is not tiny (no UE)…
  [r, fpu] = binary(FMUL, h(0, 1, 0xffffff8000000000n), hexOf(0.5), cwOf(PC24, RC_NEAREST));
  assert.equal(r, h(0, 1, 1n << 63n));
  assert.equal(fpu.sw & (UE | PE | C1), PE | C1);
  // …while 0x1.FFFFFF0000000001p-16383 rounds down at 24 bits (tiny), yet its denormalized form
  // rounds up to the smallest normal: UE, PE and C1.
  [r, fpu] = binary(FMUL, h(0, 1, 0xffffff0000000001n), hexOf(0.5), cwOf(PC24, RC_NEAREST));
  assert.equal(r, h(0, 1, 1n << 63n));
  assert.equal(fpu.sw & (UE | PE | C1), UE | PE | C1);
  // Unmasked UE: rebiased result (exponent + 24576), UE even though exact, ES set.
  [r, fpu] = binary(FDIV, minNormal, hexOf(2), 0x036f);
  assert.equal(r, h(0, 24576, 1n << 63n));
  assert.equal(fpu.sw & (UE | PE | ES), UE | ES);
});

test('overflow gives ∞ or the largest finite value per rounding mode', () => {
  const max = h(0, 0x7ffe, 0xffffffffffffffffn);
  const negMax = h(1, 0x7ffe, 0xffffffffffffffffn);
  const inf = h(0, 0x7fff, 1n << 63n);
  const negInf = h(1, 0x7fff, 1n << 63n);
  const cases: [number, string, string, number][] = [
    [RC_NEAREST, inf, negInf, C1],
    [RC_CHOP, max, negMax, 0],
    [RC_UP, inf, negMax, -1],
    [RC_DOWN, max, negInf, -1],
  ];
  for (const [rc, pos, neg] of cases) {
    let [r, fpu] = binary(FMUL, max, hexOf(2), cwOf(PC64, rc));
    assert.equal(r, pos, `+ rc=${rc >> 10}`);
    assert.equal(exc(fpu), OE | PE);
    assert.equal(fpu.sw & C1, r === inf ? C1 : 0);
    [r, fpu] = binary(FMUL, negMax, hexOf(2), cwOf(PC64, rc));
    assert.equal(r, neg, `− rc=${rc >> 10}`);
  }
  // Largest finite value at 24-bit precision.
  assert.equal(binary(FMUL, max, hexOf(2), cwOf(PC24, RC_CHOP))[0], h(0, 0x7ffe, 0xffffff0000000000n));
  // Unmasked overflow to a register: exponent rebiased by −24576.
  const [r, fpu] = binary(FMUL, h(0, 0x7ffe, 1n << 63n), hexOf(2), 0x0377);
  assert.equal(r, h(0, 0x7fff - 24576, 1n << 63n));
  assert.equal(fpu.sw & (OE | ES), OE | ES);
});

test('FST m32/m64: rounding, underflow, overflow, and unmasked exceptions store nothing', () => {
  const { fpu, host } = setup();
  const store32 = (x: string, cw: number, pop = false): [string, number] => {
    fpu.reset();
    push(fpu, host, x);
    fpu.cw = cw;
    host.mem.fill(0xaa, MEM, MEM + 8);
    run(fpu, host, 0xd9, pop ? 0x18 : 0x10, MEM);
    return [host.hexAt(MEM, 4), fpu.sw];
  };
  assert.deepEqual(store32(hexOf(1 / 3), 0x037f), ['3eaaaaab', 0x3800 | PE | C1]);
  assert.deepEqual(store32(hexOf(2 ** -149), 0x037f), ['00000001', 0x3800]);
  assert.deepEqual(store32(hexOf(2 ** -150), 0x037f), ['00000000', 0x3800 | UE | PE]); // tie → even (0)
  assert.deepEqual(store32(hexOf(2 ** -150), cwOf(PC64, RC_UP)), ['00000001', 0x3800 | UE | PE | C1]);
  assert.deepEqual(store32(hexOf(2 ** 200), 0x037f), ['7f800000', 0x3800 | OE | PE | C1]);
  assert.deepEqual(store32(hexOf(-(2 ** 200)), cwOf(PC64, RC_CHOP)), ['ff7fffff', 0x3800 | OE | PE]);
  // Unmasked OE: memory untouched and FSTP does not pop.
  const [m, sw] = store32(hexOf(2 ** 200), 0x0377, true);
  assert.equal(m, 'aaaaaaaa');
  assert.equal(sw & (OE | ES | 0x3800), OE | ES | 0x3800);
  assert.equal(fpu.isEmpty(0), false);
  // m64 of an SNaN: IE, quieted.
  fpu.reset();
  push(fpu, host, h(0, 0x7fff, 0x8000000000000800n));
  run(fpu, host, 0xdd, 0x10, MEM);
  assert.equal(host.hexAt(MEM, 8), '7ff8000000000001');
  assert.equal(exc(fpu), IE);
});

test('FLD m32/m64: denormals raise DE and are normalized, SNaNs raise IE and are quieted', () => {
  const { fpu, host } = setup();
  host.write32(MEM, 0x00000001);
  run(fpu, host, 0xd9, 0x00, MEM);
  assert.equal(st(fpu), h(0, 16383 - 149, 1n << 63n));
  assert.equal(exc(fpu), DE);
  host.write32(MEM, 0x7f800001);
  run(fpu, host, 0xd9, 0x00, MEM);
  assert.equal(st(fpu), h(0, 0x7fff, 0xc000010000000000n));
  assert.equal(exc(fpu), DE | IE);
  // Unmasked DE: nothing is loaded.
  const t = setup(0x037d);
  t.host.write32(MEM, 0x00000001);
  run(t.fpu, t.host, 0xd9, 0x00, MEM);
  assert.equal(t.fpu.top, 0);
  assert.equal(t.fpu.errorPending, true);
});

test('invalid operations give the real indefinite', () => {
  const zero = hexOf(0);
  const inf = h(0, 0x7fff, 1n << 63n);
  for (const [modrm, a, b] of [
    [FDIV, zero, zero],
    [FSUB, inf, inf],
    [FMUL, zero, inf],
    [FDIV, inf, inf],
  ] as const) {
    const [r, fpu] = binary(modrm, a, b);
    assert.equal(r, INDEFINITE);
    assert.equal(exc(fpu), IE);
  }
  // FSQRT of −1
  const { fpu, host } = setup();
  pushNum(fpu, host, -1);
  run(fpu, host, 0xd9, 0xfa);
  assert.equal(st(fpu), INDEFINITE);
  // An unnormal (unsupported format) operand.
  const [r] = binary(FADD, h(0, 16383, 1n << 62n), ONE);
  assert.equal(r, INDEFINITE);
  // Unmasked IE leaves the destination alone.
  const [r2, fpu2] = binary(FDIV, zero, zero, 0x037e);
  assert.equal(r2, zero);
  assert.equal(fpu2.sw & (IE | ES), IE | ES);
});

test('division by zero: ZE and a signed ∞; unmasked leaves the destination', () => {
  let [r, fpu] = binary(FDIV, hexOf(-3), hexOf(0));
  assert.equal(r, h(1, 0x7fff, 1n << 63n));
  assert.equal(exc(fpu), ZE);
  [r, fpu] = binary(FDIV, hexOf(3), hexOf(0), 0x037b);
  assert.equal(r, hexOf(3));
  assert.equal(fpu.sw & (ZE | ES), ZE | ES);
});

test('NaN propagation: larger significand wins, SNaNs are quieted, QNaN beats SNaN', () => {
  const q1 = h(0, 0x7fff, 0xc000000000000001n);
  const q2 = h(1, 0x7fff, 0xc000000000000002n);
  const s1 = h(0, 0x7fff, 0x8000000000000005n);
  const s2 = h(1, 0x7fff, 0x8000000000000003n);
  let [r, fpu] = binary(FADD, q1, q2);
  assert.equal(r, q2);
  assert.equal(exc(fpu), 0);
  [r, fpu] = binary(FMUL, s1, q1);
  assert.equal(r, q1);
  assert.equal(exc(fpu), IE);
  [r, fpu] = binary(FSUB, s2, s1);
  assert.equal(r, h(0, 0x7fff, 0xc000000000000005n));
  assert.equal(exc(fpu), IE);
  [r, fpu] = binary(FDIV, hexOf(2), s2);
  assert.equal(r, h(1, 0x7fff, 0xc000000000000003n));
  // Equal significands: the positive one.
  [r] = binary(FADD, h(1, 0x7fff, 0xc000000000000007n), h(0, 0x7fff, 0xc000000000000007n));
  assert.equal(r, h(0, 0x7fff, 0xc000000000000007n));
});

test('denormal operands raise DE; division by zero outranks it', () => {
  const den = h(0, 0, 0x1234n);
  let [, fpu] = binary(FADD, den, ONE);
  assert.equal(exc(fpu), DE | PE);
  [, fpu] = binary(FDIV, den, hexOf(0));
  assert.equal(exc(fpu), ZE);
  // A QNaN operand suppresses DE.
  [, fpu] = binary(FADD, den, h(0, 0x7fff, 0xc000000000000000n));
  assert.equal(exc(fpu), 0);
});

test('FIST/FISTP: rounding per RC, overflow gives the integer indefinite', () => {
  const fist = (x: number | string, modrm: number, op: number, cw = 0x037f, bytes = 2): [string, number] => {
    const { fpu, host } = setup();
    if (typeof x === 'number') pushNum(fpu, host, x);
    else push(fpu, host, x);
    fpu.cw = cw;
    host.mem.fill(0xaa, MEM, MEM + 8);
    run(fpu, host, op, modrm, MEM);
    return [host.hexAt(MEM, bytes), fpu.sw & 0x7fff];
  };
  assert.deepEqual(fist(2.5, 0x10, 0xdf), ['0002', 0x3800 | PE]);
  assert.deepEqual(fist(2.5, 0x10, 0xdf, cwOf(PC24, RC_UP)), ['0003', 0x3800 | PE | C1]);
  assert.deepEqual(fist(-2.5, 0x10, 0xdf, cwOf(PC24, RC_DOWN)), ['fffd', 0x3800 | PE | C1]);
  assert.deepEqual(fist(32768, 0x10, 0xdf), ['8000', 0x3800 | IE]);
  assert.deepEqual(fist(-32768.4, 0x10, 0xdf), ['8000', 0x3800 | PE]); // rounds into range
  assert.deepEqual(fist(2 ** 31, 0x10, 0xdb, 0x037f, 4), ['80000000', 0x3800 | IE]);
  assert.deepEqual(fist(INDEFINITE, 0x38, 0xdf, 0x037f, 8), ['8000000000000000', 0x0000 | IE]);
  assert.deepEqual(fist(-(2 ** 63), 0x38, 0xdf, 0x037f, 8), ['8000000000000000', 0x0000]);
  // Unmasked IE: nothing stored, nothing popped.
  const [m, sw] = fist(1e10, 0x18, 0xdf, 0x037e);
  assert.equal(m, 'aaaa');
  assert.equal(sw & 0x3800, 0x3800);
});

test('FISTTP (SSE3) and other undefined encodings raise #UD', () => {
  const { fpu, host } = setup();
  const ud: [number, number][] = [
    [0xdb, 0x08], [0xdd, 0x08], [0xdf, 0x08], // FISTTP m32/m64/m16
    [0xd9, 0x08], [0xdb, 0x20], [0xdb, 0x30], [0xdd, 0x28], // reserved memory forms
    [0xd9, 0xd1], [0xd9, 0xe2], [0xd9, 0xe7], [0xd9, 0xef], [0xda, 0xe8], [0xda, 0xf0],
    [0xdb, 0xe5], [0xdb, 0xf8], [0xdd, 0xf0], [0xde, 0xd8], [0xdf, 0xe1], [0xdf, 0xf8],
  ];
  for (const [op, modrm] of ud) {
    assert.throws(() => run(fpu, host, op, modrm, MEM), UndefinedOpcode, `${op.toString(16)} ${modrm.toString(16)}`);
  }
  assert.equal(fpu.sw, 0);
});

test('stack overflow and underflow: IE+SF with C1, masked responses, unmasked leaves TOP', () => {
  const { fpu, host } = setup();
  for (let k = 0; k < 8; k++) pushNum(fpu, host, k);
  assert.equal(exc(fpu), 0);
  run(fpu, host, 0xd9, 0xe8); // FLD1 onto a full stack
  assert.equal(exc(fpu), IE | SF);
  assert.equal(fpu.sw & C1, C1);
  assert.equal(st(fpu), INDEFINITE);
  // Underflow: FADD with an empty ST(1).
  const u = setup();
  pushNum(u.fpu, u.host, 1);
  run(u.fpu, u.host, 0xd8, 0xc1);
  assert.equal(exc(u.fpu), IE | SF);
  assert.equal(u.fpu.sw & C1, 0);
  assert.equal(st(u.fpu), INDEFINITE);
  // Unmasked: nothing moves.
  const v = setup();
  for (let k = 0; k < 8; k++) pushNum(v.fpu, v.host, k);
  v.fpu.cw = 0x037e;
  run(v.fpu, v.host, 0xd9, 0xe8);
  assert.equal(v.fpu.top, 0);
  assert.equal(st(v.fpu), hexOf(7));
  assert.equal(v.fpu.sw & (IE | SF | C1 | ES), IE | SF | C1 | ES);
});

test('FXAM classes and sign', () => {
  const cls = (x: string | null): number => {
    const { fpu, host } = setup();
    if (x !== null) push(fpu, host, x);
    run(fpu, host, 0xd9, 0xe5);
    return fpu.sw & (C3 | C2 | C1 | C0);
  };
  assert.equal(cls(ONE), C2);
  assert.equal(cls(hexOf(-1)), C2 | C1);
  assert.equal(cls(hexOf(0)), C3);
  assert.equal(cls(h(1, 0, 0n)), C3 | C1);
  assert.equal(cls(h(0, 0x7fff, 1n << 63n)), C2 | C0);
  assert.equal(cls(INDEFINITE), C0 | C1);
  assert.equal(cls(h(0, 0, 1n)), C3 | C2); // denormal
  assert.equal(cls(h(0, 0, 1n << 63n)), C3 | C2); // pseudo-denormal
  assert.equal(cls(h(0, 5, 1n)), 0); // unnormal: unsupported
  assert.equal(cls(null), C3 | C0); // empty
});

test('compares: FCOM/FUCOM/FTST/FICOM condition codes, unordered, FCOMI EFLAGS', () => {
  const com = (a: string, b: string, modrm = 0xd1, op = 0xd8): [number, Fpu] => {
    const { fpu, host } = setup();
    push(fpu, host, b);
    push(fpu, host, a);
    run(fpu, host, op, modrm);
    return [fpu.sw & (C3 | C2 | C0), fpu];
  };
  assert.equal(com(hexOf(1), hexOf(2))[0], C0);
  assert.equal(com(hexOf(2), hexOf(1))[0], 0);
  assert.equal(com(hexOf(0), h(1, 0, 0n))[0], C3); // +0 = −0
  const qnan = h(0, 0x7fff, 0xc000000000000000n);
  let [cc, fpu] = com(qnan, ONE);
  assert.equal(cc, C3 | C2 | C0);
  assert.equal(exc(fpu), IE);
  [cc, fpu] = com(qnan, ONE, 0xe1, 0xdd); // FUCOM: QNaN is fine
  assert.equal(cc, C3 | C2 | C0);
  assert.equal(exc(fpu), 0);
  [cc, fpu] = com(h(0, 0x7fff, 0x8000000000000001n), ONE, 0xe1, 0xdd); // FUCOM SNaN → IE
  assert.equal(exc(fpu), IE);
  // FCOMPP pops both.
  [, fpu] = com(ONE, ONE, 0xd9, 0xde);
  assert.equal(fpu.top, 0);
  assert.equal(fpu.tagWord, 0xffff);
  // FTST
  const t = setup();
  pushNum(t.fpu, t.host, -4);
  run(t.fpu, t.host, 0xd9, 0xe4);
  assert.equal(t.fpu.sw & (C3 | C2 | C0), C0);
  // FICOM m16
  t.host.write16(MEM, 0xfffc); // −4
  run(t.fpu, t.host, 0xde, 0x10, MEM);
  assert.equal(t.fpu.sw & (C3 | C2 | C0), C3);
  // FCOMI / FUCOMIP write ZF PF CF and clear OF SF AF.
  const e = setup();
  pushNum(e.fpu, e.host, 2);
  pushNum(e.fpu, e.host, 1);
  e.host.eflags = 0x8d5 | 0x2;
  run(e.fpu, e.host, 0xdb, 0xf1); // FCOMI ST(1): 1 < 2
  assert.equal(e.host.eflags, 0x2 | 0x1);
  run(e.fpu, e.host, 0xdb, 0xf0); // FCOMI ST(0): equal
  assert.equal(e.host.eflags, 0x2 | 0x40);
  e.fpu.regs[(e.fpu.top + 1) & 7] = { sign: 0, exp: 0x7fff, sig: 0xc000000000000000n };
  run(e.fpu, e.host, 0xdf, 0xe9); // FUCOMIP ST(1): unordered, pop
  assert.equal(e.host.eflags, 0x2 | 0x45);
  assert.equal(e.fpu.top, 7);
  assert.equal(exc(e.fpu), 0);
});

test('FPREM/FPREM1: remainder, quotient bits in C0 C3 C1, partial remainder C2', () => {
  const prem = (a: number | string, b: number, modrm: number): [string, number] => {
    const { fpu, host } = setup();
    pushNum(fpu, host, b);
    if (typeof a === 'number') pushNum(fpu, host, a);
    else push(fpu, host, a);
    run(fpu, host, 0xd9, modrm);
    return [st(fpu), fpu.sw & (C3 | C2 | C1 | C0)];
  };
  // 10 = 3·3 + 1: Q = 3 = 011b → C0 = Q2 = 0, C3 = Q1 = 1, C1 = Q0 = 1
  assert.deepEqual(prem(10, 3, 0xf8), [hexOf(1), C3 | C1]);
  assert.deepEqual(prem(10, 3, 0xf5), [hexOf(1), C3 | C1]);
  // 11 = 3·3 + 2 (FPREM), 11 = 3·4 − 1 (FPREM1: Q = 4 = 100b → C0)
  assert.deepEqual(prem(11, 3, 0xf8), [hexOf(2), C3 | C1]);
  assert.deepEqual(prem(11, 3, 0xf5), [hexOf(-1), C0]);
  // −7 rem 2 keeps the dividend's sign; Q = 3.
  assert.deepEqual(prem(-7, 2, 0xf8), [hexOf(-1), C3 | C1]);
  // Exponent difference ≥ 64: partial reduction, C2 set, result still ≡ a (mod b).
  const [r, cc] = prem(h(0, 16383 + 100, 1n << 63n), 3, 0xf8);
  assert.equal(cc & C2, C2);
  assert.notEqual(r, h(0, 16383 + 100, 1n << 63n));
  // Loop until complete, as software does: 2^100 mod 3 = 1.
  const { fpu, host } = setup();
  pushNum(fpu, host, 3);
  push(fpu, host, h(0, 16383 + 100, 1n << 63n));
  do run(fpu, host, 0xd9, 0xf8);
  while (fpu.sw & C2);
  assert.equal(st(fpu), hexOf(1));
});

test('FBSTP/FBLD round trip, rounding and the BCD indefinite', () => {
  const { fpu, host } = setup();
  for (const v of ['-123456789012345678', '999999999999999999', '0', '-0', '42']) {
    fpu.reset();
    // Load the exact integer through FILD m64 (FCHS for −0).
    const u = BigInt.asUintN(64, BigInt(v === '-0' ? '0' : v));
    host.write32(MEM, Number(u & 0xffffffffn));
    host.write32(MEM + 4, Number(u >> 32n));
    run(fpu, host, 0xdf, 0x28, MEM);
    if (v === '-0') run(fpu, host, 0xd9, 0xe0);
    const loaded = st(fpu);
    run(fpu, host, 0xdf, 0x30, 0x200); // FBSTP
    assert.equal(exc(fpu), 0);
    assert.equal(fpu.top, 0);
    assert.equal(host.hexAt(0x200, 9), v.replace('-', '').padStart(18, '0'));
    assert.equal(host.mem[0x209], v.startsWith('-') ? 0x80 : 0);
    run(fpu, host, 0xdf, 0x20, 0x200); // FBLD
    assert.equal(st(fpu), loaded, v);
  }
  // Rounding under RC.
  fpu.reset();
  pushNum(fpu, host, 2.5);
  run(fpu, host, 0xdf, 0x30, 0x200);
  assert.equal(host.hexAt(0x200, 10), '00000000000000000002');
  assert.equal(exc(fpu), PE);
  // Out of range → packed BCD indefinite.
  fpu.reset();
  pushNum(fpu, host, 1e18);
  run(fpu, host, 0xdf, 0x30, 0x200);
  assert.equal(host.hexAt(0x200, 10), 'ffffc000000000000000');
  assert.equal(exc(fpu), IE);
});

test('FILD and integer arithmetic forms', () => {
  const { fpu, host } = setup();
  host.write16(MEM, 0xfffe); // −2
  run(fpu, host, 0xdf, 0x00, MEM); // FILD m16
  host.write32(MEM, 7);
  run(fpu, host, 0xda, 0x00, MEM); // FIADD m32 → 5
  assert.equal(st(fpu), hexOf(5));
  host.write16(MEM, 2);
  run(fpu, host, 0xde, 0x38, MEM); // FIDIVR m16: 2 / 5
  assert.equal(st(fpu), binary(FDIV, hexOf(2), hexOf(5))[0]);
  host.write32(MEM, 0xffffffff);
  host.write32(MEM + 4, 0x7fffffff);
  run(fpu, host, 0xdf, 0x28, MEM); // FILD m64 max
  assert.equal(st(fpu), h(0, 16383 + 62, 0xfffffffffffffffen));
});

test('FRNDINT, FSCALE, FXTRACT, FSQRT, FCHS, FABS', () => {
  const one = (x: number | string, modrm: number, cw = 0x037f): [string, Fpu] => {
    const { fpu, host } = setup();
    if (typeof x === 'number') pushNum(fpu, host, x);
    else push(fpu, host, x);
    fpu.cw = cw;
    run(fpu, host, 0xd9, modrm);
    return [st(fpu), fpu];
  };
  assert.equal(one(2.5, 0xfc)[0], hexOf(2));
  assert.equal(one(2.5, 0xfc, cwOf(PC64, RC_UP))[0], hexOf(3));
  assert.equal(one(-2.5, 0xfc, cwOf(PC64, RC_DOWN))[0], hexOf(-3));
  assert.equal(one(-0.3, 0xfc)[0], h(1, 0, 0n));
  assert.equal(one(2, 0xfa)[0], h(0, 16383, 0xb504f333f9de6484n)); // √2 rounded to nearest
  assert.equal(one(-0, 0xfa)[0], h(1, 0, 0n));
  assert.equal(one(5, 0xe0)[0], hexOf(-5));
  assert.equal(one(-5, 0xe1)[0], hexOf(5));
  // FSCALE: 1.5 · 2^3
  const { fpu, host } = setup();
  pushNum(fpu, host, 3.7);
  pushNum(fpu, host, 1.5);
  run(fpu, host, 0xd9, 0xfd);
  assert.equal(st(fpu), hexOf(12));
  // FXTRACT: 12 → significand 1.5 in ST(0), exponent 3 in ST(1)
  const x = setup();
  pushNum(x.fpu, x.host, 12);
  run(x.fpu, x.host, 0xd9, 0xf4);
  assert.deepEqual([st(x.fpu, 0), st(x.fpu, 1)], [hexOf(1.5), hexOf(3)]);
  // FXTRACT of 0: ZE, exponent −∞
  const z = setup();
  pushNum(z.fpu, z.host, -0);
  run(z.fpu, z.host, 0xd9, 0xf4);
  assert.deepEqual([st(z.fpu, 0), st(z.fpu, 1)], [h(1, 0, 0n), h(1, 0x7fff, 1n << 63n)]);
  assert.equal(exc(z.fpu), ZE);
});

test('constants follow RC like the hardware (FLDPI, FLDL2T, FLDLG2, …), without PE', () => {
  const ld = (modrm: number, rc: number): string => {
    const { fpu, host } = setup(0x037f | rc);
    run(fpu, host, 0xd9, modrm);
    assert.equal(exc(fpu), 0);
    return st(fpu);
  };
  assert.equal(ld(0xeb, RC_NEAREST), '4000c90fdaa22168c235');
  assert.equal(ld(0xeb, RC_DOWN), '4000c90fdaa22168c234');
  assert.equal(ld(0xeb, RC_CHOP), '4000c90fdaa22168c234');
  assert.equal(ld(0xeb, RC_UP), '4000c90fdaa22168c235');
  assert.equal(ld(0xe9, RC_NEAREST), '4000d49a784bcd1b8afe');
  assert.equal(ld(0xe9, RC_UP), '4000d49a784bcd1b8aff');
  assert.equal(ld(0xea, RC_NEAREST), '3fffb8aa3b295c17f0bc');
  assert.equal(ld(0xea, RC_CHOP), '3fffb8aa3b295c17f0bb');
  assert.equal(ld(0xec, RC_NEAREST), '3ffd9a209a84fbcff799');
  assert.equal(ld(0xec, RC_DOWN), '3ffd9a209a84fbcff798');
  assert.equal(ld(0xed, RC_NEAREST), '3ffeb17217f7d1cf79ac');
  assert.equal(ld(0xed, RC_CHOP), '3ffeb17217f7d1cf79ab');
  assert.equal(ld(0xe8, RC_UP), ONE);
  assert.equal(ld(0xee, RC_DOWN), h(0, 0, 0n));
});

test('transcendentals: special cases, argument range (C2) and sane values', () => {
  const one = (x: number | string, modrm: number): [string, Fpu] => {
    const { fpu, host } = setup();
    if (typeof x === 'number') pushNum(fpu, host, x);
    else push(fpu, host, x);
    run(fpu, host, 0xd9, modrm);
    return [st(fpu), fpu];
  };
  const FSIN = 0xfe;
  const FCOS = 0xff;
  // |x| ≥ 2^63: C2 set, operand unchanged (for FPTAN nothing pushed either).
  const big = h(0, 16383 + 63, 1n << 63n);
  for (const op of [FSIN, FCOS, 0xf2, 0xfb]) {
    const [r, fpu] = one(big, op);
    assert.equal(r, big);
    assert.equal(fpu.sw & C2, C2);
    assert.equal(fpu.top, 7);
  }
  // Just below 2^63 is in range.
  const [, fpuIn] = one(h(0, 16383 + 62, 0xffffffffffffffffn), FSIN);
  assert.equal(fpuIn.sw & C2, 0);
  assert.deepEqual(one(-0, FSIN)[0], h(1, 0, 0n));
  assert.deepEqual(one(0, FCOS)[0], ONE);
  const [r, fpu] = one(h(0, 0x7fff, 1n << 63n), FSIN);
  assert.equal(r, INDEFINITE);
  assert.equal(exc(fpu), IE);
  // Values: sin(π/6) ≈ 0.5, cos(π/3) ≈ 0.5, within double accuracy.
  const near = (got: string, want: number): void => {
    const v = toNum(got);
    assert.ok(Math.abs(v - want) <= Math.abs(want) * 2 ** -50 + 2 ** -1000, `${got} vs ${want}`);
  };
  near(one(Math.PI / 6, FSIN)[0], 0.5);
  near(one(1e6, FCOS)[0], Math.cos(1e6));
  // FPTAN pushes 1.0
  const t = setup();
  pushNum(t.fpu, t.host, 0.5);
  run(t.fpu, t.host, 0xd9, 0xf2);
  assert.equal(st(t.fpu), ONE);
  near(st(t.fpu, 1), Math.tan(0.5));
  // FSINCOS: ST(0) = cos, ST(1) = sin
  const sc = setup();
  pushNum(sc.fpu, sc.host, 1);
  run(sc.fpu, sc.host, 0xd9, 0xfb);
  near(st(sc.fpu, 0), Math.cos(1));
  near(st(sc.fpu, 1), Math.sin(1));
  // FPATAN(1, −0) = π/2 rounded like FLDPI/2; FYL2X(8) = 3 exactly; log2(0) → ZE.
  const pa = setup();
  pushNum(pa.fpu, pa.host, 1);
  pushNum(pa.fpu, pa.host, -0);
  run(pa.fpu, pa.host, 0xd9, 0xf3);
  assert.equal(st(pa.fpu), '3fffc90fdaa22168c235');
  const yl = setup();
  pushNum(yl.fpu, yl.host, 1);
  pushNum(yl.fpu, yl.host, 8);
  run(yl.fpu, yl.host, 0xd9, 0xf1);
  assert.equal(st(yl.fpu), hexOf(3));
  assert.equal(exc(yl.fpu), PE); // flagged inexact like on real parts
  const yz = setup();
  pushNum(yz.fpu, yz.host, 2);
  pushNum(yz.fpu, yz.host, 0);
  run(yz.fpu, yz.host, 0xd9, 0xf1);
  assert.equal(st(yz.fpu), h(1, 0x7fff, 1n << 63n));
  assert.equal(exc(yz.fpu), ZE);
  // F2XM1(−1) = −0.5, F2XM1(tiny) ≈ x·ln 2
  near(one(-1, 0xf0)[0], -0.5);
  near(one(2 ** -70, 0xf0)[0], 2 ** -70 * Math.LN2);
});

test('FXCH, FFREE, FFREEP, FINCSTP, FDECSTP, FCMOVcc, FST ST(i)', () => {
  const { fpu, host } = setup();
  pushNum(fpu, host, 1);
  pushNum(fpu, host, 2);
  run(fpu, host, 0xd9, 0xc9); // FXCH ST(1)
  assert.deepEqual([st(fpu, 0), st(fpu, 1)], [hexOf(1), hexOf(2)]);
  run(fpu, host, 0xdd, 0xd1); // FST ST(1)
  assert.equal(st(fpu, 1), hexOf(1));
  host.eflags = 0x2 | 0x1; // CF
  pushNum(fpu, host, 3);
  run(fpu, host, 0xda, 0xc1); // FCMOVB ST(0), ST(1): taken
  assert.equal(st(fpu), hexOf(1));
  run(fpu, host, 0xdb, 0xca); // FCMOVNE ST(0), ST(2): ZF clear → taken
  assert.equal(st(fpu), hexOf(1));
  pushNum(fpu, host, 4);
  run(fpu, host, 0xdb, 0xc1); // FCMOVNB: CF set → not taken
  assert.equal(st(fpu), hexOf(4));
  run(fpu, host, 0xdd, 0xc0); // FFREE ST(0)
  assert.equal(fpu.isEmpty(0), true);
  assert.equal(fpu.top, 4);
  run(fpu, host, 0xd9, 0xf7); // FINCSTP: TOP moves, tags stay
  assert.equal(fpu.top, 5);
  run(fpu, host, 0xd9, 0xf6); // FDECSTP
  assert.equal(fpu.top, 4);
  assert.equal(fpu.isEmpty(0), true);
  run(fpu, host, 0xdf, 0xc1); // FFREEP ST(1): frees ST(1), pops
  assert.equal(fpu.top, 5);
  assert.equal(fpu.isEmpty(0), true);
  // FXCH with an empty register (masked): it takes part as the indefinite.
  const x = setup();
  pushNum(x.fpu, x.host, 1);
  run(x.fpu, x.host, 0xd9, 0xc9);
  assert.deepEqual([st(x.fpu, 0), st(x.fpu, 1)], [INDEFINITE, ONE]);
  assert.equal(exc(x.fpu), IE | SF);
});

test('FNSTSW AX goes through host.setAx', () => {
  const { fpu, host } = setup();
  pushNum(fpu, host, 1);
  run(fpu, host, 0xdf, 0xe0);
  assert.equal(host.ax, 0x3800);
  const bare = new TestHost();
  Object.defineProperty(bare, 'setAx', { value: undefined }); // a host without FNSTSW AX support
  assert.throws(() => fpu.execute(bare, 0xdf, 0xe0, 0), /setAx/);
});

function toNum(hex: string): number {
  const se = parseInt(hex.slice(0, 4), 16);
  const sig = BigInt('0x' + hex.slice(4));
  const e = (se & 0x7fff) - 16383 - 63;
  return (se >> 15 ? -1 : 1) * Number(sig) * 2 ** e;
}

test('more masked/unmasked responses: FSCALE massive overflow, unmasked PE, FLD/FST edge cases', () => {
  // FSCALE by 2^20 with OE unmasked: even rebiased the result overflows → signed ∞ (SDM §8.5.4).
  let { fpu, host } = setup(0x0377);
  push(fpu, host, h(0, 16383 + 20, 1n << 63n));
  pushNum(fpu, host, 1);
  run(fpu, host, 0xd9, 0xfd);
  assert.equal(st(fpu), h(0, 0x7fff, 1n << 63n));
  assert.equal(fpu.sw & (OE | PE | C1 | ES), OE | PE | C1 | ES);
  // Unmasked PE: the rounded result is delivered and ES is set.
  ({ fpu, host } = setup(0x035f));
  pushNum(fpu, host, 3);
  pushNum(fpu, host, 1);
  run(fpu, host, 0xde, 0xf1); // FDIVRP ST(1), ST(0): ST(1) = ST(0)/ST(1) = 1/3, pop
  assert.equal(st(fpu), h(0, 0x3ffd, 0xaaaaaaaaaaaaaaabn));
  assert.equal(fpu.sw & (PE | C1 | ES), PE | C1 | ES);
  // FLD m80 of an SNaN: loaded as is, no exception; FST ST(i) copies it without one either.
  ({ fpu, host } = setup());
  const snan = h(0, 0x7fff, 0x8000000000000001n);
  push(fpu, host, snan);
  run(fpu, host, 0xdd, 0xd1); // FST ST(1) (empty target is fine)
  assert.deepEqual([st(fpu, 0), st(fpu, 1), exc(fpu)], [snan, snan, 0]);
  // FLD ST(i) of an empty register pushes the indefinite; FIST of an empty ST(0) stores the
  // integer indefinite.
  ({ fpu, host } = setup());
  run(fpu, host, 0xd9, 0xc3);
  assert.equal(st(fpu), INDEFINITE);
  assert.equal(exc(fpu), IE | SF);
  ({ fpu, host } = setup());
  run(fpu, host, 0xdb, 0x10, MEM);
  assert.equal(host.read32(MEM), 0x80000000);
  assert.equal(exc(fpu), IE | SF);
});

test('compares with an unmasked IE set the condition codes but do not pop', () => {
  const { fpu, host } = setup(0x037e);
  pushNum(fpu, host, 1);
  push(fpu, host, h(0, 0x7fff, 0xc000000000000000n));
  run(fpu, host, 0xd8, 0xd9); // FCOMP ST(1)
  assert.equal(fpu.sw & (C3 | C2 | C0 | IE | ES), C3 | C2 | C0 | IE | ES);
  assert.equal(fpu.top, 6);
});

test('FPTAN of a NaN pushes the NaN again; FSINCOS of a NaN gives it twice', () => {
  for (const modrm of [0xf2, 0xfb]) {
    const { fpu, host } = setup();
    const qnan = h(0, 0x7fff, 0xc000000000001234n);
    push(fpu, host, qnan);
    run(fpu, host, 0xd9, modrm);
    assert.deepEqual([st(fpu, 0), st(fpu, 1), fpu.top], [qnan, qnan, 6]);
  }
});

test('FLDENV with a pending exception that the loaded CW unmasks makes ES set', () => {
  const { fpu, host } = setup();
  // 32-bit protected-mode image: CW with ZM clear, SW with ZE set, all registers empty.
  host.write32(MEM, 0x037b);
  host.write32(MEM + 4, 0x0004);
  host.write32(MEM + 8, 0xffff);
  run(fpu, host, 0xd9, 0x20, MEM);
  assert.equal(fpu.errorPending, true);
  assert.equal(fpu.sw & 0x8080, 0x8080);
});
