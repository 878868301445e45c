/**
 * Soft-float for the x87 double-extended format (the FPU's register format).
 *
 * A value is kept as its three raw fields (sign, 15-bit biased exponent, 64-bit significand with the
 * explicit integer bit J), exactly as the 80-bit memory image has them, so unsupported encodings
 * (unnormals, pseudo-NaNs, pseudo-denormals) survive loads, stores and FXCH untouched.
 *
 * Arithmetic works on exact values: an operation forms its exact result as `m * 2^e` with a BigInt
 * `m` (quotients and roots get enough extra bits plus a sticky bit, which is as good as exact for
 * rounding), and `roundPack` rounds it once to the destination precision and exponent range under the
 * rounding control, producing the x87's flags: PE, UE (tininess after rounding, as Intel detects it),
 * OE, and C1 = "rounded up in magnitude". Masked responses (∞ or max-finite on overflow, denormals on
 * underflow, the default NaN) and the unmasked ones (exponent rebiased by 24576 for register
 * destinations, nothing stored for memory destinations) follow SDM Vol. 1 §4.9 and §8.5.
 *
 * Every operation returns an OpResult: the value to write (null when an unmasked exception forbids
 * the write) and the status-word bits it raised (exception flags and, where the operation defines
 * them, condition codes) in the status word's own bit positions.
 */

export interface F80 {
  readonly sign: number; // 0 or 1
  readonly exp: number; // 0..0x7FFF, biased by 16383
  readonly sig: bigint; // 64 bits, bit 63 = explicit integer bit J
}

export interface OpResult {
  value: F80 | null;
  flags: number;
}

/** Rounding context taken from the control word. */
export interface Ctx {
  readonly rc: number; // RC field: 0 nearest-even, 1 down (−∞), 2 up (+∞), 3 toward zero
  readonly prec: number; // significand bits selected by PC: 24, 53 or 64
  readonly masks: number; // CW bits 0..5 (IM DM ZM OM UM PM)
}

/** Exponent range of a destination format, in unbiased exponents of the leading bit. */
export interface Format {
  readonly emin: number;
  readonly emax: number;
}

// Status-word bits. Operations report exceptions and condition codes in these positions.
export const IE = 0x0001;
export const DE = 0x0002;
export const ZE = 0x0004;
export const OE = 0x0008;
export const UE = 0x0010;
export const PE = 0x0020;
export const SF = 0x0040;
export const C0 = 0x0100;
export const C1 = 0x0200;
export const C2 = 0x0400;
export const C3 = 0x4000;

export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_CHOP = 3;

export const BIAS = 16383;
export const EXT: Format = { emin: -16382, emax: 16383 };
export const DOUBLE: Format = { emin: -1022, emax: 1023 };
export const SINGLE: Format = { emin: -126, emax: 127 };

/** Amount by which unmasked overflow/underflow rebias a register result (SDM §8.5.4/§8.5.5). */
const REBIAS = 24576;

const J_BIT = 1n << 63n;
const QUIET_BIT = 1n << 62n;
const SIG_MASK = (1n << 64n) - 1n;

// Value classes, roughly the FXAM classes plus the signalling/quiet split.
export const K_ZERO = 0;
export const K_DENORMAL = 1; // exp 0, sig ≠ 0 (including pseudo-denormals, J = 1)
export const K_NORMAL = 2;
export const K_INF = 3;
export const K_QNAN = 4;
export const K_SNAN = 5;
export const K_UNSUPPORTED = 6; // unnormal, pseudo-NaN, pseudo-infinity

export function f80(sign: number, exp: number, sig: bigint): F80 {
  return { sign, exp, sig };
}

export const POS_ZERO = f80(0, 0, 0n);
export const NEG_ZERO = f80(1, 0, 0n);
export const ONE = f80(0, BIAS, J_BIT);
/** The "real indefinite" QNaN, the default result of a masked invalid operation. */
export const INDEFINITE = f80(1, 0x7fff, 0xc000000000000000n);

export function zero(sign: number): F80 {
  return sign ? NEG_ZERO : POS_ZERO;
}

export function infinity(sign: number): F80 {
  return f80(sign, 0x7fff, J_BIT);
}

export function classify(x: F80): number {
  if (x.exp === 0) return x.sig === 0n ? K_ZERO : K_DENORMAL;
  if ((x.sig & J_BIT) === 0n) return K_UNSUPPORTED;
  if (x.exp !== 0x7fff) return K_NORMAL;
  if ((x.sig & ~J_BIT) === 0n) return K_INF;
  return (x.sig & QUIET_BIT) !== 0n ? K_QNAN : K_SNAN;
}

export function isNaNClass(k: number): boolean {
  return k === K_QNAN || k === K_SNAN;
}

export function negate(x: F80): F80 {
  return f80(x.sign ^ 1, x.exp, x.sig);
}

export function withSign(x: F80, sign: number): F80 {
  return x.sign === sign ? x : f80(sign, x.exp, x.sig);
}

export function quiet(x: F80): F80 {
  return f80(x.sign, x.exp, x.sig | QUIET_BIT);
}

/** Exponent of the significand's least significant bit: the value is sig * 2^lsbExp. */
function lsbExp(x: F80): number {
  // Denormals (and pseudo-denormals) use the exponent of the smallest normal, 1.
  return (x.exp === 0 ? 1 : x.exp) - BIAS - 63;
}

const BL_F64 = new Float64Array(1);
const BL_U32 = new Uint32Array(BL_F64.buffer);
const BL_HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** Number of significant bits of m ≥ 0 (0 for 0). */
export function bitLength(m: bigint): number {
  if (m < 0x100000000n) return 32 - Math.clz32(Number(m));
  // The double nearest m has m's exponent, unless rounding carried it up to a power of two.
  const d = Number(m);
  if (d === Infinity) {
    const s = m.toString(16);
    return (s.length - 1) * 4 + (32 - Math.clz32(parseInt(s[0], 16)));
  }
  BL_F64[0] = d;
  const hi = BL_U32[BL_HI];
  const e = ((hi >>> 20) & 0x7ff) - 1023; // d is in [2^e, 2^(e+1))
  if ((hi & 0xfffff) === 0 && BL_U32[1 - BL_HI] === 0 && m < 1n << BigInt(e)) return e;
  return e + 1;
}

interface Rounded {
  q: bigint;
  inexact: boolean;
  up: boolean; // rounded away from zero (magnitude grew)
}

/** Drops the low `shift` bits of magnitude m, rounding under RC for a value of the given sign. */
function shiftRound(m: bigint, shift: number, sign: number, rc: number): Rounded {
  if (shift <= 0) return { q: m << BigInt(-shift), inexact: false, up: false };
  let q: bigint;
  let cmpHalf: number; // sign of (discarded part − half an ulp)
  let inexact: boolean;
  if (shift > 256 && m < 1n << 255n) {
    // Everything is discarded and it is less than half an ulp.
    q = 0n;
    inexact = m !== 0n;
    cmpHalf = -1;
  } else {
    const s = BigInt(shift);
    q = m >> s;
    const rem = m - (q << s);
    inexact = rem !== 0n;
    const half = 1n << (s - 1n);
    cmpHalf = rem > half ? 1 : rem === half ? 0 : -1;
  }
  if (!inexact) return { q, inexact, up: false };
  let up: boolean;
  switch (rc) {
    case RC_NEAREST:
      up = cmpHalf > 0 || (cmpHalf === 0 && (q & 1n) === 1n);
      break;
    case RC_DOWN:
      up = sign === 1;
      break;
    case RC_UP:
      up = sign === 0;
      break;
    default:
      up = false;
  }
  return { q: up ? q + 1n : q, inexact, up };
}

/**
 * Builds the F80 whose value is q * 2^lsb (the caller guarantees it is exactly representable in the
 * extended format, or asks for massive over/underflow to saturate, as FSCALE's rebias needs).
 */
function makeF80(sign: number, q: bigint, lsb: number): F80 {
  if (q === 0n) return zero(sign);
  const len = bitLength(q);
  const top = lsb + len - 1; // unbiased exponent of the leading bit
  if (top > EXT.emax) return infinity(sign);
  if (top >= EXT.emin) {
    const sig = len <= 64 ? q << BigInt(64 - len) : q >> BigInt(len - 64);
    return f80(sign, top + BIAS, sig);
  }
  // Extended denormal: sig * 2^-16445.
  const sh = lsb + 16445;
  const sig = sh >= 0 ? q << BigInt(sh) : q >> BigInt(-sh);
  return sig === 0n ? zero(sign) : f80(sign, 0, sig & SIG_MASK);
}

function maxFinite(sign: number, prec: number, fmt: Format): F80 {
  return f80(sign, fmt.emax + BIAS, ((1n << BigInt(prec)) - 1n) << BigInt(64 - prec));
}

/**
 * Rounds the exact value (−1)^sign · m · 2^e to `prec` significant bits within `fmt`'s exponent
 * range. The low bit of m may be a sticky bit as long as m carries at least two bits below the
 * rounding position. `toMemory` selects the unmasked overflow/underflow response of stores
 * (nothing delivered) over that of register destinations (rebiased result).
 */
export function roundPack(
  sign: number,
  m: bigint,
  e: number,
  prec: number,
  fmt: Format,
  ctx: Ctx,
  toMemory = false,
): OpResult {
  if (m === 0n) return { value: zero(sign), flags: 0 };
  const top = e + bitLength(m) - 1;
  // First round with an unbounded exponent: it decides overflow and tininess (after rounding).
  const lsbU = top - prec + 1;
  const r = shiftRound(m, lsbU - e, sign, ctx.rc);
  const topR = r.q >> BigInt(prec) !== 0n ? top + 1 : top; // rounding carried into a new bit
  const flagsU = r.inexact ? PE | (r.up ? C1 : 0) : 0;

  if (topR > fmt.emax) {
    if ((ctx.masks & OE) === 0) {
      if (toMemory) return { value: null, flags: OE };
      // Rebiased; a massive overflow (FSCALE) that still does not fit gives ∞ with PE and C1.
      if (topR - REBIAS > fmt.emax) return { value: infinity(sign), flags: OE | PE | C1 };
      return { value: makeF80(sign, r.q, lsbU - REBIAS), flags: OE | flagsU };
    }
    const toInf =
      ctx.rc === RC_NEAREST || (ctx.rc === RC_UP && sign === 0) || (ctx.rc === RC_DOWN && sign === 1);
    return {
      value: toInf ? infinity(sign) : maxFinite(sign, prec, fmt),
      flags: OE | PE | (toInf ? C1 : 0),
    };
  }

  if (topR < fmt.emin) {
    if ((ctx.masks & UE) === 0) {
      // Unmasked underflow is reported even for exact results.
      if (toMemory) return { value: null, flags: UE };
      if (topR + REBIAS < fmt.emin) return { value: zero(sign), flags: UE | PE };
      return { value: makeF80(sign, r.q, lsbU + REBIAS), flags: UE | flagsU };
    }
    // Masked: denormalize. Precision control applies to the significand field, so the rounding
    // point sits (prec − 1) bits below the format's minimum exponent.
    const lsbD = fmt.emin - prec + 1;
    const d = shiftRound(m, lsbD - e, sign, ctx.rc);
    if (!d.inexact) return { value: makeF80(sign, d.q, lsbD), flags: 0 };
    return { value: makeF80(sign, d.q, lsbD), flags: UE | PE | (d.up ? C1 : 0) };
  }

  return { value: makeF80(sign, r.q, lsbU), flags: flagsU };
}

// ---------------------------------------------------------------------------------------------
// Exception helpers

/** Invalid operation: the default NaN when IE is masked, nothing otherwise. */
export function invalid(ctx: Ctx, extra = 0): OpResult {
  return { value: ctx.masks & IE ? INDEFINITE : null, flags: IE | extra };
}

/**
 * NaN operand(s) of a two-operand arithmetic instruction (SDM Table 4-7): an SNaN raises IE and is
 * quieted; of an SNaN and a QNaN the QNaN wins; of two NaNs of the same kind the larger significand
 * wins (on a tie the positive one, as the hardware does).
 */
function propagateNaN2(a: F80, ka: number, b: F80, kb: number, ctx: Ctx): OpResult {
  const flags = ka === K_SNAN || kb === K_SNAN ? IE : 0;
  if (flags && (ctx.masks & IE) === 0) return { value: null, flags };
  let r: F80;
  if (isNaNClass(ka) && isNaNClass(kb)) {
    if (ka !== kb) r = ka === K_QNAN ? a : b;
    else if (a.sig !== b.sig) r = a.sig > b.sig ? a : b;
    else r = a.sign === 0 ? a : b;
  } else {
    r = isNaNClass(ka) ? a : b;
  }
  return { value: quiet(r), flags };
}

function propagateNaN1(a: F80, ka: number, ctx: Ctx): OpResult {
  if (ka === K_SNAN) {
    if ((ctx.masks & IE) === 0) return { value: null, flags: IE };
    return { value: quiet(a), flags: IE };
  }
  return { value: a, flags: 0 };
}

/**
 * Operand screening shared by two-operand operations, in the SDM's priority order: unsupported
 * formats, then NaNs. Returns the result when it is decided, else undefined.
 */
function screen2(a: F80, ka: number, b: F80, kb: number, ctx: Ctx): OpResult | undefined {
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) return invalid(ctx);
  if (isNaNClass(ka) || isNaNClass(kb)) return propagateNaN2(a, ka, b, kb, ctx);
  return undefined;
}

function screen1(a: F80, ka: number, ctx: Ctx): OpResult | undefined {
  if (ka === K_UNSUPPORTED) return invalid(ctx);
  if (isNaNClass(ka)) return propagateNaN1(a, ka, ctx);
  return undefined;
}

/** DE for a denormal operand; when DE is unmasked the instruction stops there. */
function denormalStop(hasDenormal: boolean, ctx: Ctx): OpResult | undefined {
  if (hasDenormal && (ctx.masks & DE) === 0) return { value: null, flags: DE };
  return undefined;
}

function addFlags(r: OpResult, flags: number): OpResult {
  r.flags |= flags;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Arithmetic. `memDen` says the memory operand was a single/double denormal (the conversion already
// normalized it, but it still counts as a denormal operand for DE).

export function add(a: F80, b: F80, subtract: boolean, ctx: Ctx, memDen = false): OpResult {
  const ka = classify(a);
  const kb = classify(b);
  const s = screen2(a, ka, b, kb, ctx);
  if (s) return s;
  const sb = b.sign ^ (subtract ? 1 : 0);
  if (ka === K_INF && kb === K_INF && a.sign !== sb) return invalid(ctx);
  const den = ka === K_DENORMAL || kb === K_DENORMAL || memDen;
  const stop = denormalStop(den, ctx);
  if (stop) return stop;
  const dflag = den ? DE : 0;
  if (ka === K_INF) return { value: a, flags: dflag };
  if (kb === K_INF) return { value: infinity(sb), flags: dflag };
  if (ka === K_ZERO && kb === K_ZERO) {
    const sign = a.sign === sb ? a.sign : ctx.rc === RC_DOWN ? 1 : 0;
    return { value: zero(sign), flags: dflag };
  }
  let ma = a.sig;
  let mb = b.sig;
  let ea = lsbExp(a);
  let eb = lsbExp(b);
  if (ma === 0n) ea = eb;
  if (mb === 0n) eb = ea;
  // A far smaller operand only matters as a sticky bit far below the rounding point.
  const FAR = 130;
  if (ea - eb > FAR) {
    mb = 1n;
    eb = ea - FAR;
  } else if (eb - ea > FAR) {
    ma = 1n;
    ea = eb - FAR;
  }
  let e: number;
  if (ea >= eb) {
    ma <<= BigInt(ea - eb);
    e = eb;
  } else {
    mb <<= BigInt(eb - ea);
    e = ea;
  }
  const sum = (a.sign ? -ma : ma) + (sb ? -mb : mb);
  if (sum === 0n) return { value: zero(ctx.rc === RC_DOWN ? 1 : 0), flags: dflag };
  const sign = sum < 0n ? 1 : 0;
  return addFlags(roundPack(sign, sign ? -sum : sum, e, ctx.prec, EXT, ctx), dflag);
}

export function mul(a: F80, b: F80, ctx: Ctx, memDen = false): OpResult {
  const ka = classify(a);
  const kb = classify(b);
  const s = screen2(a, ka, b, kb, ctx);
  if (s) return s;
  const sign = a.sign ^ b.sign;
  if ((ka === K_INF && kb === K_ZERO) || (ka === K_ZERO && kb === K_INF)) return invalid(ctx);
  const den = ka === K_DENORMAL || kb === K_DENORMAL || memDen;
  const stop = denormalStop(den, ctx);
  if (stop) return stop;
  const dflag = den ? DE : 0;
  if (ka === K_INF || kb === K_INF) return { value: infinity(sign), flags: dflag };
  if (ka === K_ZERO || kb === K_ZERO) return { value: zero(sign), flags: dflag };
  return addFlags(roundPack(sign, a.sig * b.sig, lsbExp(a) + lsbExp(b), ctx.prec, EXT, ctx), dflag);
}

/** a / b. */
export function div(a: F80, b: F80, ctx: Ctx, memDen = false): OpResult {
  const ka = classify(a);
  const kb = classify(b);
  const s = screen2(a, ka, b, kb, ctx);
  if (s) return s;
  const sign = a.sign ^ b.sign;
  if ((ka === K_INF && kb === K_INF) || (ka === K_ZERO && kb === K_ZERO)) return invalid(ctx);
  // Divide-by-zero outranks the denormal-operand exception.
  if (kb === K_ZERO && ka !== K_INF) {
    return { value: ctx.masks & ZE ? infinity(sign) : null, flags: ZE };
  }
  const den = ka === K_DENORMAL || kb === K_DENORMAL || memDen;
  const stop = denormalStop(den, ctx);
  if (stop) return stop;
  const dflag = den ? DE : 0;
  if (ka === K_INF) return { value: infinity(sign), flags: dflag };
  if (kb === K_INF || ka === K_ZERO) return { value: zero(sign), flags: dflag };
  // 136 extra bits leave ≥ 72 quotient bits even for the smallest denormal dividend.
  const K = 136n;
  const num = a.sig << K;
  const q = num / b.sig;
  const sticky = num - q * b.sig !== 0n ? 1n : 0n;
  const e = lsbExp(a) - lsbExp(b) - Number(K) - 1;
  return addFlags(roundPack(sign, (q << 1n) | sticky, e, ctx.prec, EXT, ctx), dflag);
}

/** ⌊√n⌋: a double-precision estimate refined by Newton's iteration from above. */
export function isqrt(n: bigint): bigint {
  const len = bitLength(n);
  if (len <= 52) {
    let r = BigInt(Math.floor(Math.sqrt(Number(n))));
    while (r * r > n) r -= 1n;
    while ((r + 1n) * (r + 1n) <= n) r += 1n;
    return r;
  }
  const shift = (len - 52) & ~1;
  // √n < (√top + 1)·2^(shift/2), so this starts at or above the root.
  let x = (BigInt(Math.ceil(Math.sqrt(Number(n >> BigInt(shift))))) + 1n) << BigInt(shift / 2);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function sqrt(a: F80, ctx: Ctx): OpResult {
  const ka = classify(a);
  const s = screen1(a, ka, ctx);
  if (s) return s;
  if (ka === K_ZERO) return { value: a, flags: 0 }; // √−0 = −0
  if (a.sign) return invalid(ctx);
  if (ka === K_INF) return { value: a, flags: 0 };
  const stop = denormalStop(ka === K_DENORMAL, ctx);
  if (stop) return stop;
  const dflag = ka === K_DENORMAL ? DE : 0;
  let m = a.sig;
  let e = lsbExp(a);
  if (e & 1) {
    m <<= 1n;
    e -= 1;
  }
  // Scale so the root has ≥ 68 bits, leaving room for the rounding and sticky bits.
  const k = Math.max(0, Math.ceil((136 - bitLength(m)) / 2));
  const n = m << BigInt(2 * k);
  const r = isqrt(n);
  const sticky = r * r !== n ? 1n : 0n;
  return addFlags(roundPack(0, (r << 1n) | sticky, (e - 2 * k) / 2 - 1, ctx.prec, EXT, ctx), dflag);
}

// ---------------------------------------------------------------------------------------------
// Comparison

/** Compares finite values (zero, denormal or normal): −1, 0 or 1. */
function compareFinite(a: F80, b: F80): number {
  const az = a.sig === 0n;
  const bz = b.sig === 0n;
  if (az && bz) return 0;
  if (az) return b.sign ? 1 : -1;
  if (bz) return a.sign ? -1 : 1;
  if (a.sign !== b.sign) return a.sign ? -1 : 1;
  const la = bitLength(a.sig);
  const lb = bitLength(b.sig);
  const ta = lsbExp(a) + la - 1;
  const tb = lsbExp(b) + lb - 1;
  let mag: number;
  if (ta !== tb) mag = ta > tb ? 1 : -1;
  else {
    const na = a.sig << BigInt(64 - la);
    const nb = b.sig << BigInt(64 - lb);
    mag = na === nb ? 0 : na > nb ? 1 : -1;
  }
  return a.sign ? -mag : mag;
}

export const CMP_LESS = -1;
export const CMP_EQUAL = 0;
export const CMP_GREATER = 1;
export const CMP_UNORDERED = 2;

export interface CmpResult {
  rel: number; // CMP_*
  /** An unmasked exception occurred: the instruction must not pop (TOP stays, SDM §8.5). */
  stop: boolean;
  flags: number;
}

/**
 * FCOM/FUCOM semantics. `quietNaNsOk` (FUCOM*) lets QNaNs compare unordered without IE; SNaNs
 * and unsupported formats always raise IE. The relation is reported even when the IE or DE raised
 * is unmasked: real parts set the condition codes then too (as the SDM's pseudo-code does, though
 * its prose says otherwise).
 */
export function compare(a: F80, b: F80, quietNaNsOk: boolean, ctx: Ctx, memDen = false): CmpResult {
  const ka = classify(a);
  const kb = classify(b);
  let ie = ka === K_UNSUPPORTED || kb === K_UNSUPPORTED || ka === K_SNAN || kb === K_SNAN;
  const nan = isNaNClass(ka) || isNaNClass(kb) || ka === K_UNSUPPORTED || kb === K_UNSUPPORTED;
  if (nan && !quietNaNsOk) ie = true;
  if (ie) return { rel: CMP_UNORDERED, stop: (ctx.masks & IE) === 0, flags: IE };
  if (nan) return { rel: CMP_UNORDERED, stop: false, flags: 0 };
  const den = ka === K_DENORMAL || kb === K_DENORMAL || memDen;
  const stop = den && (ctx.masks & DE) === 0;
  const flags = den ? DE : 0;
  if (ka === K_INF || kb === K_INF) {
    const va = ka === K_INF ? (a.sign ? -1 : 1) : 0;
    const vb = kb === K_INF ? (b.sign ? -1 : 1) : 0;
    if (ka === K_INF && kb === K_INF) return { rel: Math.sign(va - vb), stop, flags };
    return { rel: ka === K_INF ? va : -vb, stop, flags };
  }
  return { rel: compareFinite(a, b), stop, flags };
}

// ---------------------------------------------------------------------------------------------
// Integer conversions

/** Exact conversion of an integer with |v| < 2^64. */
export function fromBigInt(v: bigint): F80 {
  const sign = v < 0n ? 1 : 0;
  const m = sign ? -v : v;
  if (m === 0n) return zero(sign);
  const len = bitLength(m);
  return f80(sign, BIAS + len - 1, m << BigInt(64 - len));
}

interface IntRounding {
  q: bigint; // rounded magnitude
  inexact: boolean;
  up: boolean;
}

/** Rounds a finite value to an integer magnitude under RC. */
function roundMagToInt(a: F80, rc: number): IntRounding {
  if (a.sig === 0n) return { q: 0n, inexact: false, up: false };
  const e = lsbExp(a);
  const r = shiftRound(a.sig, -e, a.sign, rc);
  return { q: r.q, inexact: r.inexact, up: r.up };
}

/** FRNDINT: round to an integral value under RC (precision control does not apply). */
export function roundToInt(a: F80, ctx: Ctx): OpResult {
  const ka = classify(a);
  const s = screen1(a, ka, ctx);
  if (s) return s;
  if (ka === K_ZERO || ka === K_INF) return { value: a, flags: 0 };
  const stop = denormalStop(ka === K_DENORMAL, ctx);
  if (stop) return stop;
  const dflag = ka === K_DENORMAL ? DE : 0;
  const r = roundMagToInt(a, ctx.rc);
  if (!r.inexact) return { value: a.exp === 0 ? makeF80(a.sign, r.q, 0) : a, flags: dflag };
  return { value: makeF80(a.sign, r.q, 0), flags: dflag | PE | (r.up ? C1 : 0) };
}

export interface IntResult {
  value: bigint | null; // null: masked invalid → the caller stores the integer indefinite
  flags: number;
}

/**
 * FIST/FISTP/FBSTP conversion: round under RC, then range-check against [min, max]. Out of range,
 * NaN, ∞ and unsupported raise IE (never OE); PE/C1 report inexact rounding.
 */
export function toInteger(a: F80, min: bigint, max: bigint, ctx: Ctx): IntResult {
  const ka = classify(a);
  if (ka === K_UNSUPPORTED || ka === K_INF || isNaNClass(ka)) return { value: null, flags: IE };
  // Anything of 2^64 or more is out of range for every integer format; skip the huge shift.
  if (a.exp - BIAS >= 64) return { value: null, flags: IE };
  const r = roundMagToInt(a, ctx.rc);
  const v = a.sign ? -r.q : r.q;
  if (v < min || v > max) return { value: null, flags: IE };
  return { value: v, flags: r.inexact ? PE | (r.up ? C1 : 0) : 0 };
}

// ---------------------------------------------------------------------------------------------
// Memory formats

export interface LoadResult {
  value: F80; // exact widening; an SNaN stays signalling so the instruction can apply its NaN rules
  denormal: boolean; // the source was a single/double denormal (a DE condition)
}

/** m32 real → extended, exact. */
export function fromSingle(bits: number): LoadResult {
  const sign = bits >>> 31;
  const ex = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  if (ex === 0xff) {
    if (frac === 0) return { value: infinity(sign), denormal: false };
    return { value: f80(sign, 0x7fff, J_BIT | (BigInt(frac) << 40n)), denormal: false };
  }
  if (ex === 0) {
    if (frac === 0) return { value: zero(sign), denormal: false };
    return { value: makeF80(sign, BigInt(frac), -149), denormal: true };
  }
  return { value: f80(sign, ex - 127 + BIAS, J_BIT | (BigInt(frac) << 40n)), denormal: false };
}

/** m64 real → extended, exact. hi/lo are the upper and lower 32 bits. */
export function fromDouble(hi: number, lo: number): LoadResult {
  const sign = hi >>> 31;
  const ex = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo >>> 0);
  if (ex === 0x7ff) {
    if (frac === 0n) return { value: infinity(sign), denormal: false };
    return { value: f80(sign, 0x7fff, J_BIT | (frac << 11n)), denormal: false };
  }
  if (ex === 0) {
    if (frac === 0n) return { value: zero(sign), denormal: false };
    return { value: makeF80(sign, frac, -1074), denormal: true };
  }
  return { value: f80(sign, ex - 1023 + BIAS, J_BIT | (frac << 11n)), denormal: false };
}

export interface StoreResult {
  bits: bigint | null; // the memory image; null when an unmasked exception suppresses the store
  flags: number;
}

interface NarrowFormat {
  readonly fmt: Format;
  readonly prec: number;
  readonly expBits: number;
  readonly fracBits: number;
}
const SINGLE_FMT: NarrowFormat = { fmt: SINGLE, prec: 24, expBits: 8, fracBits: 23 };
const DOUBLE_FMT: NarrowFormat = { fmt: DOUBLE, prec: 53, expBits: 11, fracBits: 52 };

function narrow(a: F80, nf: NarrowFormat, ctx: Ctx): StoreResult {
  const fb = BigInt(nf.fracBits);
  const expAll = (1n << BigInt(nf.expBits)) - 1n;
  const signBit = BigInt(a.sign) << BigInt(nf.expBits + nf.fracBits);
  const ka = classify(a);
  if (ka === K_UNSUPPORTED) {
    if ((ctx.masks & IE) === 0) return { bits: null, flags: IE };
    // The default NaN: sign set, exponent all ones, quiet bit only.
    return { bits: (1n << BigInt(nf.expBits + nf.fracBits)) | (expAll << fb) | (1n << (fb - 1n)), flags: IE };
  }
  if (isNaNClass(ka)) {
    const flags = ka === K_SNAN ? IE : 0;
    if (flags && (ctx.masks & IE) === 0) return { bits: null, flags };
    const frac = ((a.sig | QUIET_BIT) >> BigInt(63 - nf.fracBits)) & ((1n << fb) - 1n);
    return { bits: signBit | (expAll << fb) | frac, flags };
  }
  if (ka === K_INF) return { bits: signBit | (expAll << fb), flags: 0 };
  if (ka === K_ZERO) return { bits: signBit, flags: 0 };
  const r = roundPack(a.sign, a.sig, lsbExp(a), nf.prec, nf.fmt, ctx, true);
  if (r.value === null) return { bits: null, flags: r.flags };
  return { bits: packNarrow(r.value, nf), flags: r.flags };
}

/** Packs an F80 already representable in the narrow format (finite, ∞ or zero). */
function packNarrow(v: F80, nf: NarrowFormat): bigint {
  const fb = BigInt(nf.fracBits);
  const expAll = (1n << BigInt(nf.expBits)) - 1n;
  const signBit = BigInt(v.sign) << BigInt(nf.expBits + nf.fracBits);
  if (v.exp === 0x7fff) return signBit | (expAll << fb);
  if (v.sig === 0n) return signBit;
  const top = v.exp - BIAS; // v is normal in the extended format
  const drop = 63 - nf.fracBits;
  if (top >= nf.fmt.emin) {
    const frac = (v.sig >> BigInt(drop)) & ((1n << fb) - 1n);
    return signBit | (BigInt(top - nf.fmt.emin + 1) << fb) | frac;
  }
  return signBit | (v.sig >> BigInt(drop + nf.fmt.emin - top));
}

export function toSingle(a: F80, ctx: Ctx): StoreResult {
  return narrow(a, SINGLE_FMT, ctx);
}

export function toDouble(a: F80, ctx: Ctx): StoreResult {
  return narrow(a, DOUBLE_FMT, ctx);
}

/** Raw 80-bit image of a register, as FSTP m80 and FSAVE write it: significand low, then sign/exp. */
export function toBytes(x: F80, out: Uint8Array, off: number): void {
  let s = x.sig;
  for (let i = 0; i < 8; i++) {
    out[off + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  const se = (x.sign << 15) | x.exp;
  out[off + 8] = se & 0xff;
  out[off + 9] = se >>> 8;
}

export function fromBytes(b: Uint8Array, off: number): F80 {
  let s = 0n;
  for (let i = 7; i >= 0; i--) s = (s << 8n) | BigInt(b[off + i]);
  const se = b[off + 8] | (b[off + 9] << 8);
  return f80(se >>> 15, se & 0x7fff, s);
}

/** Register contents as 20 hex digits: sign+exponent (4), then significand (16). */
export function toHex(x: F80): string {
  const se = ((x.sign << 15) | x.exp).toString(16).padStart(4, '0');
  return se + x.sig.toString(16).padStart(16, '0');
}

export function fromHex(h: string): F80 {
  if (!/^[0-9a-fA-F]{20}$/.test(h)) throw new Error(`malformed 80-bit value '${h}': want 20 hex digits`);
  const se = parseInt(h.slice(0, 4), 16);
  return f80(se >>> 15, se & 0x7fff, BigInt('0x' + h.slice(4)));
}

// ---------------------------------------------------------------------------------------------
// Instructions with a more involved definition

/** FSCALE: a · 2^trunc(b), exact apart from overflow/underflow; rounded to 64 bits. */
export function scale(a: F80, b: F80, ctx: Ctx): OpResult {
  const ka = classify(a);
  const kb = classify(b);
  const s = screen2(a, ka, b, kb, ctx);
  if (s) return s;
  if (kb === K_INF) {
    if ((b.sign === 0 && ka === K_ZERO) || (b.sign === 1 && ka === K_INF)) return invalid(ctx);
    const stop = denormalStop(ka === K_DENORMAL, ctx);
    if (stop) return stop;
    const dflag = ka === K_DENORMAL ? DE : 0;
    if (ka === K_ZERO || ka === K_INF) return { value: a, flags: dflag };
    return { value: b.sign ? zero(a.sign) : infinity(a.sign), flags: dflag };
  }
  const den = ka === K_DENORMAL || kb === K_DENORMAL;
  const stop = denormalStop(den, ctx);
  if (stop) return stop;
  const dflag = den ? DE : 0;
  if (ka === K_ZERO || ka === K_INF) return { value: a, flags: dflag };
  // trunc(b), clamped well beyond any result that is not a massive overflow or underflow.
  const LIMIT = 1 << 20;
  let n: number;
  const eb = lsbExp(b);
  if (kb === K_ZERO) n = 0;
  else if (eb + bitLength(b.sig) - 1 > 30) n = LIMIT;
  else n = Math.min(LIMIT, Number(eb >= 0 ? b.sig << BigInt(eb) : b.sig >> BigInt(-eb)));
  if (b.sign) n = -n;
  const full: Ctx = { rc: ctx.rc, prec: 64, masks: ctx.masks };
  return addFlags(roundPack(a.sign, a.sig, lsbExp(a) + n, 64, EXT, full), dflag);
}

/** FXTRACT: [exponent, significand]. ZE for zero (exponent −∞). */
export function extract(a: F80, ctx: Ctx): { exponent: F80 | null; significand: F80 | null; flags: number } {
  const ka = classify(a);
  if (ka === K_UNSUPPORTED || isNaNClass(ka)) {
    const r = ka === K_UNSUPPORTED ? invalid(ctx) : propagateNaN1(a, ka, ctx);
    return { exponent: r.value, significand: r.value, flags: r.flags };
  }
  if (ka === K_ZERO) {
    if ((ctx.masks & ZE) === 0) return { exponent: null, significand: null, flags: ZE };
    return { exponent: infinity(1), significand: a, flags: ZE };
  }
  if (ka === K_INF) return { exponent: infinity(0), significand: a, flags: 0 };
  if (ka === K_DENORMAL && (ctx.masks & DE) === 0) return { exponent: null, significand: null, flags: DE };
  const len = bitLength(a.sig);
  const top = lsbExp(a) + len - 1;
  return {
    exponent: fromBigInt(BigInt(top)),
    significand: f80(a.sign, BIAS, a.sig << BigInt(64 - len)),
    flags: ka === K_DENORMAL ? DE : 0,
  };
}

/**
 * A finite nonzero operand passed through as a result: normalized like any result, and a denormal
 * one is still a tiny result for an unmasked underflow (rebiased, UE).
 */
function exactResult(a: F80, ctx: Ctx): OpResult {
  const r = roundPack(a.sign, a.sig, lsbExp(a), 64, EXT, { rc: ctx.rc, prec: 64, masks: ctx.masks });
  r.flags &= ~(PE | C1);
  return r;
}

/**
 * FPREM (nearest = false: quotient truncated) and FPREM1 (nearest = true: IEEE remainder).
 * Exact. When the exponents differ by 64 or more only a partial reduction is done (C2 = 1): by
 * 2^(D−N)·b with N = 32 + (D mod 32), which is what the hardware does. The flags carry C2 and the
 * quotient's low bits (C0 = Q2, C3 = Q1, C1 = Q0); a partial reduction leaves them clear.
 */
export function remainder(a: F80, b: F80, nearest: boolean, ctx: Ctx): OpResult {
  const ka = classify(a);
  const kb = classify(b);
  const s = screen2(a, ka, b, kb, ctx);
  if (s) return s;
  if (ka === K_INF || kb === K_ZERO) return invalid(ctx);
  const den = ka === K_DENORMAL || kb === K_DENORMAL;
  const stop = denormalStop(den, ctx);
  if (stop) return stop;
  const dflag = den ? DE : 0;
  if (ka === K_ZERO) return { value: a, flags: dflag };
  if (kb === K_INF) return addFlags(exactResult(a, ctx), dflag);
  const la = bitLength(a.sig);
  const lb = bitLength(b.sig);
  const ea = lsbExp(a);
  let eb = lsbExp(b);
  const d = ea + la - 1 - (eb + lb - 1);
  let partial = false;
  if (d >= 64) {
    partial = true;
    eb += d - (32 + (d % 32));
  }
  // |a| < |b| (FPREM) or |a| < |b|/2 (FPREM1): quotient 0, a is the remainder.
  if (d < (nearest ? -1 : 0)) return addFlags(exactResult(a, ctx), dflag);
  const lsb = Math.min(ea, eb);
  const A = a.sig << BigInt(ea - lsb);
  const B = b.sig << BigInt(eb - lsb);
  let q = A / B;
  let r = A - q * B;
  let sign = a.sign;
  if (nearest && !partial) {
    const twice = r << 1n;
    if (twice > B || (twice === B && (q & 1n) === 1n)) {
      q += 1n;
      r = B - r;
      sign ^= 1;
    }
  }
  let cc = 0;
  if (partial) cc = C2;
  else {
    if (q & 1n) cc |= C1;
    if (q & 2n) cc |= C3;
    if (q & 4n) cc |= C0;
  }
  if (r === 0n) return { value: zero(a.sign), flags: dflag | cc };
  const full: Ctx = { rc: ctx.rc, prec: 64, masks: ctx.masks };
  const res = roundPack(sign, r, lsb, 64, EXT, full);
  // The remainder is exact; only (unmasked) underflow can be reported, and C1 stays Q0.
  return { value: res.value, flags: dflag | cc | (res.flags & ~C1 & ~PE) };
}

// ---------------------------------------------------------------------------------------------
// JavaScript numbers (for tests and tools)

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Exact F80 for a finite JS number. */
export function fromNumber(x: number): F80 {
  F64[0] = x;
  const lo = U32[LITTLE ? 0 : 1];
  const hi = U32[LITTLE ? 1 : 0];
  return fromDouble(hi, lo).value;
}
