import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlatMachine } from './flat.js';
import { hex } from './hex.js';

const regs = [0, 0, 0, 0, 0x2ff000, 0, 0, 0];

test('a store into the next instruction of the running block takes effect', () => {
  const m = new FlatMachine();
  const r = m.run({
    code: hex(`
      c6 05 08 00 10 00 07   ; mov byte [0x100008], 7  (the immediate below)
      b8 01 00 00 00         ; mov eax, 1
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  assert.equal(r.regs[0], 7);
});

test('a patched subroutine runs its new code the second time it is called', () => {
  const m = new FlatMachine();
  const r = m.run({
    code: hex(`
      b9 02 00 00 00         ; mov ecx, 2
      e8 0c 00 00 00         ; loop: call f
      c6 05 18 00 10 00 05   ; mov byte [f+2], 5
      49                     ; dec ecx
      75 f1                  ; jnz loop
      eb 04                  ; jmp end
      83 c0 01               ; f: add eax, 1
      c3                     ; ret
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  assert.equal(r.regs[0], 6);
});

test('a REP STOS over code that is about to run replaces it', () => {
  const m = new FlatMachine();
  // Overwrite the 4 bytes after the STOS with NOPs (90): the INC EAX there must not run.
  const r = m.run({
    code: hex(`
      bf 0e 00 10 00         ; mov edi, 0x10000e
      b9 04 00 00 00         ; mov ecx, 4
      b0 90                  ; mov al, 0x90
      f3 aa                  ; rep stosb
      40 40 40 40            ; inc eax x4 (overwritten)
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  assert.equal(r.regs[0] & 0xffffff00, 0);
  assert.equal(r.regs[0] & 0xff, 0x90);
});

test('LOCK is #UD on a register destination and on instructions that cannot be locked', () => {
  const m = new FlatMachine();
  for (const code of ['f0 01 d8', 'f0 90', 'f0 8b 05 00 00 20 00', 'f0 0f a3 05 00 00 20 00']) {
    const r = m.run({ code: hex(code), regs, eflags: 0 });
    assert.equal(r.exception, 6, code);
  }
});

test('LOCK on a memory read-modify-write executes it', () => {
  const m = new FlatMachine();
  const data = new Uint8Array(16);
  data[0] = 40;
  const r = m.run({
    code: hex(`
      f0 01 1d 00 00 20 00   ; lock add [0x200000], ebx
      f0 0f c1 0d 04 00 20 00 ; lock xadd [0x200004], ecx
      f0 87 15 08 00 20 00   ; lock xchg [0x200008], edx
    `),
    regs: [0, 5, 9, 2, 0x2ff000, 0, 0, 0], eflags: 0, data,
  });
  assert.equal(r.exception, null);
  assert.equal(r.data[0], 42);
  assert.equal(r.data[4], 5);
  assert.equal(r.regs[1], 0);
  assert.equal(r.data[8], 9);
});

test('a hot (compiled) block that writes into its own next instruction stops and runs the new code', () => {
  const m = new FlatMachine();
  // The loop body is one block; it runs 17,000 times writing to data (and is compiled), then
  // ESI is pointed at the immediate of its own MOV EBX: from then on every iteration patches it.
  const r = m.run({
    code: hex(`
      b9 20 4e 00 00         ; mov ecx, 20000
      be 00 00 20 00         ; mov esi, 0x200000
      31 d2                  ; xor edx, edx
      b0 22                  ; mov al, 0x22
      88 06                  ; loop: mov [esi], al
      bb 11 11 11 11         ; target: mov ebx, 0x11111111
      01 da                  ; add edx, ebx
      49                     ; dec ecx
      74 0f                  ; jz done
      81 f9 b8 0b 00 00      ; cmp ecx, 3000
      75 ec                  ; jne loop
      be 11 00 10 00         ; mov esi, target+1
      eb e5                  ; jmp loop
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  const expected = Number((17000n * 0x11111111n + 3000n * 0x11111122n) & 0xffffffffn);
  assert.equal(r.regs[2], expected);
});
