import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlatMachine } from './flat.js';
import { hex } from './hex.js';
import type { IoBus } from '../../src/x86/memory.js';

const regs = [0, 0, 0, 0, 0x2ff000, 0, 0, 0];

/** A bus that records port writes and answers reads with port + size. */
class RecordingBus implements IoBus {
  writes: [number, number, number][] = [];
  ioRead(port: number, size: 1 | 2 | 4): number {
    return (port + size) & (size === 4 ? -1 : (1 << (size * 8)) - 1);
  }
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.writes.push([port, size, value]);
  }
  mmioRead(): number {
    return -1;
  }
  mmioWrite(): void {}
}

function cpuid(m: FlatMachine, leaf: number): number[] {
  const r = m.run({ code: hex('0f a2'), regs: [leaf, 0, 0, 0, 0x2ff000, 0, 0, 0], eflags: 0 });
  assert.equal(r.exception, null);
  return [r.regs[0], r.regs[3], r.regs[1], r.regs[2]]; // EAX EBX ECX EDX
}

test('CPUID claims what is implemented and nothing more', () => {
  const m = new FlatMachine();
  const [max, b, c, d] = cpuid(m, 0);
  assert.ok(max >= 1);
  const vendor = Buffer.alloc(12);
  vendor.writeUInt32LE(b, 0);
  vendor.writeUInt32LE(d, 4);
  vendor.writeUInt32LE(c, 8);
  assert.equal(vendor.toString('latin1'), 'GenuineIntel');
  const [sig, , ecx1, edx1] = cpuid(m, 1);
  assert.equal((sig >> 8) & 0xf, 6, 'family 6 (P6)');
  const has = (bit: number) => (edx1 & (1 << bit)) !== 0;
  for (const [bit, name] of [[0, 'FPU'], [3, 'PSE'], [4, 'TSC'], [5, 'MSR'], [6, 'PAE'], [8, 'CX8'], [11, 'SEP'], [13, 'PGE'], [15, 'CMOV'], [24, 'FXSR']] as const) {
    assert.ok(has(bit), `claims ${name}`);
  }
  for (const [bit, name] of [[1, 'VME'], [17, 'PSE-36'], [23, 'MMX'], [25, 'SSE'], [26, 'SSE2']] as const) {
    assert.ok(!has(bit), `does not claim ${name}`);
  }
  assert.equal(ecx1, 0, 'no SSE3 or later features');
  const [, , , edxExt] = cpuid(m, 0x80000001);
  assert.ok(edxExt & (1 << 20), 'claims NX');
});

test('RDMSR/WRMSR keep SYSENTER, PAT and EFER; unknown MSRs and CPL 3 are #GP', () => {
  const m = new FlatMachine();
  const r = m.run({
    ring0: true,
    code: hex(`
      b9 76 01 00 00   ; mov ecx, 0x176 (SYSENTER_EIP)
      b8 78 56 34 12   ; mov eax, 0x12345678
      31 d2            ; xor edx, edx
      0f 30            ; wrmsr
      31 c0            ; xor eax, eax
      0f 32            ; rdmsr
      89 c3            ; mov ebx, eax
      b9 80 00 00 c0   ; mov ecx, 0xc0000080 (EFER)
      b8 00 08 00 00   ; mov eax, 0x800 (NXE)
      0f 30            ; wrmsr
      0f 32            ; rdmsr
      89 c6            ; mov esi, eax
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  assert.equal(r.regs[3], 0x12345678);
  assert.equal(r.regs[6], 0x800);
  assert.equal(m.cpu.efer, 0x800);
  const unknown = m.run({ ring0: true, code: hex('b9 45 23 01 00 0f 32'), regs, eflags: 0 });
  assert.equal(unknown.exception, 13);
  const badPat = m.run({ ring0: true, code: hex('b9 77 02 00 00 b8 02 02 02 02 31 d2 0f 30'), regs, eflags: 0 });
  assert.equal(badPat.exception, 13, 'PAT type 2 is reserved');
  const user = m.run({ code: hex('b9 76 01 00 00 0f 32'), regs, eflags: 0 });
  assert.equal(user.exception, 13);
});

test('IN/OUT reach the bus at CPL 0 and fault at CPL 3 without an I/O bitmap grant', () => {
  const bus = new RecordingBus();
  const m = new FlatMachine(bus);
  const r = m.run({
    ring0: true,
    code: hex(`
      b0 5a            ; mov al, 0x5a
      e6 80            ; out 0x80, al
      66 ba f8 03      ; mov dx, 0x3f8
      66 b8 34 12      ; mov ax, 0x1234
      66 ef            ; out dx, ax
      e4 71            ; in al, 0x71
      89 c3            ; mov ebx, eax
      ed               ; in eax, dx
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  assert.deepEqual(bus.writes, [[0x80, 1, 0x5a], [0x3f8, 2, 0x1234]]);
  assert.equal(r.regs[3] & 0xff, 0x72);
  assert.equal(r.regs[0], 0x3f8 + 4);
  bus.writes = [];
  for (const code of ['e6 80', 'e4 71', 'ec', '6e', 'fa', 'fb', 'f4', '0f 09', '0f 22 c0', '0f 01 15 00 00 20 00']) {
    const u = m.run({ code: hex(code), regs: [0, 0, 0x80, 0, 0x2ff000, 0, 0x200000, 0], eflags: 0 });
    assert.equal(u.exception, 13, `${code} at CPL 3`);
  }
  assert.deepEqual(bus.writes, []);
});

test('RDTSC counts up; UD2 and undefined opcodes are #UD', () => {
  const m = new FlatMachine();
  const r = m.run({ code: hex('0f 31 89 c3 89 d6 b9 00 10 00 00 e2 fe 0f 31'), regs, eflags: 0 });
  assert.equal(r.exception, null);
  const t0 = r.regs[6] * 2 ** 32 + r.regs[3], t1 = r.regs[2] * 2 ** 32 + r.regs[0];
  assert.ok(t1 > t0);
  for (const code of ['0f 0b', '0f 05', '0f 38 00 c0', 'd6 0f ff', '0f 0d 00', 'c4 c0', '8d c0', '0f c7 c8', '8c f8']) {
    assert.equal(m.run({ code: hex(code), regs, eflags: 0 }).exception, 6, code);
  }
});

test('a dword read from MMIO is a signed value however the device returns it: IMUL r/m32 of -2', () => {
  const bus = new RecordingBus();
  bus.mmioRead = () => 0xfffffffe; // a device may answer a dword unsigned
  const m = new FlatMachine(bus);
  const r = m.run({
    ring0: true,
    code: hex(`
      b8 03 00 00 00      ; mov eax, 3
      f7 2d 00 00 80 00   ; imul dword [0x800000] (past RAM: MMIO)
    `),
    regs, eflags: 0,
  });
  assert.equal(r.exception, null);
  assert.deepEqual([r.regs[2] >>> 0, r.regs[0] >>> 0], [0xffffffff, 0xfffffffa], 'EDX:EAX = 3 * -2');
});
