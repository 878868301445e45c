/**
 * The x87 transcendental instructions (FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X FYL2XP1) and the
 * constant loads.
 *
 * The special cases (zeros, infinities, NaNs, out-of-range arguments, invalid and divide-by-zero
 * conditions) and exception flags follow the SDM's tables. The function values are evaluated with
 * ~120-bit BigInt floating point (fpu-bigfloat.ts) and rounded once to 64 bits under RC, so they
 * are correctly rounded (with PE, C1 = rounded up, and UE/OE from the same rounding as the
 * arithmetic) except when the true value lies within ~2^-120 of a rounding boundary. The hardware
 * only promises < 1 ulp, so an occasional last-bit difference from a real P6 is expected.
 * Like the hardware (SDM Vol. 1 §8.3.10), FSIN/FCOS/FSINCOS/FPTAN reduce the argument by
 * multiples of π/2 using a 66-bit approximation of π (the reduction itself is exact), which is
 * what makes results for large arguments match real parts.
 */

import {
  add,
  BIAS,
  bitLength,
  classify,
  Ctx,
  DE,
  F80,
  f80,
  fromBigInt,
  IE,
  infinity,
  invalid,
  isNaNClass,
  K_DENORMAL,
  K_INF,
  K_NORMAL,
  K_QNAN,
  K_SNAN,
  K_UNSUPPORTED,
  K_ZERO,
  mul,
  ONE,
  OpResult,
  PE,
  quiet,
  RC_CHOP,
  RC_DOWN,
  RC_NEAREST,
  RC_UP,
  ZE,
  zero,
} from './fpu-float80.js';
import {
  BF,
  bf,
  bfAbs,
  bfAtan,
  bfAtanh,
  bfCos,
  bfDiv,
  bfExpm1,
  bfFromF80,
  bfInt,
  bfLessMag,
  bfLn,
  bfMul,
  bfNeg,
  bfRound,
  bfScale,
  bfSin,
  bfSub,
  bfTop,
  LN2,
  LOG2E,
  PI,
  PI66_INT,
} from './fpu-bigfloat.js';

/** k·π/4 rounded under RC, for FPATAN's exact-angle results (π is irrational: always PE). */
function piQuarters(sign: number, k: number, ctx: Ctx): OpResult {
  const r = bfRound(bfScale(bfMul(PI, bfInt(k)), -2), ctx);
  return sign ? withSign(r) : r;
}

/** Negates an OpResult's value in place (the flags already describe the magnitude). */
function withSign(r: OpResult): OpResult {
  if (r.value) r.value = f80(r.value.sign ^ 1, r.value.exp, r.value.sig);
  return r;
}

interface Screened {
  done: OpResult | undefined;
  den: boolean;
}

/** Unsupported → IE; NaN → propagated (SNaN quieted with IE); denormal → DE (stop if unmasked). */
function screen1(a: F80, ctx: Ctx): Screened {
  const k = classify(a);
  if (k === K_UNSUPPORTED) return { done: invalid(ctx), den: false };
  if (k === K_SNAN) {
    return { done: { value: ctx.masks & IE ? quiet(a) : null, flags: IE }, den: false };
  }
  if (k === K_QNAN) return { done: { value: a, flags: 0 }, den: false };
  if (k === K_DENORMAL && (ctx.masks & DE) === 0) return { done: { value: null, flags: DE }, den: true };
  return { done: undefined, den: k === K_DENORMAL };
}

/** Two-operand screening, borrowing the arithmetic NaN rules through a NaN-propagating add. */
function screen2(a: F80, b: F80, ctx: Ctx): Screened {
  const ka = classify(a);
  const kb = classify(b);
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED || isNaNClass(ka) || isNaNClass(kb)) {
    return { done: add(a, b, false, ctx), den: false };
  }
  const den = ka === K_DENORMAL || kb === K_DENORMAL;
  if (den && (ctx.masks & DE) === 0) return { done: { value: null, flags: DE }, den };
  return { done: undefined, den };
}

function withFlags(r: OpResult, flags: number): OpResult {
  r.flags |= flags;
  return r;
}

/** Unbiased exponent of the leading bit of a finite nonzero x (denormals normalized). */
function unbiasedTop(x: F80): number {
  return (x.exp === 0 ? 1 : x.exp) - BIAS - 63 + bitLength(x.sig) - 1;
}

// ---------------------------------------------------------------------------------------------
// Trigonometric functions

export interface TrigResult {
  /** C2 set: |x| ≥ 2^63, the operand is left unchanged and nothing else happens. */
  outOfRange: boolean;
  sin?: OpResult;
  cos?: OpResult;
  tan?: OpResult;
}

export type TrigWant = 'sin' | 'cos' | 'tan' | 'sincos';

/** Exact reduction of a finite x by π66/2: the reduced argument (|r| ≤ π66/4) and quadrant. */
function reduce(x: F80): [BF, number] {
  const lsb = (x.exp === 0 ? 1 : x.exp) - BIAS - 63;
  const base = Math.min(lsb, -65);
  const X = x.sig << BigInt(lsb - base);
  const H = PI66_INT << BigInt(-65 - base); // π66/2 at the same scale
  let k = X / H;
  let r = X - k * H;
  if (r << 1n > H) {
    k += 1n;
    r -= H;
  }
  const q = Number(k & 3n);
  return x.sign ? [bf(-r, base), (4 - q) & 3] : [bf(r, base), q];
}

/**
 * FSIN / FCOS / FSINCOS / FPTAN on ST(0): computes the results `want` asks for. sin and tan of
 * ±0 are ±0 exactly, cos 0 is 1.
 */
export function trig(x: F80, want: TrigWant, ctx: Ctx): TrigResult {
  const k = classify(x);
  const all = (r: OpResult): TrigResult => ({ outOfRange: false, sin: r, cos: r, tan: r });
  if (k === K_INF) return all(invalid(ctx));
  const s = screen1(x, ctx);
  if (s.done) return all(s.done);
  if (k === K_NORMAL && x.exp - BIAS >= 63) return { outOfRange: true };
  const dflag = s.den ? DE : 0;
  if (k === K_ZERO) {
    return { outOfRange: false, sin: { value: x, flags: 0 }, cos: { value: ONE, flags: 0 }, tan: { value: x, flags: 0 } };
  }
  const needSin = want !== 'cos';
  const needCos = want !== 'sin';
  const res: TrigResult = { outOfRange: false };
  if (unbiasedTop(x) < -32) {
    // sin x = x − x³/6…, tan x = x + x³/3…, cos x = 1 − x²/2…: within a quarter ulp of x or 1,
    // on a known side.
    const bx = bfFromF80(x);
    if (needSin) res.sin = withFlags(bfRound(bx, ctx, -1), dflag);
    if (want === 'tan') res.tan = withFlags(bfRound(bx, ctx, +1), dflag);
    if (needCos) res.cos = withFlags(bfRound(bfInt(1), ctx, -1), dflag);
    return res;
  }
  const [r, q] = reduce(x);
  // sin x and cos x are ±sin r or ±cos r depending on the quadrant.
  const sr = needSin || q & 1 ? bfSin(r) : undefined;
  const cr = needCos || q & 1 ? bfCos(r) : undefined;
  const pick = (v: BF | undefined, neg: boolean): BF => (neg ? bfNeg(v as BF) : (v as BF));
  if (want === 'tan') {
    const t = q & 1 ? bfNeg(bfDiv(cr as BF, sr as BF)) : bfDiv(sr as BF, cr as BF);
    res.tan = withFlags(bfRound(t, ctx), dflag);
    return res;
  }
  if (needSin) res.sin = withFlags(bfRound(q & 1 ? pick(cr, q === 3) : pick(sr, q === 2), ctx), dflag);
  if (needCos) res.cos = withFlags(bfRound(q & 1 ? pick(sr, q === 1) : pick(cr, q === 2), ctx), dflag);
  return res;
}

// ---------------------------------------------------------------------------------------------
// FPATAN: ST(1) ← arctan(ST(1) / ST(0)), with the quadrant from both signs (like C's atan2).

export function atan2(y: F80, x: F80, ctx: Ctx): OpResult {
  const s = screen2(y, x, ctx);
  if (s.done) return s.done;
  const dflag = s.den ? DE : 0;
  const ky = classify(y);
  const kx = classify(x);
  // Exact-angle cases (SDM's FPATAN table): results ±0, ±π/4, ±π/2, ±3π/4, ±π.
  if (ky === K_ZERO || kx === K_INF || ky === K_INF) {
    if (ky === K_INF && kx === K_INF) return withFlags(piQuarters(y.sign, x.sign ? 3 : 1, ctx), dflag);
    if (ky === K_INF) return withFlags(piQuarters(y.sign, 2, ctx), dflag);
    if (x.sign === 0) return { value: zero(y.sign), flags: dflag };
    return withFlags(piQuarters(y.sign, 4, ctx), dflag);
  }
  if (kx === K_ZERO) return withFlags(piQuarters(y.sign, 2, ctx), dflag);
  const by = bfAbs(bfFromF80(y));
  const bx = bfAbs(bfFromF80(x));
  const t = bfDiv(by, bx);
  let a: BF;
  let dir = 1;
  if (bfTop(t) < -80 && x.sign === 0) {
    // atan t = t − t³/3…: the correction is below the working precision but its side is known.
    a = t;
    dir = -1;
  } else {
    a = bfLessMag(by, bx) ? bfAtan(t) : bfSub(bfScale(PI, -1), bfAtan(bfDiv(bx, by)));
    if (x.sign) a = bfSub(PI, a);
  }
  const r = withFlags(bfRound(a, ctx, dir), dflag);
  return y.sign ? withSign(r) : r;
}

// ---------------------------------------------------------------------------------------------
// F2XM1: 2^x − 1, defined for −1 ≤ x ≤ 1.

export function f2xm1(x: F80, ctx: Ctx): OpResult {
  const k = classify(x);
  if (k === K_INF) return { value: x.sign ? f80(1, BIAS, 1n << 63n) : x, flags: 0 }; // 2^−∞ − 1 = −1
  const s = screen1(x, ctx);
  if (s.done) return s.done;
  const dflag = s.den ? DE : 0;
  if (k === K_ZERO) return { value: x, flags: 0 };
  const top = unbiasedTop(x);
  // Outside −1 ≤ x ≤ 1 the result is undefined; the hardware hands back x with PE.
  if (top > 0 || (top === 0 && x.sig !== 1n << 63n)) return { value: x, flags: dflag | PE };
  // ±1: the exact results 1 and −0.5, though real parts flag them inexact (PE) regardless.
  if (top === 0) return { value: x.sign ? f80(1, BIAS - 1, 1n << 63n) : ONE, flags: PE };
  return withFlags(bfRound(bfExpm1(bfMul(bfFromF80(x), LN2)), ctx), dflag);
}

// ---------------------------------------------------------------------------------------------
// FYL2X: ST(1) ← ST(1) · log2(ST(0)); FYL2XP1: ST(1) ← ST(1) · log2(ST(0) + 1).

/** y · l rounded once (l irrational, so always inexact). */
function times(y: F80, l: BF, ctx: Ctx, dflag: number): OpResult {
  return withFlags(bfRound(bfMul(bfFromF80(y), l), ctx), dflag);
}

export function fyl2x(x: F80, y: F80, ctx: Ctx): OpResult {
  const s = screen2(x, y, ctx);
  if (s.done) return s.done;
  const dflag = s.den ? DE : 0;
  const kx = classify(x);
  const ky = classify(y);
  if (x.sign && kx !== K_ZERO) return invalid(ctx); // log of a negative number
  if (kx === K_ZERO) {
    if (ky === K_ZERO) return invalid(ctx);
    if (ky === K_INF) return { value: infinity(y.sign ^ 1), flags: dflag };
    if ((ctx.masks & ZE) === 0) return { value: null, flags: ZE | dflag };
    return { value: infinity(y.sign ^ 1), flags: ZE | dflag };
  }
  if (kx === K_INF) {
    if (ky === K_ZERO) return invalid(ctx);
    return { value: infinity(y.sign), flags: dflag };
  }
  const isOne = x.exp === BIAS && x.sig === 1n << 63n;
  if (isOne) {
    if (ky === K_INF) return invalid(ctx);
    return { value: zero(y.sign), flags: dflag };
  }
  const below1 = unbiasedTop(x) < 0; // 0 < x < 1: negative logarithm
  if (ky === K_INF) return { value: infinity(y.sign ^ (below1 ? 1 : 0)), flags: dflag };
  if (ky === K_ZERO) return { value: zero(y.sign ^ (below1 ? 1 : 0)), flags: dflag };
  if ((x.sig & (x.sig - 1n)) === 0n) {
    // A power of two: log2 x is an integer and y · log2 x one ordinary rounding. Real parts
    // report PE here even when that product is exact.
    const full: Ctx = { rc: ctx.rc, prec: 64, masks: ctx.masks };
    return withFlags(mul(y, fromBigInt(BigInt(unbiasedTop(x))), full), dflag | PE);
  }
  return times(y, bfMul(bfLn(bfFromF80(x)), LOG2E), ctx, dflag);
}

export function fyl2xp1(x: F80, y: F80, ctx: Ctx): OpResult {
  const s = screen2(x, y, ctx);
  if (s.done) return s.done;
  const dflag = s.den ? DE : 0;
  const kx = classify(x);
  const ky = classify(y);
  if (kx === K_INF) {
    // Outside the defined range; −∞ would be a log of a negative number.
    if (x.sign || ky === K_ZERO) return invalid(ctx);
    return { value: infinity(y.sign), flags: dflag };
  }
  if (kx === K_ZERO) {
    if (ky === K_INF) return invalid(ctx);
    return { value: zero(x.sign ^ y.sign), flags: dflag };
  }
  if (ky === K_INF) return { value: infinity(y.sign ^ x.sign), flags: dflag };
  if (ky === K_ZERO) return { value: zero(x.sign ^ y.sign), flags: dflag };
  const bx = bfFromF80(x);
  if (unbiasedTop(x) < -1) {
    // |x| < 1/2: ln(1 + x) = 2·atanh(x / (2 + x)), accurate however small x is.
    const lnv = bfScale(bfAtanh(bfDiv(bx, bfAdd2(bx))), 1);
    return times(y, bfMul(lnv, LOG2E), ctx, dflag);
  }
  // |x| ≥ 1/2 is outside the documented range; the hardware still computes y·log2(1 + x).
  const t = add(x, ONE, false, { rc: RC_NEAREST, prec: 64, masks: 0x3f });
  if (!t.value) return invalid(ctx);
  const r = fyl2x(t.value, y, ctx);
  if (r.value) r.flags |= dflag;
  return r;
}

function bfAdd2(x: BF): BF {
  return bfSub(x, bfInt(-2));
}

// ---------------------------------------------------------------------------------------------
// Constants (FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ)

/**
 * Each constant as its round-to-nearest 64-bit value and whether that value is above the true
 * one. The other rounding modes pick the neighbour on their side, which is what the 387 and
 * later do with their 66-bit internal constants (SDM: FLD1/FLDL2T/… "rounded per RC"). No PE.
 */
interface Constant {
  readonly exp: number;
  readonly sig: bigint;
  readonly nearestIsAbove: boolean | null; // null: exact
}

export const CONSTANTS: readonly Constant[] = [
  { exp: BIAS, sig: 0x8000000000000000n, nearestIsAbove: null }, // D9 E8 FLD1
  { exp: BIAS + 1, sig: 0xd49a784bcd1b8afen, nearestIsAbove: false }, // D9 E9 FLDL2T log2(10)
  { exp: BIAS, sig: 0xb8aa3b295c17f0bcn, nearestIsAbove: true }, // D9 EA FLDL2E log2(e)
  { exp: BIAS + 1, sig: 0xc90fdaa22168c235n, nearestIsAbove: true }, // D9 EB FLDPI π
  { exp: BIAS - 2, sig: 0x9a209a84fbcff799n, nearestIsAbove: true }, // D9 EC FLDLG2 log10(2)
  { exp: BIAS - 1, sig: 0xb17217f7d1cf79acn, nearestIsAbove: true }, // D9 ED FLDLN2 ln(2)
  { exp: 0, sig: 0n, nearestIsAbove: null }, // D9 EE FLDZ
];

export function constant(index: number, rc: number): F80 {
  const c = CONSTANTS[index];
  let sig = c.sig;
  if (c.nearestIsAbove === true && (rc === RC_DOWN || rc === RC_CHOP)) sig -= 1n;
  if (c.nearestIsAbove === false && rc === RC_UP) sig += 1n;
  return f80(0, c.exp, sig);
}
