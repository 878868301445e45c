/**
 * A small binary floating-point type with a 128-bit BigInt significand and an unbounded exponent,
 * for evaluating the x87 transcendental functions well beyond the 64 bits they are rounded to.
 * Operations truncate (toward zero) to PREC bits; the series below stop once a term no longer
 * affects the top PREC bits, so results carry ~120 correct bits and round correctly to 64 bits
 * except when the true value lies within ~2^-120 of a rounding boundary.
 */
import { bitLength, BIAS, Ctx, EXT, F80, isqrt, OpResult, roundPack } from './fpu-float80.js';

/** Value m · 2^e; m is a signed BigInt with exactly PREC significant bits, or 0. */
export interface BF {
  readonly m: bigint;
  readonly e: number;
}

export const PREC = 128;
const PREC_N = BigInt(PREC);

export const BF_ZERO: BF = { m: 0n, e: 0 };

export function bf(m: bigint, e: number): BF {
  if (m === 0n) return BF_ZERO;
  const neg = m < 0n;
  let a = neg ? -m : m;
  const sh = bitLength(a) - PREC;
  if (sh > 0) a >>= BigInt(sh);
  else if (sh < 0) a <<= BigInt(-sh);
  return { m: neg ? -a : a, e: e + sh };
}

export function bfInt(n: number | bigint): BF {
  return bf(BigInt(n), 0);
}

export function bfFromF80(x: F80): BF {
  const lsb = (x.exp === 0 ? 1 : x.exp) - BIAS - 63;
  return bf(x.sign ? -x.sig : x.sig, lsb);
}

/** Exponent of the leading bit (−∞ for zero). */
export function bfTop(a: BF): number {
  return a.m === 0n ? -Infinity : a.e + PREC - 1;
}

export function bfNeg(a: BF): BF {
  return { m: -a.m, e: a.e };
}

export function bfAbs(a: BF): BF {
  return a.m < 0n ? bfNeg(a) : a;
}

export function bfScale(a: BF, k: number): BF {
  return a.m === 0n ? a : { m: a.m, e: a.e + k };
}

export function bfAdd(a: BF, b: BF): BF {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  const d = a.e - b.e;
  if (d > PREC + 8) return a;
  if (d < -(PREC + 8)) return b;
  return d >= 0 ? bf((a.m << BigInt(d)) + b.m, b.e) : bf(a.m + (b.m << BigInt(-d)), a.e);
}

export function bfSub(a: BF, b: BF): BF {
  return bfAdd(a, bfNeg(b));
}

export function bfMul(a: BF, b: BF): BF {
  return bf(a.m * b.m, a.e + b.e);
}

export function bfDiv(a: BF, b: BF): BF {
  if (a.m === 0n) return BF_ZERO;
  return bf((a.m << (PREC_N + 2n)) / b.m, a.e - b.e - PREC - 2);
}

export function bfSqrt(a: BF): BF {
  if (a.m <= 0n) return BF_ZERO;
  // Scale to 2·PREC bits with an even exponent, then take the integer root.
  let sh = 2 * PREC - bitLength(a.m);
  if ((a.e - sh) & 1) sh += 1;
  return bf(isqrt(a.m << BigInt(sh)), (a.e - sh) / 2);
}

/** True when |a| < |b|. */
export function bfLessMag(a: BF, b: BF): boolean {
  if (a.m === 0n) return b.m !== 0n;
  if (b.m === 0n) return false;
  const ta = bfTop(a);
  const tb = bfTop(b);
  if (ta !== tb) return ta < tb;
  return (a.m < 0n ? -a.m : a.m) < (b.m < 0n ? -b.m : b.m);
}

/**
 * Rounds an approximation of an irrational value to the 64-bit register format. `dir` says on
 * which side of the approximation the true value lies (+1: its magnitude is a little larger, the
 * usual case since the operations truncate; −1: a little smaller).
 */
export function bfRound(a: BF, ctx: Ctx, dir = 1): OpResult {
  const sign = a.m < 0n ? 1 : 0;
  const mag = sign ? -a.m : a.m;
  const full: Ctx = { rc: ctx.rc, prec: 64, masks: ctx.masks };
  return roundPack(sign, (mag << 2n) + BigInt(dir), a.e - 2, 64, EXT, full);
}

// ---------------------------------------------------------------------------------------------
// Series. Each function is x·P(u) or P(u) with a power series P whose terms shrink below 1; P is
// summed in fixed point (FIX fraction bits), which keeps the loops to two BigInt operations a term
// while the final multiplication by x keeps full relative precision for tiny x.

const FIX = 136n;
const FIX_ONE = 1n << FIX;

/** a as a fixed-point integer (a · 2^FIX, truncated); |a| must be well below 2^(1000). */
function toFix(a: BF): bigint {
  const sh = a.e + Number(FIX);
  return sh >= 0 ? a.m << BigInt(sh) : a.m >> BigInt(-sh);
}

function fromFix(v: bigint): BF {
  return bf(v, -Number(FIX));
}

/** Σ_k u^k / ((step·k + first) · …): terms from the ratio term_k = term_{k−1}·u / ratio(k). */
function factorialSeries(u: bigint, ratio: (k: number) => number): bigint {
  let term = FIX_ONE;
  let sum = FIX_ONE;
  for (let k = 1; ; k++) {
    term = ((term * u) >> FIX) / BigInt(ratio(k));
    if (term === 0n) return sum;
    sum += term;
  }
}

/** Σ_k u^k / (2k + 1). */
function oddReciprocalSeries(u: bigint): bigint {
  let power = FIX_ONE;
  let sum = FIX_ONE;
  for (let k = 1; ; k++) {
    power = (power * u) >> FIX;
    const term = power / BigInt(2 * k + 1);
    if (term === 0n) return sum;
    sum += term;
  }
}

/** sin r = r·(1 − r²/3! + r⁴/5! − …), |r| ≤ ~1. */
export function bfSin(r: BF): BF {
  const u = -toFix(bfMul(r, r));
  return bfMul(r, fromFix(factorialSeries(u, (k) => 2 * k * (2 * k + 1))));
}

/** cos r = 1 − r²/2! + r⁴/4! − …, |r| ≤ ~1. */
export function bfCos(r: BF): BF {
  const u = -toFix(bfMul(r, r));
  return fromFix(factorialSeries(u, (k) => (2 * k - 1) * 2 * k));
}

/** atanh s = s·(1 + s²/3 + s⁴/5 + …), |s| ≤ ~1/3. */
export function bfAtanh(s: BF): BF {
  return bfMul(s, fromFix(oddReciprocalSeries(toFix(bfMul(s, s)))));
}

/** e^y − 1 = y·(1 + y/2! + y²/3! + …), |y| ≤ ~1. */
export function bfExpm1(y: BF): BF {
  return bfMul(y, fromFix(factorialSeries(toFix(y), (k) => k + 1)));
}

/** atan t for 0 ≤ t ≤ 1 by halving the angle until t is small (used to build ATAN_TABLE). */
function atanByHalving(t: BF): BF {
  const one = bfInt(1);
  let halvings = 0;
  // atan t = 2·atan(t / (1 + √(1 + t²)))
  while (bfTop(t) > -5) {
    t = bfDiv(t, bfAdd(one, bfSqrt(bfAdd(one, bfMul(t, t)))));
    halvings++;
  }
  return bfScale(atanSmall(t), halvings);
}

/** atan t = t·(1 − t²/3 + t⁴/5 − …) for small t. */
function atanSmall(t: BF): BF {
  return bfMul(t, fromFix(oddReciprocalSeries(-toFix(bfMul(t, t)))));
}

/** Nearest integer to a·2^scale, for 0 ≤ a·2^scale ≤ ~64 (table indices). */
function nearestIndex(a: BF, scale: number): number {
  return Number((toFix(bfScale(a, scale)) + (FIX_ONE >> 1n)) >> FIX);
}

/**
 * atan t for t ≥ 0: atan t = atan c + atan((t − c)/(1 + t·c)) with c = j/16 nearest t and atan c
 * from a table, leaving a short series; t > 1 goes through π/2 − atan(1/t).
 */
export function bfAtan(t: BF): BF {
  const one = bfInt(1);
  if (bfLessMag(one, t)) return bfSub(bfScale(PI, -1), bfAtan(bfDiv(one, t)));
  const j = nearestIndex(t, 4);
  if (j === 0) return atanSmall(t);
  const c = bf(BigInt(j), -4);
  const reduced = bfDiv(bfSub(t, c), bfAdd(one, bfMul(t, c)));
  return bfAdd(ATAN_TABLE[j], atanSmall(reduced));
}

/**
 * ln x for x > 0: x = m·2^k with m in [√½, √2); ln m = ln c + 2·atanh((m − c)/(m + c)) with
 * c = j/32 nearest m and ln c from a table.
 */
export function bfLn(x: BF): BF {
  let k = bfTop(x);
  let m = bfScale(x, -k); // [1, 2)
  if (bfLessMag(SQRT2, m)) {
    m = bfScale(m, -1);
    k += 1;
  }
  const j = nearestIndex(m, 5);
  const c = bf(BigInt(j), -5);
  const lnm = bfAdd(LN_TABLE[j], bfScale(bfAtanh(bfDiv(bfSub(m, c), bfAdd(m, c))), 1));
  return k === 0 ? lnm : bfAdd(bfMul(bfInt(k), LN2), lnm);
}

/** ln c for c near 1 (|c − 1| ≤ ~1/2) straight from the atanh series (used to build LN_TABLE). */
function lnNear1(c: BF): BF {
  const one = bfInt(1);
  return bfScale(bfAtanh(bfDiv(bfSub(c, one), bfAdd(c, one))), 1);
}

// Constants. π from its hexadecimal expansion; the others computed once at load from series.
export const PI = bf(0x3243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89n, -256);
/** The hardware's 66-bit approximation of π, used for trigonometric argument reduction. */
export const PI66_INT = 0x3243f6a8885a308d3n; // π ≈ PI66_INT · 2^-64
export const LN2 = lnNear1(bfInt(2)); // 2·atanh(1/3)
export const LOG2E = bfDiv(bfInt(1), LN2);
const SQRT2 = bfSqrt(bfInt(2));
/** atan(j/16), j = 0…16. */
const ATAN_TABLE: readonly BF[] = Array.from({ length: 17 }, (_, j) => atanByHalving(bf(BigInt(j), -4)));
/** ln(j/32) for j = 0…46 (entries below 22 are never used: m ≥ √½). */
const LN_TABLE: readonly BF[] = Array.from({ length: 47 }, (_, j) => (j < 22 ? BF_ZERO : lnNear1(bf(BigInt(j), -5))));
