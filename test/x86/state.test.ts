import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cpu } from '../../src/x86/cpu.js';
import { GuestMemory } from '../../src/x86/memory.js';
import { decodeCpuState, encodeCpuState, restoreCpu, saveCpu } from '../../src/x86/state.js';
import { FlatMachine } from './flat.js';

/** A CPU in a non-trivial state: protected mode, ring 3, registers and FPU touched by real code. */
function busyCpu(): Cpu {
  const m = new FlatMachine();
  // fld1; fldpi; faddp; mov eax, 0x12345678; add eax, eax
  const code = Uint8Array.from([0xd9, 0xe8, 0xd9, 0xeb, 0xde, 0xc1, 0xb8, 0x78, 0x56, 0x34, 0x12, 0x01, 0xc0]);
  m.run({ code, regs: [1, 2, 3, 4, 0x2ff000, 6, 7, 8], eflags: 0x8d5 });
  m.cpu.sysenterEip = 0xc0001234;
  m.cpu.mtrrs.set(0x200, [0x6, 0x0]);
  m.cpu.cr2 = 0xdeadb000 | 0;
  return m.cpu;
}

test('CPU state survives save, encode, decode and restore', () => {
  const a = busyCpu();
  const saved = saveCpu(a);
  const bytes = encodeCpuState(saved);
  const b = new Cpu(new GuestMemory(1 << 20));
  restoreCpu(b, decodeCpuState(bytes));
  const again = saveCpu(b);
  // The TSC keeps running between the two saves; everything else is identical.
  assert.ok(Math.abs(again.msr.tsc - saved.msr.tsc) < 1e9);
  again.msr.tsc = saved.msr.tsc;
  assert.deepEqual(again, saved);
  assert.equal(b.regs[0], 0x2468acf0);
  assert.equal(b.sysenterEip >>> 0, 0xc0001234);
  assert.equal(b.cpl, 0);
  assert.notEqual(saved.fpu, undefined);
});

test('a restored CPU executes on from where it was', () => {
  const m = new FlatMachine();
  const code = Uint8Array.from([0x40, 0x40, 0x40]); // inc eax x3
  const r1 = m.run({ code, regs: [10, 0, 0, 0, 0x2ff000, 0, 0, 0], eflags: 0 });
  assert.equal(r1.regs[0], 13);
  // Save the ring-0 state at the HLT stub, restore into the same machine after clobbering it.
  const s = saveCpu(m.cpu);
  m.cpu.regs.fill(0);
  m.cpu.eip = 0;
  restoreCpu(m.cpu, decodeCpuState(encodeCpuState(s)));
  assert.equal(m.cpu.regs[0], 13);
  assert.equal(m.cpu.eip, s.eip);
});

test('a malformed record is refused with a clear error and changes nothing', () => {
  const a = busyCpu();
  const good = saveCpu(a);
  const b = new Cpu(new GuestMemory(1 << 20));
  const before = saveCpu(b);
  const bad = { ...good, regs: [1, 2, 3] };
  assert.throws(() => restoreCpu(b, bad), /regs is not an array of 8/);
  assert.throws(() => restoreCpu(b, { ...good, version: 7 } as unknown as typeof good), /unsupported version 7/);
  assert.throws(() => decodeCpuState(new TextEncoder().encode('{nope')), /not valid JSON/);
  const after = saveCpu(b);
  after.msr.tsc = before.msr.tsc;
  assert.deepEqual(after, before);
});
