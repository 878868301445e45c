/**
 * The local APIC (src/hvm/lapic.ts) on a ManualClock, programmed through its
 * MMIO page the way Linux's arch/x86/kernel/apic/apic.c does: SVR enable,
 * TPR, LVT entries, EOI writes, the timer (divide config, initial count),
 * ICR self-IPIs, ESR write-then-read; plus the 8259A virtual-wire path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/hvm/device.js';
import {
  APIC_DFR, APIC_EOI, APIC_ESR, APIC_ICR_HI, APIC_ICR_LO, APIC_ID, APIC_IRR, APIC_ISR, APIC_LDR,
  APIC_LVT_ERROR, APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_PERF, APIC_LVT_THERMAL, APIC_LVT_TIMER,
  APIC_PPR, APIC_SVR, APIC_TIMER_CURRENT, APIC_TIMER_DIVIDE, APIC_TIMER_INITIAL, APIC_TMR, APIC_TPR,
  APIC_VERSION, LocalApic, matchesDestination, type ApicIpi, type LocalApicOptions, type LocalApicState,
} from '../../src/hvm/lapic.js';
import { Pic8259 } from '../../src/hvm/pic.js';

const BASE = 0xfee00000;
const MASKED = 0x10000;
const PERIODIC = 0x20000;

interface Rig {
  clock: ManualClock;
  apic: LocalApic;
  /** The CPU's IA32_APIC_BASE. */
  cpu: { apicBase: number };
  /** Every level `setIntr` was given, in order. */
  intr: boolean[];
  eois: number[];
  ipis: ApicIpi[];
  nmis: { count: number };
  pic: Pic8259;
}

/** A LocalApic wired like the machine wires it: PIC INT -> LINT0, setIntr -> the CPU's INTR. */
function setup(extra: Partial<LocalApicOptions> = {}): Rig {
  const clock = new ManualClock(0);
  const cpu = { apicBase: 0xfee00900 };
  const intr: boolean[] = [];
  const eois: number[] = [];
  const ipis: ApicIpi[] = [];
  const nmis = { count: 0 };
  const pic = new Pic8259();
  const apic = new LocalApic({
    id: 0,
    clock,
    apicBase: () => cpu.apicBase,
    setIntr: (level) => intr.push(level),
    extInt: pic,
    onEoi: (v) => eois.push(v),
    onIpi: (ipi) => ipis.push(ipi),
    onNmi: () => nmis.count++,
    ...extra,
  });
  pic.onOutputChange = (level) => apic.setLint0(level);
  intr.length = 0; // drop the reset-time report
  return { clock, apic, cpu, intr, eois, ipis, nmis, pic };
}

function rd(apic: LocalApic, offset: number): number {
  return apic.mmioRead(BASE + offset, 4) >>> 0;
}

function wr(apic: LocalApic, offset: number, value: number): void {
  apic.mmioWrite(BASE + offset, 4, value);
}

/** Linux's setup_local_APIC essentials: software-enable with spurious vector 0xFF. */
function enable(apic: LocalApic): void {
  wr(apic, APIC_SVR, 0x1ff);
}

function bitIn(apic: LocalApic, reg: number, vector: number): boolean {
  return ((rd(apic, reg + (vector >> 5) * 0x10) >>> (vector & 31)) & 1) === 1;
}

function irrVectors(apic: LocalApic): number[] {
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if (bitIn(apic, APIC_IRR, v)) out.push(v);
  return out;
}

/** Linux's init_8259A with IRQ 0 unmasked. */
function initPic(pic: Pic8259): void {
  for (const [port, value] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01],
    [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01], [0x21, 0xfa], [0xa1, 0xff]] as const) {
    pic.ioWrite(port, 1, value);
  }
}

test('power-up state: version, ID, SVR, DFR, masked LVTs', () => {
  const { apic } = setup({ id: 3 });
  assert.equal(rd(apic, APIC_VERSION), 0x00050014);
  assert.equal(rd(apic, APIC_ID), 0x03000000);
  assert.equal(apic.apicId(), 3);
  assert.equal(rd(apic, APIC_SVR), 0xff);
  assert.equal(rd(apic, APIC_DFR), 0xffffffff);
  assert.equal(rd(apic, APIC_TPR), 0);
  assert.equal(rd(apic, APIC_PPR), 0);
  for (let off = APIC_LVT_TIMER; off <= APIC_LVT_ERROR; off += 0x10) assert.equal(rd(apic, off), MASKED, `LVT ${off.toString(16)}`);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 0);
  assert.equal(apic.nextDeadlineNs(), Infinity);
  assert.equal(apic.baseAddress(), BASE);
});

test('register write masks and read-only registers', () => {
  const { apic } = setup();
  enable(apic);
  wr(apic, APIC_ID, 0xffffffff);
  assert.equal(rd(apic, APIC_ID), 0xff000000);
  wr(apic, APIC_ID, 0);
  wr(apic, APIC_TPR, 0xffffffff);
  assert.equal(rd(apic, APIC_TPR), 0xff);
  wr(apic, APIC_TPR, 0);
  wr(apic, APIC_LDR, 0xffffffff);
  assert.equal(rd(apic, APIC_LDR), 0xff000000);
  wr(apic, APIC_DFR, 0);
  assert.equal(rd(apic, APIC_DFR), 0x0fffffff); // cluster model; bits 27-0 read as ones
  wr(apic, APIC_SVR, 0xffffffff);
  assert.equal(rd(apic, APIC_SVR), 0x3ff);
  wr(apic, APIC_LVT_TIMER, 0xffffffff);
  assert.equal(rd(apic, APIC_LVT_TIMER), 0x300ff); // no TSC-deadline bit without the option
  wr(apic, APIC_LVT_THERMAL, 0xffffffff);
  assert.equal(rd(apic, APIC_LVT_THERMAL), 0x107ff);
  wr(apic, APIC_LVT_PERF, 0xffffffff);
  assert.equal(rd(apic, APIC_LVT_PERF), 0x107ff);
  wr(apic, APIC_LVT_LINT0, 0xffffffff);
  assert.equal(rd(apic, APIC_LVT_LINT0), 0x1a7ff); // no delivery status, no Remote IRR
  wr(apic, APIC_LVT_ERROR, 0xffffffff);
  assert.equal(rd(apic, APIC_LVT_ERROR), 0x100ff);
  wr(apic, APIC_TIMER_DIVIDE, 0xffffffff);
  assert.equal(rd(apic, APIC_TIMER_DIVIDE), 0xb);
  wr(apic, APIC_ICR_HI, 0xffffffff);
  assert.equal(rd(apic, APIC_ICR_HI), 0xff000000);
  // Read-only registers ignore writes.
  wr(apic, APIC_VERSION, 0);
  assert.equal(rd(apic, APIC_VERSION), 0x00050014);
  wr(apic, APIC_IRR + 0x10, 0xffffffff);
  assert.equal(rd(apic, APIC_IRR + 0x10), 0);
  wr(apic, APIC_PPR, 0xff);
  assert.equal(rd(apic, APIC_PPR), 0);
});

test('narrow accesses: bytes of the dword; narrow writes merge', () => {
  const { apic } = setup();
  assert.equal(apic.mmioRead(BASE + APIC_VERSION, 1), 0x14);
  assert.equal(apic.mmioRead(BASE + APIC_VERSION + 2, 2), 0x0005);
  assert.equal(apic.mmioRead(BASE + APIC_VERSION + 4, 4), 0); // past the register's dword
  apic.mmioWrite(BASE + APIC_LDR + 3, 1, 0x5a);
  assert.equal(rd(apic, APIC_LDR), 0x5a000000);
  apic.mmioWrite(BASE + APIC_TPR, 1, 0x40);
  apic.mmioWrite(BASE + APIC_TPR + 1, 1, 0x77); // TPR bits 31-8 are reserved
  assert.equal(rd(apic, APIC_TPR), 0x40);
  // A 4-byte read returns a signed dword, as RAM reads on the bus do.
  assert.equal(apic.mmioRead(BASE + APIC_DFR, 4), -1);
  // Outside the page (the base moved): nothing decodes.
  assert.equal(apic.mmioRead(0xfec00000, 4), -1);
});

test('software-disabled: fixed interrupts dropped, LVTs stay masked until SVR bit 8 is set', () => {
  const { apic, intr } = setup();
  apic.acceptInterrupt(0x40, false);
  assert.deepEqual(irrVectors(apic), []);
  wr(apic, APIC_LVT_LINT0, 0x700);
  assert.equal(rd(apic, APIC_LVT_LINT0), MASKED | 0x700);
  enable(apic);
  wr(apic, APIC_LVT_LINT0, 0x700);
  assert.equal(rd(apic, APIC_LVT_LINT0), 0x700);
  wr(apic, APIC_LVT_ERROR, 0xfe);
  apic.acceptInterrupt(0x40, false);
  assert.deepEqual(irrVectors(apic), [0x40]);
  assert.deepEqual(intr, [true]);
  // Disabling masks every LVT and stops delivery of what is pending.
  wr(apic, APIC_SVR, 0xff);
  assert.equal(rd(apic, APIC_LVT_LINT0), MASKED | 0x700);
  assert.equal(rd(apic, APIC_LVT_ERROR), MASKED | 0xfe);
  assert.deepEqual(intr, [true, false]);
  assert.deepEqual(irrVectors(apic), [0x40]); // held
  enable(apic);
  assert.deepEqual(intr, [true, false, true]);
  assert.equal(rd(apic, APIC_LVT_ERROR), MASKED | 0xfe); // still masked
});

test('priority: highest vector first; ISR blocks its class and below until EOI', () => {
  const { apic, intr } = setup();
  enable(apic);
  apic.acceptInterrupt(0x31, false);
  apic.acceptInterrupt(0x50, false);
  assert.equal(apic.output(), true);
  assert.equal(apic.ackInterrupt(), 0x50);
  assert.equal(bitIn(apic, APIC_ISR, 0x50), true);
  assert.equal(bitIn(apic, APIC_IRR, 0x50), false);
  assert.equal(rd(apic, APIC_PPR), 0x50);
  assert.equal(apic.output(), false); // 0x31 is below the in-service class
  apic.acceptInterrupt(0x5f, false); // same class as in service: blocked
  assert.equal(apic.output(), false);
  apic.acceptInterrupt(0x61, false); // higher class: nests
  assert.equal(apic.output(), true);
  assert.equal(apic.ackInterrupt(), 0x61);
  assert.equal(rd(apic, APIC_PPR), 0x60);
  wr(apic, APIC_EOI, 0); // ends 0x61
  assert.equal(bitIn(apic, APIC_ISR, 0x61), false);
  assert.equal(bitIn(apic, APIC_ISR, 0x50), true);
  assert.equal(apic.output(), false); // 0x5f still blocked by 0x50
  wr(apic, APIC_EOI, 0); // ends 0x50
  assert.equal(apic.ackInterrupt(), 0x5f);
  wr(apic, APIC_EOI, 0);
  assert.equal(apic.ackInterrupt(), 0x31);
  wr(apic, APIC_EOI, 0);
  assert.equal(apic.output(), false);
  assert.deepEqual(intr, [true, false, true, false, true, false, true, false]);
});

test('TPR blocks lower and equal classes; PPR follows TPR and ISR', () => {
  const { apic } = setup();
  enable(apic);
  wr(apic, APIC_TPR, 0x45);
  assert.equal(rd(apic, APIC_PPR), 0x45);
  apic.acceptInterrupt(0x31, false);
  apic.acceptInterrupt(0x4f, false);
  assert.equal(apic.output(), false);
  apic.acceptInterrupt(0x50, false);
  assert.equal(apic.output(), true);
  assert.equal(apic.ackInterrupt(), 0x50);
  assert.equal(rd(apic, APIC_PPR), 0x50); // ISR class above TPR
  wr(apic, APIC_EOI, 0);
  assert.equal(rd(apic, APIC_PPR), 0x45);
  assert.equal(apic.output(), false);
  wr(apic, APIC_TPR, 0x30); // now 0x4f passes, 0x31 does not
  assert.equal(apic.output(), true);
  assert.equal(apic.ackInterrupt(), 0x4f);
  wr(apic, APIC_EOI, 0);
  assert.equal(apic.output(), false);
  wr(apic, APIC_TPR, 0);
  assert.equal(apic.ackInterrupt(), 0x31);
});

test('EOI of a level-triggered vector (TMR set) goes to onEoi; edge EOIs do not', () => {
  const { apic, eois } = setup();
  enable(apic);
  apic.acceptInterrupt(0x70, true);
  apic.acceptInterrupt(0x60, false);
  assert.equal(bitIn(apic, APIC_TMR, 0x70), true);
  assert.equal(bitIn(apic, APIC_TMR, 0x60), false);
  assert.equal(apic.ackInterrupt(), 0x70);
  wr(apic, APIC_EOI, 0);
  assert.deepEqual(eois, [0x70]);
  assert.equal(apic.ackInterrupt(), 0x60);
  wr(apic, APIC_EOI, 0);
  assert.deepEqual(eois, [0x70]);
  wr(apic, APIC_EOI, 0); // nothing in service: no effect
  assert.deepEqual(eois, [0x70]);
  // Re-accepting a vector edge-triggered clears its TMR bit.
  apic.acceptInterrupt(0x70, false);
  assert.equal(bitIn(apic, APIC_TMR, 0x70), false);
});

test('INTA with nothing deliverable any more answers the spurious vector and sets no ISR bit', () => {
  const { apic, intr } = setup();
  wr(apic, APIC_SVR, 0x13f);
  apic.acceptInterrupt(0x50, false);
  assert.deepEqual(intr, [true]);
  wr(apic, APIC_TPR, 0x60); // raised between INTR and INTA
  assert.deepEqual(intr, [true, false]);
  assert.equal(apic.ackInterrupt(), 0x3f);
  for (let v = 0; v < 256; v++) assert.equal(bitIn(apic, APIC_ISR, v), false);
  assert.equal(bitIn(apic, APIC_IRR, 0x50), true);
});

test('virtual wire: the PIC vector comes through LINT0 ExtINT; nothing passes before it is set up', () => {
  const { apic, pic, intr } = setup();
  initPic(pic);
  pic.setIrq(0, true);
  pic.setIrq(0, false);
  assert.equal(pic.output(), true);
  assert.equal(apic.output(), false); // software-disabled, LINT0 masked
  assert.deepEqual(intr, []);
  apic.virtualWireMode();
  assert.equal(rd(apic, APIC_SVR) & 0x100, 0x100);
  assert.equal(rd(apic, APIC_LVT_LINT0), 0x700);
  assert.equal(rd(apic, APIC_LVT_LINT1), 0x400);
  assert.deepEqual(intr, [true]);
  assert.equal(apic.ackInterrupt(), 0x20); // the PIC's IRQ 0 vector
  assert.equal(pic.output(), false);
  assert.deepEqual(intr, [true, false]);
  for (let v = 0; v < 256; v++) assert.equal(bitIn(apic, APIC_ISR, v), false);
  // The PIC is asked first, as in Xen; the APIC's own vector waits.
  apic.acceptInterrupt(0x80, false);
  pic.ioWrite(0x20, 1, 0x60); // EOI IRQ 0
  pic.setIrq(0, true);
  assert.equal(apic.ackInterrupt(), 0x20);
  assert.equal(apic.output(), true);
  assert.equal(apic.ackInterrupt(), 0x80);
  // Masking LINT0 cuts the PIC off.
  pic.ioWrite(0x20, 1, 0x60);
  pic.setIrq(0, false);
  pic.setIrq(0, true);
  wr(apic, APIC_LVT_LINT0, MASKED | 0x700);
  assert.equal(pic.output(), true);
  assert.equal(apic.output(), false);
});

test('LINT1 in NMI mode raises onNmi on a rising edge only', () => {
  const { apic, nmis } = setup({ virtualWire: true });
  apic.setLint1(true);
  apic.setLint1(true);
  assert.equal(nmis.count, 1);
  apic.setLint1(false);
  apic.setLint1(true);
  assert.equal(nmis.count, 2);
});

test('hardware-disabled APIC: the PIC goes straight to INTR; re-enabling resets the APIC', () => {
  const { apic, pic, cpu, intr } = setup({ virtualWire: true });
  wr(apic, APIC_TPR, 0x20);
  wr(apic, APIC_LVT_LINT0, MASKED | 0x700);
  initPic(pic);
  pic.setIrq(0, true);
  assert.equal(apic.output(), false);
  cpu.apicBase = 0xfee00000; // WRMSR IA32_APIC_BASE with bit 11 clear
  apic.apicBaseChanged();
  assert.equal(apic.output(), true);
  assert.deepEqual(intr, [true]);
  assert.equal(apic.ackInterrupt(), 0x20);
  assert.equal(apic.output(), false);
  assert.equal(apic.mmioRead(BASE + APIC_VERSION, 4), -1); // the page does not decode
  apic.acceptInterrupt(0x40, false); // messages are dropped
  cpu.apicBase = 0xfee00900;
  apic.apicBaseChanged();
  assert.equal(rd(apic, APIC_SVR), 0xff); // power-up state again
  assert.equal(rd(apic, APIC_TPR), 0);
  assert.equal(rd(apic, APIC_LVT_LINT0), MASKED);
  assert.deepEqual(irrVectors(apic), []);
  // Noticed without apicBaseChanged() too, at the next call.
  apic.virtualWireMode();
  cpu.apicBase = 0xfee00000;
  assert.equal(apic.mmioRead(BASE + APIC_SVR, 4), -1);
});

test('LINT0 fixed, level-triggered: Remote IRR, EOI re-delivers while the input stays active', () => {
  const { apic, eois } = setup();
  enable(apic);
  wr(apic, APIC_LVT_LINT0, 0x8000 | 0x41); // fixed, level, vector 0x41
  apic.setLint0(true);
  assert.equal(rd(apic, APIC_LVT_LINT0) & 0x4000, 0x4000);
  assert.equal(bitIn(apic, APIC_TMR, 0x41), true);
  assert.equal(apic.ackInterrupt(), 0x41);
  wr(apic, APIC_EOI, 0);
  assert.deepEqual(eois, [0x41]);
  assert.equal(rd(apic, APIC_LVT_LINT0) & 0x4000, 0x4000); // delivered again: the input is still high
  assert.equal(bitIn(apic, APIC_IRR, 0x41), true);
  apic.setLint0(false);
  assert.equal(apic.ackInterrupt(), 0x41);
  wr(apic, APIC_EOI, 0);
  assert.equal(rd(apic, APIC_LVT_LINT0) & 0x4000, 0);
  assert.equal(bitIn(apic, APIC_IRR, 0x41), false);
});

test('one-shot timer: count falls at bus clock / divider, fires at the right ns, then stops', () => {
  const { apic, clock, intr } = setup();
  enable(apic);
  clock.ns = 10_000;
  wr(apic, APIC_TIMER_DIVIDE, 0x1); // divide by 4
  wr(apic, APIC_LVT_TIMER, 0xef);
  wr(apic, APIC_TIMER_INITIAL, 1000);
  assert.equal(rd(apic, APIC_TIMER_INITIAL), 1000);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 1000);
  assert.equal(apic.nextDeadlineNs(), 10_000 + 4000);
  clock.ns = 10_000 + 1003;
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 1000 - 250);
  clock.ns = 10_000 + 3999;
  apic.advance(clock.ns);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 1);
  assert.deepEqual(irrVectors(apic), []);
  clock.ns = 14_000;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), [0xef]);
  assert.deepEqual(intr, [true]);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 0);
  assert.equal(apic.nextDeadlineNs(), Infinity);
  clock.ns = 50_000;
  apic.advance(clock.ns);
  assert.equal(apic.ackInterrupt(), 0xef);
  assert.deepEqual(irrVectors(apic), []); // fired once only
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 0);
});

test('periodic timer stays phase-locked when advanced late, and skips long gaps with one interrupt', () => {
  const { apic, clock } = setup();
  enable(apic);
  clock.ns = 100;
  wr(apic, APIC_TIMER_DIVIDE, 0x0); // divide by 2
  wr(apic, APIC_LVT_TIMER, PERIODIC | 0xec);
  wr(apic, APIC_TIMER_INITIAL, 500); // 1000 ns period
  assert.equal(apic.nextDeadlineNs(), 1100);
  clock.ns = 1350; // late
  apic.advance(clock.ns);
  assert.equal(apic.ackInterrupt(), 0xec);
  wr(apic, APIC_EOI, 0);
  assert.equal(apic.nextDeadlineNs(), 2100); // from the previous deadline, not from now
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 500 - 125);
  const fired: number[] = [];
  for (let t = 2100; t <= 5100; t += 1000) {
    clock.ns = t;
    apic.advance(t);
    if (apic.output()) {
      fired.push(t);
      apic.ackInterrupt();
      wr(apic, APIC_EOI, 0);
    }
  }
  assert.deepEqual(fired, [2100, 3100, 4100, 5100]);
  // A million periods go by unseen: one interrupt, and the next deadline is the next period boundary.
  clock.ns = 1_000_005_150;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), [0xec]);
  assert.equal(apic.nextDeadlineNs(), 1_000_006_100);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 500 - 25);
});

test('masked timer counts but sets no IRR and reports no deadline; unmasking does not replay', () => {
  const { apic, clock } = setup();
  enable(apic);
  wr(apic, APIC_TIMER_DIVIDE, 0xb); // divide by 1
  wr(apic, APIC_LVT_TIMER, MASKED | PERIODIC | 0xec);
  wr(apic, APIC_TIMER_INITIAL, 1000);
  assert.equal(apic.nextDeadlineNs(), Infinity);
  clock.ns = 3250;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), []);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 750);
  wr(apic, APIC_LVT_TIMER, PERIODIC | 0xec);
  assert.deepEqual(irrVectors(apic), []);
  assert.equal(apic.nextDeadlineNs(), 4000);
  clock.ns = 4000;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), [0xec]);
  // A masked one-shot that expires stays silent after unmasking.
  apic.ackInterrupt();
  wr(apic, APIC_EOI, 0);
  wr(apic, APIC_LVT_TIMER, MASKED | 0xec);
  wr(apic, APIC_TIMER_INITIAL, 100);
  clock.ns = 5000;
  wr(apic, APIC_LVT_TIMER, 0xec);
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), []);
  assert.equal(apic.nextDeadlineNs(), Infinity);
});

test('divide configuration: every encoding, and a change mid-count keeps the counts done', () => {
  const table: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];
  for (const [tdcr, div] of table) {
    const { apic, clock } = setup();
    enable(apic);
    wr(apic, APIC_LVT_TIMER, 0xec);
    wr(apic, APIC_TIMER_DIVIDE, tdcr);
    wr(apic, APIC_TIMER_INITIAL, 1000);
    clock.ns = div * 10 + div - 1;
    assert.equal(rd(apic, APIC_TIMER_CURRENT), 990, `divide ${div}`);
    assert.equal(apic.nextDeadlineNs(), div * 1000, `divide ${div}`);
  }
  const { apic, clock } = setup();
  enable(apic);
  wr(apic, APIC_LVT_TIMER, 0xec);
  wr(apic, APIC_TIMER_DIVIDE, 0x0); // by 2
  wr(apic, APIC_TIMER_INITIAL, 1000);
  clock.ns = 200; // 100 counts done
  wr(apic, APIC_TIMER_DIVIDE, 0x3); // by 16
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 900);
  clock.ns = 200 + 160;
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 890);
  assert.equal(apic.nextDeadlineNs(), 200 + 900 * 16);
});

test('initial count 0 stops the timer; a new count restarts it from now', () => {
  const { apic, clock } = setup();
  enable(apic);
  wr(apic, APIC_TIMER_DIVIDE, 0xb);
  wr(apic, APIC_LVT_TIMER, PERIODIC | 0xec);
  wr(apic, APIC_TIMER_INITIAL, 1000);
  clock.ns = 500;
  wr(apic, APIC_TIMER_INITIAL, 0);
  assert.equal(apic.nextDeadlineNs(), Infinity);
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 0);
  clock.ns = 5000;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), []);
  wr(apic, APIC_TIMER_INITIAL, 300);
  assert.equal(apic.nextDeadlineNs(), 5300);
});

test('TSC-deadline mode only with the option', () => {
  {
    const { apic, clock } = setup();
    enable(apic);
    wr(apic, APIC_LVT_TIMER, 0x40000 | 0xec);
    assert.equal(rd(apic, APIC_LVT_TIMER), 0xec); // bit 18 reserved: one-shot
    apic.writeTscDeadline(500);
    assert.equal(apic.readTscDeadline(), null);
    wr(apic, APIC_TIMER_INITIAL, 100); // divide by 2: 200 ns
    clock.ns = 200;
    apic.advance(clock.ns);
    assert.deepEqual(irrVectors(apic), [0xec]); // ran as one-shot
    assert.equal(apic.nextDeadlineNs(), Infinity);
  }
  const { apic, clock } = setup({ tscDeadline: true });
  enable(apic);
  wr(apic, APIC_LVT_TIMER, 0x40000 | 0xec);
  assert.equal(rd(apic, APIC_LVT_TIMER), 0x400ec);
  wr(apic, APIC_TIMER_INITIAL, 100); // ignored in TSC-deadline mode
  assert.equal(rd(apic, APIC_TIMER_CURRENT), 0);
  assert.equal(apic.nextDeadlineNs(), Infinity);
  apic.writeTscDeadline(5000);
  assert.equal(apic.readTscDeadline(), 5000);
  assert.equal(apic.nextDeadlineNs(), 5000);
  clock.ns = 4999;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), []);
  clock.ns = 5000;
  apic.advance(clock.ns);
  assert.deepEqual(irrVectors(apic), [0xec]);
  assert.equal(apic.readTscDeadline(), null); // one shot, disarmed
  apic.ackInterrupt();
  wr(apic, APIC_EOI, 0);
  // A deadline in the past fires at once; leaving the mode disarms.
  apic.writeTscDeadline(1);
  assert.deepEqual(irrVectors(apic), [0xec]);
  apic.writeTscDeadline(9000);
  wr(apic, APIC_LVT_TIMER, 0xec);
  assert.equal(apic.nextDeadlineNs(), Infinity);
});

test('ICR: self-IPIs are accepted here; others go to onIpi; delivery status reads idle', () => {
  const { apic, ipis } = setup({ id: 2 });
  enable(apic);
  wr(apic, APIC_ICR_LO, 0x40000 | 0x41); // shorthand self, fixed
  assert.deepEqual(irrVectors(apic), [0x41]);
  assert.equal(rd(apic, APIC_ICR_LO), 0x40041);
  assert.equal(rd(apic, APIC_ICR_LO) & 0x1000, 0);
  assert.equal(ipis.length, 0);
  wr(apic, APIC_ICR_HI, 2 << 24); // physical destination = own ID
  wr(apic, APIC_ICR_LO, 0x42);
  assert.deepEqual(irrVectors(apic), [0x41, 0x42]);
  assert.equal(ipis.length, 0);
  wr(apic, APIC_ICR_HI, 5 << 24); // another CPU
  wr(apic, APIC_ICR_LO, 0x43);
  assert.deepEqual(irrVectors(apic), [0x41, 0x42]);
  assert.equal(ipis.length, 1);
  assert.deepEqual(ipis[0], { vector: 0x43, deliveryMode: 0, destMode: 'physical', shorthand: 0, dest: 5, assert: false, level: false });
  wr(apic, APIC_ICR_LO, 0x80000 | 0x44); // all including self
  assert.deepEqual(irrVectors(apic), [0x41, 0x42, 0x44]);
  assert.equal(ipis.length, 2);
  wr(apic, APIC_ICR_LO, 0xc0000 | 0x45); // all excluding self
  assert.deepEqual(irrVectors(apic), [0x41, 0x42, 0x44]);
  assert.equal(ipis.length, 3);
  // INIT / SIPI to another CPU: handed on, nothing here.
  wr(apic, APIC_ICR_HI, 1 << 24);
  wr(apic, APIC_ICR_LO, 0x4500);
  wr(apic, APIC_ICR_LO, 0x4610);
  assert.deepEqual(ipis.slice(3).map((i) => [i.deliveryMode, i.vector, i.dest, i.assert]), [[5, 0, 1, true], [6, 0x10, 1, true]]);
  assert.deepEqual(irrVectors(apic), [0x41, 0x42, 0x44]);
});

test('ESR: illegal vectors are recorded, latched by an ESR write, and raise the LVT error vector', () => {
  const { apic } = setup();
  enable(apic);
  apic.acceptInterrupt(5, false);
  assert.deepEqual(irrVectors(apic), []);
  assert.equal(rd(apic, APIC_ESR), 0); // not latched yet
  wr(apic, APIC_ESR, 0);
  assert.equal(rd(apic, APIC_ESR), 0x40); // received illegal vector
  wr(apic, APIC_ESR, 0);
  assert.equal(rd(apic, APIC_ESR), 0);
  // With LVT error unmasked, an error interrupts.
  wr(apic, APIC_LVT_ERROR, 0xfe);
  wr(apic, APIC_ICR_LO, 0x40000 | 0x0f); // self-IPI with vector 15: not sent
  assert.deepEqual(irrVectors(apic), [0xfe]);
  wr(apic, APIC_ESR, 0);
  assert.equal(rd(apic, APIC_ESR), 0x20); // send illegal vector
  // A reserved register offset.
  assert.equal(rd(apic, 0x2f0), 0); // no CMCI with max LVT 5
  wr(apic, APIC_ESR, 0);
  assert.equal(rd(apic, APIC_ESR), 0x80);
});

test('matchesDestination: physical, broadcast, logical flat and cluster', () => {
  const { apic } = setup({ id: 1 });
  enable(apic);
  assert.equal(apic.matchesDestination(1, false), true);
  assert.equal(apic.matchesDestination(2, false), false);
  assert.equal(apic.matchesDestination(0xff, false), true);
  wr(apic, APIC_LDR, 0x02 << 24); // flat: bit 1
  assert.equal(apic.matchesDestination(0x02, true), true);
  assert.equal(apic.matchesDestination(0x03, true), true);
  assert.equal(apic.matchesDestination(0x04, true), false);
  wr(apic, APIC_DFR, 0x0fffffff); // cluster model
  wr(apic, APIC_LDR, 0x32 << 24); // cluster 3, member bit 1
  assert.equal(matchesDestination(apic, 0x32, true), true);
  assert.equal(matchesDestination(apic, 0x3f, true), true);
  assert.equal(matchesDestination(apic, 0x22, true), false);
  assert.equal(matchesDestination(apic, 0x31, true), false);
});

test('save/restore mid-countdown onto another clock base; bad records change nothing', () => {
  const { apic, clock } = setup();
  enable(apic);
  wr(apic, APIC_TPR, 0x20);
  wr(apic, APIC_LDR, 0x01000000);
  wr(apic, APIC_TIMER_DIVIDE, 0x2); // by 8
  wr(apic, APIC_LVT_TIMER, PERIODIC | 0xec);
  clock.ns = 1000;
  wr(apic, APIC_TIMER_INITIAL, 1000); // 8000 ns period
  apic.acceptInterrupt(0x61, true);
  apic.acceptInterrupt(0x51, false);
  assert.equal(apic.ackInterrupt(), 0x61);
  clock.ns = 5000;
  const saved = apic.save();
  assert.equal(saved.kind, 'lapic');
  assert.equal(saved.timerDeadlineInNs, 4000);
  const copy = JSON.parse(JSON.stringify(saved)) as LocalApicState;

  const other = setup();
  other.clock.ns = 1_000_000;
  other.apic.restore(copy);
  assert.deepEqual(other.intr, [false]); // reported on restore: 0x51 is blocked by 0x61 in service
  assert.equal(rd(other.apic, APIC_TIMER_CURRENT), 500);
  assert.equal(other.apic.nextDeadlineNs(), 1_004_000);
  assert.equal(rd(other.apic, APIC_TPR), 0x20);
  assert.equal(bitIn(other.apic, APIC_ISR, 0x61), true);
  assert.equal(bitIn(other.apic, APIC_TMR, 0x61), true);
  assert.deepEqual(irrVectors(other.apic), [0x51]);
  assert.deepEqual(other.apic.save(), { ...saved });
  other.clock.ns = 1_004_000;
  other.apic.advance(other.clock.ns);
  assert.deepEqual(irrVectors(other.apic), [0x51, 0xec]);
  assert.equal(other.apic.nextDeadlineNs(), 1_012_000);
  wr(other.apic, APIC_EOI, 0);
  assert.deepEqual(other.eois, [0x61]);

  // Malformed records are refused before anything changes.
  const before = other.apic.save();
  const bad: unknown[] = [
    null,
    { ...saved, kind: 'pic' },
    { ...saved, version: 2 },
    { ...saved, irr: saved.irr.slice(0, 7) },
    { ...saved, svr: 0xff }, // software-disabled with unmasked LVTs
    { ...saved, tpr: 0x100 },
    { ...saved, timerDeadlineInNs: 1e9 }, // beyond one period
    { ...saved, tscDeadlineInNs: 10 }, // option off
    { ...saved, lint0: 1 },
  ];
  for (const b of bad) assert.throws(() => other.apic.restore(b as LocalApicState), /lapic state record/);
  assert.deepEqual(other.apic.save(), before);
});
