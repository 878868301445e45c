/** The flat-binary loader (src/boot/flat.ts) and the hello guest it runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { LOAD_ADDRESS, runFlatBinary } from '../../src/boot/flat.js';
import { guestImage, helloExpectedOutput } from '../../src/boot/guests.js';
import { hex } from '../x86/hex.js';

test('the hello guest prints its checksums and powers off', () => {
  const lines: string[] = [];
  const r = runFlatBinary(guestImage('hello'), { onOutput: (text) => lines.push(text) });
  assert.equal(r.exit, Exit.Stop);
  assert.equal(r.status, 0);
  assert.equal(r.fault, null);
  assert.equal(r.output, helloExpectedOutput());
  assert.match(r.output, /^primes below 100000: 9592$/m);
  assert.match(r.output, /^crc32\("123456789"\): cbf43926$/m);
  assert.equal(lines.join(''), r.output, 'onOutput sees every line');
  assert.ok(r.icount > 1_000_000, `${r.icount} instructions`);
});

test('the console port writes characters; reading it answers 0xE9', () => {
  const image = hex(`
    b0 68        ; mov al, 'h'
    e6 e9        ; out 0xe9, al
    b0 69        ; mov al, 'i'
    e6 e9        ; out 0xe9, al
    e4 e9        ; in al, 0xe9
    e6 f4        ; out 0xf4, al
  `);
  const r = runFlatBinary(image);
  assert.equal(r.output, 'hi');
  assert.equal(r.exit, Exit.Stop);
  assert.equal(r.status, 0xe9);
  assert.equal(r.icount, 6);
});

test('EAX and EBX carry the arguments, ESP starts at the end of RAM', () => {
  const image = hex(`
    01 d8        ; add eax, ebx
    89 e1        ; mov ecx, esp
    c1 e9 14     ; shr ecx, 20
    01 c8        ; add eax, ecx
    e6 f4        ; out 0xf4, al
  `);
  const r = runFlatBinary(image, { memoryMiB: 8, eax: 30, ebx: 4 });
  assert.equal(r.status, 30 + 4 + 8);
});

test('a guest fault stops the machine and is reported with its vector and address', () => {
  const r = runFlatBinary(hex('90 90 0f 0b')); // nop; nop; ud2
  assert.equal(r.exit, Exit.Halt);
  assert.deepEqual(r.fault, { vector: 6, eip: LOAD_ADDRESS + 2, errorCode: null });

  // mov ax, 0x2b; mov ds, ax: selector 5 is past the loader's three-entry GDT, #GP(selector).
  const gp = runFlatBinary(hex('66 b8 2b 00 8e d8'));
  assert.deepEqual(gp.fault, { vector: 13, eip: LOAD_ADDRESS + 4, errorCode: 0x28 });
});

test('maxInstructions bounds a guest that never stops', () => {
  const r = runFlatBinary(hex('eb fe'), { maxInstructions: 5000 }); // jmp $
  assert.equal(r.exit, Exit.Budget);
  assert.ok(r.icount >= 5000 && r.icount < 5100, `${r.icount} instructions`);
});

test('an image that does not fit is refused', () => {
  assert.throws(() => runFlatBinary(new Uint8Array(2 << 20), { memoryMiB: 2 }), /does not fit/);
});
