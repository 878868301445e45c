/**
 * Regenerates test/fixtures/fpu/oracle.json: x87 results computed by the host's own FPU.
 *
 *   npm run build && node dist/scripts/gen-fpu-fixtures.js [SCALE [OUT [SEED]]]
 *
 * SCALE multiplies the number of cases (default 1, about 1600 cases), OUT overrides the output
 * file and SEED the PRNG seed: a large run to another file is a cheap local soak test
 * (FPU_ORACLE_FIXTURE=file node --test dist/test/x86/fpu-oracle.test.js).
 *
 * Needs gcc with 32-bit support (gcc-multilib) on an x86 host. It compiles
 * scripts/native/fpu-oracle.c in a temporary directory, feeds it pseudo-random operands (fixed
 * seed, so the fixture is reproducible on the same kind of CPU) chosen to hit rounding boundaries,
 * denormals, overflow, special values and unmasked exceptions, and records the answers. The host
 * is a modern x86; its x87 arithmetic, conversions and flags match the P6's, so the fixture checks
 * exact results for those. Transcendental results are recorded too but tests compare them only
 * approximately (see src/x86/fpu-transcendental.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** mulberry32: small deterministic PRNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const [scaleArg, outArg, seedArg] = process.argv.slice(2);
const SCALE = scaleArg ? Number(scaleArg) : 1;
const rand = rng(seedArg ? Number(seedArg) : 0x87f0);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

function hex(sign: number, exp: number, sig: bigint): string {
  return (((sign << 15) | exp) >>> 0).toString(16).padStart(4, '0') + sig.toString(16).padStart(16, '0');
}

function randSig(): bigint {
  const hi = BigInt(int(0x80000000)) | 0x80000000n;
  const lo = BigInt(int(0x100000000));
  let s = (hi << 32n) | lo;
  // Structured low bits: exact halves and near-halves at the 24-, 53- and 64-bit rounding points.
  switch (int(6)) {
    case 0:
      s = (s >> 40n) << 40n | BigInt(pick([0x8000000000, 0x7fffffffff, 0x8000000001]));
      break;
    case 1:
      s = (s >> 11n) << 11n | BigInt(pick([0x400, 0x3ff, 0x401]));
      break;
    case 2:
      s = (s >> 24n) << 24n; // few significant bits: often exact
      break;
  }
  return s;
}

const BIAS = 16383;
const SPECIALS = [
  hex(0, 0, 0n),
  hex(1, 0, 0n),
  hex(0, 0x7fff, 1n << 63n),
  hex(1, 0x7fff, 1n << 63n),
  hex(0, 0x7fff, 0xc000000000000000n | BigInt(int(1 << 30))), // QNaN
  hex(1, 0x7fff, 0xc000000000001234n),
  hex(0, 0x7fff, 0x8000000000000000n | BigInt(1 + int(1 << 30))), // SNaN
  hex(0, 0, BigInt(1 + int(0x7fffffff)) << BigInt(int(32))), // denormal
  hex(1, 0, 0x8000000000000001n), // pseudo-denormal
  hex(0, BIAS, 0x4000000000000000n), // unnormal (unsupported)
  hex(0, 0x7ffe, 0xffffffffffffffffn),
  hex(0, 1, 1n << 63n),
];

function normal(expLo: number, expHi: number): string {
  return hex(int(2), expLo + int(expHi - expLo + 1), randSig());
}

function operandNear(e: number, spread: number): string {
  return normal(Math.max(1, e - spread), Math.min(0x7ffe, e + spread));
}

interface Case {
  op: string;
  cw: number;
  a: string;
  b: string;
}

function randomCw(): number {
  const pc = pick([0, 2, 3, 3, 1]);
  const rc = int(4);
  let masks = 0x3f;
  if (rand() < 0.15) masks &= ~pick([0x01, 0x02, 0x04, 0x08, 0x10, 0x20]);
  return 0x40 | masks | (pc << 8) | (rc << 10);
}

const cases: Case[] = [];
function add(op: string, count: number, gen: () => [string, string], cwGen: () => number = randomCw): void {
  for (let k = 0; k < Math.round(count * SCALE); k++) {
    const [a, b] = gen();
    cases.push({ op, cw: cwGen(), a, b });
  }
}

const zeroHex = hex(0, 0, 0n);
const maybeSpecial = (x: string): string => (rand() < 0.08 ? pick(SPECIALS) : x);

function arithPair(): [string, string] {
  const r = rand();
  const e = r < 0.05 ? 2 + int(80) : r < 0.1 ? 0x7ffe - int(80) : BIAS - 40 + int(80);
  const spread = pick([0, 1, 3, 30, 70, 200]);
  return [maybeSpecial(operandNear(e, 2)), maybeSpecial(operandNear(e, spread))];
}

for (const op of ['add', 'sub', 'mul', 'div']) add(op, 160, arithPair);
add('sqrt', 70, () => [maybeSpecial(hex(rand() < 0.1 ? 1 : 0, pick([1, 50, BIAS - 5, BIAS, BIAS + 7, 0x7ffe]) + int(4), randSig())), zeroHex]);
add('prem', 60, () => [maybeSpecial(operandNear(BIAS + int(100), 0)), maybeSpecial(operandNear(BIAS, 3))]);
add('prem1', 60, () => [maybeSpecial(operandNear(BIAS + int(100), 0)), maybeSpecial(operandNear(BIAS, 3))]);
add('rndint', 50, () => [maybeSpecial(operandNear(BIAS - 2 + int(70), 0)), zeroHex]);
add('scale', 50, () => {
  const n = BigInt(pick([1, 10, 100, 16000, 20000, 40000]) * (rand() < 0.5 ? -1 : 1));
  const len = n < 0n ? (-n).toString(2).length : n.toString(2).length;
  const mag = n < 0n ? -n : n;
  return [maybeSpecial(operandNear(pick([1, 100, BIAS, 0x7ff0]), 3)), hex(n < 0n ? 1 : 0, BIAS + len - 1, mag << BigInt(64 - len))];
});
add('com', 60, () => {
  const a = maybeSpecial(operandNear(BIAS, 2));
  return [a, rand() < 0.3 ? a : maybeSpecial(operandNear(BIAS, 2))];
});
add('ucom', 40, () => [maybeSpecial(operandNear(BIAS, 1)), maybeSpecial(operandNear(BIAS, 1))]);
add('fst32', 100, () => [maybeSpecial(operandNear(pick([BIAS - 126, BIAS - 140, BIAS + 127, BIAS]), 12)), zeroHex]);
add('fst64', 100, () => [maybeSpecial(operandNear(pick([BIAS - 1022, BIAS - 1060, BIAS + 1023, BIAS]), 30)), zeroHex]);
add('fist16', 40, () => [maybeSpecial(operandNear(BIAS + 13, 3)), zeroHex]);
add('fist32', 40, () => [maybeSpecial(operandNear(BIAS + 29, 4)), zeroHex]);
add('fistp64', 40, () => [maybeSpecial(operandNear(BIAS + 61, 4)), zeroHex]);
add('fbstp', 30, () => [maybeSpecial(operandNear(BIAS + 50, 12)), zeroHex]);
add('ld32', 40, () => {
  const bits = pick([int(0x800000), 0x7f800000 | int(0x800000), int(0x100000000), 0x80000000 | int(0x800000)]);
  return [hex(0, 0, BigInt(bits >>> 0)), zeroHex];
});
add('ld64', 40, () => {
  const hi = pick([int(0x100000), 0x7ff00000 | int(0x100000), int(0x100000000), 0x80000000 | int(0x100000)]);
  return [hex(0, 0, (BigInt(hi >>> 0) << 32n) | BigInt(int(0x100000000))), zeroHex];
});
add('xtract', 40, () => [maybeSpecial(operandNear(pick([1, BIAS - 70, BIAS, BIAS + 200]), 10)), zeroHex]);
add('comi', 30, () => {
  const a = maybeSpecial(operandNear(BIAS, 1));
  return [a, rand() < 0.3 ? a : maybeSpecial(operandNear(BIAS, 1))];
});
add('ucomi', 30, () => [maybeSpecial(operandNear(BIAS, 1)), maybeSpecial(operandNear(BIAS, 1))]);
const transCw = (): number => 0x037f | (int(4) << 10);
add('sincos', 25, () => [maybeSpecial(operandNear(pick([BIAS - 40, BIAS, BIAS + 20, BIAS + 63]), 2)), zeroHex], transCw);
add('ptan', 25, () => [maybeSpecial(operandNear(pick([BIAS - 40, BIAS, BIAS + 20, BIAS + 63]), 2)), zeroHex], transCw);
add('sin', 25, () => [maybeSpecial(operandNear(pick([BIAS - 40, BIAS, BIAS + 20, BIAS + 62, BIAS + 63]), 2)), zeroHex], transCw);
add('cos', 25, () => [maybeSpecial(operandNear(pick([BIAS - 40, BIAS, BIAS + 20, BIAS + 62, BIAS + 63]), 2)), zeroHex], transCw);
add('tan', 25, () => [maybeSpecial(operandNear(pick([BIAS - 40, BIAS, BIAS + 20, BIAS + 63]), 2)), zeroHex], transCw);
add('f2xm1', 20, () => [maybeSpecial(operandNear(BIAS - 3, 3)), zeroHex], transCw);
add('atan', 25, () => [maybeSpecial(operandNear(BIAS, 5)), maybeSpecial(operandNear(BIAS, 5))], transCw);
add('yl2x', 25, () => [maybeSpecial(hex(0, BIAS - 10 + int(20), randSig())), maybeSpecial(operandNear(BIAS, 5))], transCw);
add('yl2xp1', 20, () => [maybeSpecial(hex(int(2), BIAS - 20 + int(19), randSig())), maybeSpecial(operandNear(BIAS, 5))], transCw);

const dir = mkdtempSync(join(tmpdir(), 'fpu-oracle-'));
try {
  const exe = join(dir, 'fpu-oracle');
  execFileSync('gcc', ['-m32', '-O1', '-o', exe, join(root, 'scripts', 'native', 'fpu-oracle.c')], { stdio: 'inherit' });
  const input = cases.map((c) => `${c.op} ${c.cw.toString(16)} ${c.a} ${c.b}\n`).join('');
  const lines = execFileSync(exe, { input, encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n');
  if (lines.length !== cases.length) throw new Error(`oracle answered ${lines.length} of ${cases.length} cases`);
  const rows = cases.map((c, k) => {
    const [r, sw] = lines[k].split(' ');
    if (r === 'error') throw new Error(`oracle rejected case ${k}: ${lines[k]}`);
    return { op: c.op, cw: c.cw, a: c.a, b: c.b, r, sw: parseInt(sw, 16) };
  });
  const out = outArg ?? join(root, 'test', 'fixtures', 'fpu', 'oracle.json');
  const body = rows.map((r) => '  ' + JSON.stringify(r)).join(',\n');
  writeFileSync(out, `[\n${body}\n]\n`);
  console.log(`wrote ${rows.length} cases to ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
