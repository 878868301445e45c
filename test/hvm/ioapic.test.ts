/**
 * The 82093AA IO-APIC (src/hvm/ioapic.ts), programmed through IOREGSEL/IOWIN
 * the way Linux's io_apic.c does (ioapic_write_entry: high dword first, then
 * low), plus an end-to-end run with a LocalApic: a level-triggered line,
 * the EOI back to the IO-APIC, and re-delivery while the line stays asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/hvm/device.js';
import { IoApic, type IoApicState } from '../../src/hvm/ioapic.js';
import { APIC_EOI, APIC_SVR, LocalApic } from '../../src/hvm/lapic.js';

const BASE = 0xfec00000;
const MASKED = 0x10000;
const LEVEL = 0x8000;
const REMOTE_IRR = 0x4000;
const ACTIVE_LOW = 0x2000;
const LOGICAL = 0x800;

interface Message {
  dest: number;
  destMode: 'physical' | 'logical';
  deliveryMode: number;
  vector: number;
  level: boolean;
}

function setup(): { io: IoApic; sent: Message[] } {
  const sent: Message[] = [];
  const io = new IoApic({
    deliver: (dest, destMode, deliveryMode, vector, level) => sent.push({ dest, destMode, deliveryMode, vector, level }),
  });
  return { io, sent };
}

function readReg(io: IoApic, index: number): number {
  io.mmioWrite(BASE, 4, index);
  return io.mmioRead(BASE + 0x10, 4) >>> 0;
}

function writeReg(io: IoApic, index: number, value: number): void {
  io.mmioWrite(BASE, 4, index);
  io.mmioWrite(BASE + 0x10, 4, value);
}

/** Linux's ioapic_write_entry: high dword, then low. */
function writeEntry(io: IoApic, pin: number, lo: number, hi = 0): void {
  writeReg(io, 0x11 + 2 * pin, hi);
  writeReg(io, 0x10 + 2 * pin, lo);
}

function entryLo(io: IoApic, pin: number): number {
  return readReg(io, 0x10 + 2 * pin);
}

test('IOREGSEL/IOWIN: ID, version, arbitration; every entry masked at reset', () => {
  const { io } = setup();
  io.mmioWrite(BASE, 4, 0x01);
  assert.equal(io.mmioRead(BASE, 4), 0x01); // IOREGSEL reads back
  assert.equal(io.mmioRead(BASE + 0x10, 4), 0x00170011);
  assert.equal(readReg(io, 0x00), 0x01000000); // default ID 1
  writeReg(io, 0x00, 0xffffffff);
  assert.equal(readReg(io, 0x00), 0x0f000000); // 4-bit ID in bits 27-24
  assert.equal(readReg(io, 0x02), 0x0f000000); // arbitration ID follows it
  writeReg(io, 0x01, 0); // version is read-only
  assert.equal(readReg(io, 0x01), 0x00170011);
  for (let pin = 0; pin < 24; pin++) {
    assert.equal(entryLo(io, pin), MASKED, `pin ${pin}`);
    assert.equal(readReg(io, 0x11 + 2 * pin), 0);
  }
  assert.equal(readReg(io, 0x40), 0); // past the table
  // Narrow accesses: IOREGSEL is a byte; IOWIN bytes come from the selected register.
  io.mmioWrite(BASE, 1, 0x01);
  assert.equal(io.mmioRead(BASE + 0x10, 1), 0x11);
  assert.equal(io.mmioRead(BASE + 0x12, 2), 0x0017);
  io.mmioWrite(BASE, 4, 0x13);
  io.mmioWrite(BASE + 0x13, 1, 0x05); // destination byte of entry 1's high dword
  assert.equal(readReg(io, 0x13), 0x05000000);
});

test('redirection entry writable bits; Remote IRR and delivery status are read-only', () => {
  const { io } = setup();
  writeEntry(io, 3, 0xffffffff, 0xffffffff);
  assert.equal(entryLo(io, 3), 0x1afff);
  assert.equal(readReg(io, 0x17), 0xff000000);
  assert.equal(io.save().redirLo[3] & REMOTE_IRR, 0); // masked level entry, line low
});

test('edge-triggered: a message on each rising edge only; masked edges are lost', () => {
  const { io, sent } = setup();
  writeEntry(io, 1, 0x31, 0x00000000);
  io.setIrq(1, true);
  assert.deepEqual(sent, [{ dest: 0, destMode: 'physical', deliveryMode: 0, vector: 0x31, level: false }]);
  io.setIrq(1, true); // still high: no edge
  assert.equal(sent.length, 1);
  io.setIrq(1, false);
  assert.equal(sent.length, 1);
  io.setIrq(1, true);
  assert.equal(sent.length, 2);
  io.setIrq(1, false);
  writeEntry(io, 1, MASKED | 0x31);
  io.setIrq(1, true);
  assert.equal(sent.length, 2);
  writeEntry(io, 1, 0x31); // unmasking an edge entry does not replay
  assert.equal(sent.length, 2);
  assert.equal(entryLo(io, 1) & REMOTE_IRR, 0);
  assert.throws(() => io.setIrq(24, true), RangeError);
});

test('level-triggered: Remote IRR holds further messages until EOI; re-sent while still asserted', () => {
  const { io, sent } = setup();
  writeEntry(io, 9, LEVEL | LOGICAL | (1 << 8) | 0x39, 0x03000000);
  io.setIrq(9, true);
  assert.deepEqual(sent, [{ dest: 3, destMode: 'logical', deliveryMode: 1, vector: 0x39, level: true }]);
  assert.equal(entryLo(io, 9) & REMOTE_IRR, REMOTE_IRR);
  io.setIrq(9, true);
  io.setIrq(9, false);
  io.setIrq(9, true);
  assert.equal(sent.length, 1); // Remote IRR set: nothing more
  io.eoi(0x38); // another vector: no effect
  assert.equal(entryLo(io, 9) & REMOTE_IRR, REMOTE_IRR);
  io.eoi(0x39); // still asserted: sent again
  assert.equal(sent.length, 2);
  assert.equal(entryLo(io, 9) & REMOTE_IRR, REMOTE_IRR);
  io.setIrq(9, false);
  io.eoi(0x39);
  assert.equal(sent.length, 2);
  assert.equal(entryLo(io, 9) & REMOTE_IRR, 0);
  // Rewriting the entry (still level) keeps Remote IRR; making it edge clears it.
  io.setIrq(9, true);
  assert.equal(sent.length, 3);
  writeEntry(io, 9, LEVEL | 0x39);
  assert.equal(entryLo(io, 9) & REMOTE_IRR, REMOTE_IRR);
  assert.equal(sent.length, 3);
  writeEntry(io, 9, 0x39);
  assert.equal(entryLo(io, 9) & REMOTE_IRR, 0);
});

test('masked level entry: nothing while masked; unmasking an asserted line delivers', () => {
  const { io, sent } = setup();
  writeEntry(io, 10, MASKED | LEVEL | 0x3a);
  io.setIrq(10, true);
  assert.equal(sent.length, 0);
  assert.equal(entryLo(io, 10) & REMOTE_IRR, 0);
  writeEntry(io, 10, LEVEL | 0x3a);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].vector, 0x3a);
  assert.equal(entryLo(io, 10) & REMOTE_IRR, REMOTE_IRR);
  // Masking while Remote IRR is set: the EOI clears it and nothing is re-sent.
  writeEntry(io, 10, MASKED | LEVEL | 0x3a);
  io.eoi(0x3a);
  assert.equal(entryLo(io, 10) & REMOTE_IRR, 0);
  assert.equal(sent.length, 1);
});

test('polarity: active-low lines are asserted when low', () => {
  const { io, sent } = setup();
  // PCI-style: level, active low. The line idles high.
  io.setIrq(11, true);
  writeEntry(io, 11, LEVEL | ACTIVE_LOW | 0x3b);
  assert.equal(sent.length, 0);
  io.setIrq(11, false);
  assert.equal(sent.length, 1);
  io.setIrq(11, true);
  io.eoi(0x3b);
  assert.equal(sent.length, 1); // deasserted (high) by the EOI
  // Edge, active low: the falling edge sends.
  writeEntry(io, 12, ACTIVE_LOW | 0x3c);
  io.setIrq(12, true);
  assert.equal(sent.length, 1);
  io.setIrq(12, false);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].vector, 0x3c);
});

test('save/restore: table, Remote IRR and line levels; bad records change nothing', () => {
  const { io, sent } = setup();
  writeReg(io, 0x00, 0x02000000);
  writeEntry(io, 4, LEVEL | 0x44, 0x01000000);
  writeEntry(io, 5, 0x45);
  io.setIrq(4, true);
  io.setIrq(7, true);
  io.mmioWrite(BASE, 4, 0x18);
  const saved = io.save();
  assert.equal(saved.kind, 'ioapic');
  const copy = JSON.parse(JSON.stringify(saved)) as IoApicState;

  const other = setup();
  other.io.restore(copy);
  assert.equal(other.sent.length, 0); // restore sends nothing
  assert.deepEqual(other.io.save(), saved);
  assert.equal(other.io.mmioRead(BASE, 4), 0x18);
  assert.equal(readReg(other.io, 0x00), 0x02000000);
  assert.equal(entryLo(other.io, 4), LEVEL | REMOTE_IRR | 0x44);
  // The restored line level and Remote IRR behave: EOI re-sends the still-asserted pin 4.
  other.io.eoi(0x44);
  assert.deepEqual(other.sent, [{ dest: 1, destMode: 'physical', deliveryMode: 0, vector: 0x44, level: true }]);
  assert.equal(sent.length, 1);

  const before = other.io.save();
  const bad: unknown[] = [
    undefined,
    { ...saved, kind: 'lapic' },
    { ...saved, version: 0 },
    { ...saved, redirLo: saved.redirLo.slice(1) },
    { ...saved, redirLo: saved.redirLo.map((v, i) => (i === 5 ? v | REMOTE_IRR : v)) }, // Remote IRR on an edge entry
    { ...saved, redirHi: saved.redirHi.map((v, i) => (i === 0 ? 1 : v)) },
    { ...saved, lines: 1 << 24 },
    { ...saved, id: 0x10000000 },
    { ...saved, ioregsel: 256 },
  ];
  for (const b of bad) assert.throws(() => other.io.restore(b as IoApicState), /ioapic state record/);
  assert.deepEqual(other.io.save(), before);
});

test('with a LocalApic: level interrupt, EOI back to the IO-APIC, re-delivery while asserted', () => {
  const clock = new ManualClock(0);
  let intr = false;
  let apic: LocalApic | null = null;
  const io = new IoApic({
    deliver: (dest, destMode, mode, vector, level) => {
      if (apic?.matchesDestination(dest, destMode === 'logical')) apic.acceptMessage(mode, vector, level);
    },
  });
  apic = new LocalApic({
    id: 0,
    clock,
    apicBase: () => 0xfee00900,
    setIntr: (level) => { intr = level; },
    extInt: { ackInterrupt: () => assert.fail('no PIC here') },
    onEoi: (v) => io.eoi(v),
  });
  apic.mmioWrite(0xfee00000 + APIC_SVR, 4, 0x1ff);
  io.setIrq(11, true); // active-low line idles high
  writeEntry(io, 11, LEVEL | ACTIVE_LOW | 0x59, 0); // physical destination 0
  writeEntry(io, 4, 0x34, 0x05000000); // physical destination 5: not this CPU
  assert.equal(intr, false);
  io.setIrq(11, false); // asserted
  io.setIrq(4, true);
  assert.equal(intr, true);
  assert.equal(apic.ackInterrupt(), 0x59);
  assert.equal(intr, false);
  apic.mmioWrite(0xfee00000 + APIC_EOI, 4, 0); // the line is still asserted: comes back
  assert.equal(intr, true);
  assert.equal(apic.ackInterrupt(), 0x59);
  io.setIrq(11, true); // the device is serviced
  apic.mmioWrite(0xfee00000 + APIC_EOI, 4, 0);
  assert.equal(intr, false);
  assert.equal(entryLo(io, 11) & REMOTE_IRR, 0);
});
