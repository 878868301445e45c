/**
 * The guest programs that ship with typevisor (built from guests/*.c by
 * guests/build.sh into guests/bin/), and what the self-test guest must print.
 */
import { readFileSync } from 'node:fs';

/** guests/bin/ at the package root; this file runs from dist/src/boot/. */
const BIN_DIR = new URL('../../../guests/bin/', import.meta.url);

/** hello and bench are flat binaries (src/boot/flat.ts); tiny is a bzImage (guests/tiny/). */
export function guestImage(name: 'hello' | 'bench' | 'tiny'): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name === 'tiny' ? 'tiny.bzImage' : `${name}.bin`, BIN_DIR)));
}

/** Path of a built-in guest image, for the command line. */
export function guestImagePath(name: 'hello' | 'bench' | 'tiny'): string {
  return new URL(name === 'tiny' ? 'tiny.bzImage' : `${name}.bin`, BIN_DIR).pathname;
}

/** CRC-32 (IEEE), bitwise: an independent model of the guest's table-driven one. */
export function crc32(data: Uint8Array, crc = 0): number {
  crc = ~crc;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return ~crc >>> 0;
}

const hex = (v: number) => v.toString(16).padStart(8, '0');

/** The console output of guests/hello.c, computed here the host's way. */
export function helloExpectedOutput(): string {
  const limit = 100000;
  const composite = new Uint8Array(limit);
  composite[0] = composite[1] = 1;
  let primes = 0;
  for (let n = 2; n < limit; n++) {
    if (composite[n]) continue;
    primes++;
    for (let m = n * n; m < limit; m += n) composite[m] = 1;
  }
  return [
    'Hello from a typevisor guest (flat 32-bit protected mode, CPL 0).',
    `primes below 100000: ${primes}`,
    `crc32("123456789"): ${hex(crc32(new TextEncoder().encode('123456789')))}`,
    `crc32(sieve): ${hex(crc32(composite))}`,
    '',
  ].join('\n');
}
