/**
 * The host's model of guests/bench.c: the checksums the bench guest must
 * print. Written from the algorithm, not from the C: the sieve count, the CRC
 * and the sorted order do not depend on how the guest computes them.
 */
import { crc32 } from '../src/boot/guests.js';

function xorshift(s: Uint32Array): number {
  let x = s[0];
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  s[0] = x;
  return s[0];
}

const mix = (h: number, v: number) => Math.imul((h ^ v) >>> 0, 0x01000193) >>> 0;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

const SIEVE_LIMIT = 32768, CRC_BYTES = 8192, SORT_LEN = 512, GCD_PAIRS = 256;
/** Primes below the sieve limit, by trial division. */
const PRIMES = (() => {
  let count = 0;
  for (let n = 2; n < SIEVE_LIMIT; n++) {
    let prime = true;
    for (let d = 2; d * d <= n && prime; d++) prime = n % d !== 0;
    if (prime) count++;
  }
  return count;
})();

function compute(iter: number): number {
  const rng = Uint32Array.of(Math.imul(iter, 0x9e3779b9) + 1);
  let h = mix(0x811c9dc5, PRIMES);
  const bytes = new Uint8Array(CRC_BYTES);
  for (let k = 0; k < CRC_BYTES; k++) bytes[k] = xorshift(rng) & 0xff;
  h = mix(h, crc32(bytes));
  const words = new Uint32Array(SORT_LEN);
  for (let k = 0; k < SORT_LEN; k++) words[k] = xorshift(rng);
  words.sort();
  let weighted = 0;
  for (let k = 0; k < SORT_LEN; k++) weighted = (weighted + Math.imul(words[k], k + 1)) >>> 0;
  h = mix(h, weighted);
  let gsum = 0;
  for (let k = 0; k < GCD_PAIRS; k++) {
    const a = xorshift(rng) >>> 8, b = xorshift(rng) >>> 12;
    gsum = (gsum + gcd(a, (b | 1) >>> 0)) >>> 0;
  }
  return mix(h, gsum);
}

const WALK_WORDS = 1 << 17, CHASE_LEN = 1 << 16, CHASE_STEPS = 65536;

function memoryPhase(iterations: number): number {
  const walk = new Uint32Array(WALK_WORDS);
  for (let k = 0; k < WALK_WORDS; k++) walk[k] = Math.imul(k, 0x9e3779b9);
  const next = new Uint32Array(CHASE_LEN);
  const rng = Uint32Array.of(0x2545f491);
  for (let k = 0; k < CHASE_LEN; k++) next[k] = k;
  for (let k = CHASE_LEN - 1; k > 0; k--) {
    const j = xorshift(rng) % k;
    [next[k], next[j]] = [next[j], next[k]];
  }
  let total = 0;
  for (let i = 0; i < iterations; i++) {
    for (let k = i % 16; k < WALK_WORDS; k += 16) walk[k] = Math.imul(walk[k], 3) + i;
    for (let k = i % 1027; k < WALK_WORDS; k += 1027) walk[k] ^= walk[Math.imul(k, 7) & (WALK_WORDS - 1)];
    let h = 0x811c9dc5, p = i & (CHASE_LEN - 1);
    for (let k = 0; k < CHASE_STEPS; k++) {
      p = next[p];
      h = mix(h, walk[p]);
    }
    total = mix(total, h);
  }
  return total;
}

const hex = (v: number) => v.toString(16).padStart(8, '0');

/** The line the guest prints for a phase run `iterations` times. */
export function expectedLine(phase: 'compute' | 'memory', iterations: number): string {
  if (phase === 'memory') return `memory ${iterations} ${hex(memoryPhase(iterations))}`;
  let h = 0;
  for (let i = 0; i < iterations; i++) h = mix(h, compute(i));
  return `compute ${iterations} ${hex(h)}`;
}
