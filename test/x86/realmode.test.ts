import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cpu, Exit } from '../../src/x86/cpu.js';
import { GuestMemory } from '../../src/x86/memory.js';
import { hex } from './hex.js';

/**
 * A machine whose top 64 KiB of the 4 GiB space alias the "ROM" at
 * 0xF0000-0xFFFFF, as a PC's firmware is visible at both places.
 */
function romMachine(rom: Map<number, Uint8Array>): { cpu: Cpu; mem: GuestMemory } {
  const mem = new GuestMemory(2 << 20);
  for (let k = 0; k < 16; k++) mem.p2m[0xffff0 + k] = 0xf0 + k;
  for (const [addr, bytes] of rom) mem.load(addr, bytes);
  return { cpu: new Cpu(mem), mem };
}

test('the CPU starts at F000:FFF0 in real mode, takes an IVT interrupt, and enters protected mode', () => {
  const rom = new Map<number, Uint8Array>([
    [0xffff0, hex('ea 00 e0 00 f0 ; jmp far f000:e000')],
    [0xfe000, hex(`
      b8 00 90            ; mov ax, 0x9000
      8e d0               ; mov ss, ax
      bc fe ff            ; mov sp, 0xfffe
      31 c0               ; xor ax, ax
      8e d8               ; mov ds, ax
      c7 06 80 00 00 e1   ; mov word [0x80], 0xe100  (IVT vector 0x20 offset)
      c7 06 82 00 00 f0   ; mov word [0x82], 0xf000  (segment)
      cd 20               ; int 0x20
      89 1e 00 05         ; mov [0x500], bx
      2e 0f 01 16 00 e2   ; lgdt cs:[0xe200]
      0f 20 c0            ; mov eax, cr0
      0c 01               ; or al, 1
      0f 22 c0            ; mov cr0, eax
      66 ea 00 e3 0f 00 08 00 ; jmp dword 0x08:0x000fe300
    `)],
    [0xfe100, hex('bb 34 12 cf ; mov bx, 0x1234; iret')],
    [0xfe200, hex('17 00 10 e2 0f 00 ; GDT limit 0x17, base 0xfe210')],
    [0xfe210, hex('00 00 00 00 00 00 00 00  ff ff 00 00 00 9a cf 00  ff ff 00 00 00 92 cf 00')],
    [0xfe300, hex(`
      66 b8 10 00                     ; mov ax, 0x10
      8e d8                           ; mov ds, ax
      c7 05 04 05 00 00 be ba fe ca   ; mov dword [0x504], 0xcafebabe
      f4                              ; hlt
    `)],
  ]);
  const { cpu, mem } = romMachine(rom);
  assert.equal(cpu.segSel[1], 0xf000);
  assert.equal(cpu.eip, 0xfff0);
  assert.equal((cpu.segBase[1] + cpu.eip) >>> 0, 0xfffffff0);
  const exit = cpu.run(1000);
  assert.equal(exit, Exit.Halt);
  const dv = new DataView(mem.buffer);
  assert.equal(dv.getUint16(0x500, true), 0x1234, 'the real-mode interrupt handler ran');
  assert.equal(dv.getUint32(0x504, true), 0xcafebabe, 'protected-mode code ran');
  assert.ok(cpu.protectedMode);
  assert.equal(cpu.segSel[1], 0x08);
  assert.ok(cpu.code32);
});

test('real-mode accesses past a 64 KiB segment limit fault; the exception goes through the IVT', () => {
  const rom = new Map<number, Uint8Array>([
    [0xffff0, hex('ea 00 e0 00 f0')],
    [0xfe000, hex(`
      31 c0               ; xor ax, ax
      8e d8               ; mov ds, ax
      8e d0               ; mov ss, ax
      bc 00 7c            ; mov sp, 0x7c00
      c7 06 34 00 00 e1   ; mov word [0x34], 0xe100  (IVT vector 13)
      c7 06 36 00 00 f0   ; mov word [0x36], 0xf000
      8b 16 ff ff         ; mov dx, [0xffff]  (crosses the limit)
      f4                  ; hlt (not reached)
    `)],
    [0xfe100, hex('bb 0d 00 f4 ; mov bx, 13; hlt')],
  ]);
  const { cpu } = romMachine(rom);
  assert.equal(cpu.run(1000), Exit.Halt);
  assert.equal(cpu.regs[3], 13);
  // The pushed IP is the faulting instruction.
  assert.equal(cpu.rd16(0x7c00 - 6), 0xe015);
});
