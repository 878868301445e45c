/**
 * The ACPI PM hardware (src/hvm/acpi/pm.ts) on a ManualClock: the PM timer's
 * rate, exactness at large times and 32-bit wrap, TMR_STS and its deadline,
 * PM1_CNT (SCI_EN fixed at 1, SLP_TYP/SLP_EN and the sleep callback), the
 * power button and GPE0 status/enable with the SCI level, write-1-to-clear,
 * and save/restore onto a different clock base.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type IrqLine } from '../../src/hvm/device.js';
import {
  ACPI_PM1A_CNT_BLK_ADDRESS_V0, ACPI_PM1A_EVT_BLK_ADDRESS_V0, ACPI_PM_TMR_BLK_ADDRESS_V0, ACPI_GPE0_BLK_ADDRESS_V0, AcpiPm, DEFAULT_PM_PORTS,
  PM_TIMER_HZ, PWRBTN_EN, PWRBTN_STS, SLP_EN, SLP_TYP_S0, SLP_TYP_S5, TMR_EN, TMR_STS, WAK_STS, type AcpiPmState,
} from '../../src/hvm/acpi/pm.js';

const EVT = 0xb000;
const STS = EVT;
const EN = EVT + 2;
const CNT = 0xb004;
const TMR = 0xb008;
const GPE = 0xafe0;

class RecordingLine implements IrqLine {
  levels: boolean[] = [];
  set(level: boolean): void {
    this.levels.push(level);
  }
  get level(): boolean {
    return this.levels.at(-1) ?? false;
  }
}

/** Exact reference: floor(ns * 3579545 / 1e9) mod 2^32, for integer ns. */
function ref(ns: number): number {
  return Number(((BigInt(ns) * BigInt(PM_TIMER_HZ)) / 1_000_000_000n) % 2n ** 32n);
}

/** The first integer ns at which `ticks` ticks have elapsed. */
function nsAt(ticks: number): number {
  const hz = BigInt(PM_TIMER_HZ);
  return Number((BigInt(ticks) * 1_000_000_000n + hz - 1n) / hz);
}

function setup(clockNs = 0): { clock: ManualClock; sci: RecordingLine; pm: AcpiPm; sleeps: number[] } {
  const clock = new ManualClock(clockNs);
  const sci = new RecordingLine();
  const sleeps: number[] = [];
  const pm = new AcpiPm({ clock, sci, onSleep: (t) => sleeps.push(t) });
  return { clock, sci, pm, sleeps };
}

test('default ports are Xen layout version 1', () => {
  const { pm } = setup();
  assert.deepEqual({ ...DEFAULT_PM_PORTS }, { evtBlk: 0xb000, cntBlk: 0xb004, tmrBlk: 0xb008, gpe0Blk: 0xafe0, gpe0Len: 4 });
  assert.deepEqual(pm.portRanges(), [
    { base: 0xb000, length: 4 },
    { base: 0xb004, length: 2 },
    { base: 0xb008, length: 4 },
    { base: 0xafe0, length: 4 },
  ]);
});

test('PM timer counts at 3.579545 MHz, exactly, also at large times', () => {
  const { clock, pm } = setup();
  const at = (ns: number): number => {
    clock.ns = ns;
    return pm.ioRead(TMR, 4);
  };
  assert.equal(at(0), 0);
  assert.equal(at(279), 0);
  assert.equal(at(280), 1);
  assert.equal(at(1_000_000), 3579);
  assert.equal(at(1_000_000_000), 3579545);
  assert.equal(at(10_000_000_000), 35795450);
  for (const ns of [123_456_789, 999_999_999_999, 86_400e9 + 7, 100 * 86_400e9 + 123_456_789, 2 ** 52 + 1]) {
    assert.equal(at(ns), ref(ns), `at ${ns} ns`);
  }
  // Between seconds: 1.5 s + 1 ns = 5369317.5... ticks.
  assert.equal(at(1_500_000_001), 5369317);
  // A dword read is one snapshot; bytes and words read the same counter.
  clock.ns = 7_654_321_987;
  const v = pm.ioRead(TMR, 4);
  assert.equal(v, ref(clock.ns));
  assert.equal(pm.ioRead(TMR, 1), v & 0xff);
  assert.equal(pm.ioRead(TMR + 1, 1), (v >>> 8) & 0xff);
  assert.equal(pm.ioRead(TMR + 2, 2), v >>> 16);
  assert.equal(pm.timerValue(), v);
  // Writes are ignored.
  pm.ioWrite(TMR, 4, 0);
  assert.equal(pm.ioRead(TMR, 4), v);
});

test('PM timer is 32 bits wide and wraps to 0', () => {
  const { clock, pm } = setup();
  const wrap = nsAt(2 ** 32);
  clock.ns = wrap - 1;
  assert.equal(pm.ioRead(TMR, 4), 0xffffffff);
  clock.ns = wrap;
  assert.equal(pm.ioRead(TMR, 4), 0);
  clock.ns = wrap + 1_000_000_000;
  assert.equal(pm.ioRead(TMR, 4), ref(clock.ns));
  assert.ok(pm.ioRead(TMR, 4) < PM_TIMER_HZ + 1);
  clock.ns = nsAt(3 * 2 ** 32 + 5);
  assert.equal(pm.ioRead(TMR, 4), 5);
});

test('TMR_STS is set at every change of bit 31; the device asks for time only while TMR_EN is set', () => {
  const { clock, sci, pm } = setup();
  assert.equal(pm.nextDeadlineNs(), Infinity);
  pm.ioWrite(EN, 2, TMR_EN);
  const first = nsAt(2 ** 31);
  assert.equal(pm.nextDeadlineNs(), first);
  assert.ok(Math.abs(first - 599.9e9) < 1e9, 'about 600 s');

  clock.ns = first - 1;
  pm.advance(clock.ns);
  assert.equal(pm.ioRead(STS, 2) & TMR_STS, 0);
  assert.equal(pm.ioRead(TMR, 4), 2 ** 31 - 1);
  assert.equal(sci.level, false);

  clock.ns = first;
  pm.advance(clock.ns);
  assert.equal(pm.ioRead(STS, 2) & TMR_STS, TMR_STS);
  assert.equal(sci.level, true);
  assert.equal(pm.nextDeadlineNs(), Infinity, 'nothing new until the status is cleared');

  pm.ioWrite(STS, 2, TMR_STS);
  assert.equal(pm.ioRead(STS, 2) & TMR_STS, 0);
  assert.equal(sci.level, false);
  assert.equal(pm.nextDeadlineNs(), nsAt(2 ** 32), 'the next change of bit 31 is the wrap');

  // With TMR_EN clear the status still sets (seen when read), without an SCI and without a deadline.
  pm.ioWrite(EN, 2, 0);
  assert.equal(pm.nextDeadlineNs(), Infinity);
  clock.ns = nsAt(2 ** 32) + 10;
  assert.equal(pm.ioRead(STS, 2) & TMR_STS, TMR_STS);
  assert.equal(sci.level, false);
  // Enabling it now raises the SCI at once.
  pm.ioWrite(EN, 2, TMR_EN);
  assert.equal(sci.level, true);
  pm.ioWrite(STS, 2, TMR_STS);
  assert.equal(sci.level, false);
  assert.equal(pm.nextDeadlineNs(), nsAt(3 * 2 ** 31));
});

test('a missed bit-31 change is caught up by advance', () => {
  const { clock, sci, pm } = setup();
  pm.ioWrite(EN, 2, TMR_EN);
  clock.ns = nsAt(5 * 2 ** 31) + 1234; // far past several changes
  assert.ok(pm.nextDeadlineNs() <= clock.ns);
  pm.advance(clock.ns);
  assert.equal(sci.level, true);
  pm.ioWrite(STS, 2, TMR_STS);
  assert.equal(pm.nextDeadlineNs(), nsAt(6 * 2 ** 31));
});

test('PM1_CNT: SCI_EN always reads 1, SLP_TYP is stored, SLP_EN is write-only', () => {
  const { pm, sleeps } = setup();
  assert.equal(pm.ioRead(CNT, 2), 0x0001);
  pm.ioWrite(CNT, 2, 0);
  assert.equal(pm.ioRead(CNT, 2) & 1, 1, 'SCI_EN cannot be cleared');
  assert.equal(pm.ioRead(CNT, 1), 0x01);
  pm.ioWrite(CNT, 2, SLP_TYP_S0 << 10);
  assert.equal(pm.ioRead(CNT, 2), (SLP_TYP_S0 << 10) | 1);
  assert.deepEqual(sleeps, [], 'SLP_TYP alone does not sleep');
  pm.ioWrite(CNT, 2, 0x0004); // GBL_RLS: write-only
  assert.equal(pm.ioRead(CNT, 2), 0x0001);
});

test('writing SLP_TYP = S5 with SLP_EN calls onSleep with the S5 type', () => {
  const { pm, sleeps } = setup();
  pm.ioWrite(CNT, 2, (SLP_TYP_S5 << 10) | SLP_EN);
  assert.deepEqual(sleeps, [SLP_TYP_S5]);
  assert.equal(pm.ioRead(CNT, 2) & SLP_EN, 0, 'SLP_EN reads 0');
  assert.equal(pm.ioRead(STS, 2) & WAK_STS, 0, 'no wake from soft-off');
  // ACPICA's sequence: SLP_TYP first, then SLP_TYP | SLP_EN; a byte write of the high half works too.
  pm.ioWrite(CNT, 2, SLP_TYP_S0 << 10);
  pm.ioWrite(CNT + 1, 1, (SLP_TYP_S5 << 2) | 0x20);
  assert.deepEqual(sleeps, [SLP_TYP_S5, SLP_TYP_S5]);
  // Another type sleeps and wakes at once: WAK_STS, which is write-1-to-clear.
  pm.ioWrite(CNT, 4, (SLP_TYP_S0 << 10) | SLP_EN | 0x00010000);
  assert.deepEqual(sleeps, [SLP_TYP_S5, SLP_TYP_S5, SLP_TYP_S0]);
  assert.equal(pm.ioRead(STS, 2) & WAK_STS, WAK_STS);
  pm.ioWrite(STS, 2, WAK_STS);
  assert.equal(pm.ioRead(STS, 2) & WAK_STS, 0);
});

test('the power button raises the SCI only while PWRBTN_EN is set; status is write-1-to-clear', () => {
  const { sci, pm } = setup();
  pm.pressPowerButton();
  assert.equal(pm.ioRead(STS, 2), PWRBTN_STS);
  assert.deepEqual(sci.levels, [], 'not enabled: no SCI');
  pm.ioWrite(EN, 2, PWRBTN_EN);
  assert.equal(pm.ioRead(EN, 2), PWRBTN_EN);
  assert.deepEqual(sci.levels, [true]);
  assert.equal(pm.sciAsserted, true);
  // Writing 0s, or 1s to other bits, clears nothing.
  pm.ioWrite(STS, 2, 0);
  pm.ioWrite(STS, 2, 0xffff & ~PWRBTN_STS);
  assert.equal(pm.ioRead(STS, 2), PWRBTN_STS);
  assert.deepEqual(sci.levels, [true]);
  // Disabling drops the line with the status still set; re-enabling raises it.
  pm.ioWrite(EN, 2, 0);
  pm.ioWrite(EN, 2, PWRBTN_EN);
  assert.deepEqual(sci.levels, [true, false, true]);
  // A 32-bit write of the whole event block: STS half clears, EN half is written.
  pm.ioWrite(EVT, 4, PWRBTN_STS | (PWRBTN_EN << 16));
  assert.equal(pm.ioRead(EVT, 4), PWRBTN_EN << 16);
  assert.deepEqual(sci.levels, [true, false, true, false]);
  // Byte access to the high status byte.
  pm.pressPowerButton();
  assert.equal(pm.ioRead(STS + 1, 1), 0x01);
  pm.ioWrite(STS + 1, 1, 0x01);
  assert.equal(pm.ioRead(STS, 2), 0);
  assert.deepEqual(sci.levels, [true, false, true, false, true, false]);
  // Reserved enable bits do not stick.
  pm.ioWrite(EN, 2, 0xffff);
  assert.equal(pm.ioRead(EN, 2), 0x4721);
});

test('GPE0: status (write 1 to clear) and enable halves; the SCI is any enabled status', () => {
  const { sci, pm } = setup();
  pm.setGpe(3);
  pm.setGpe(9);
  assert.equal(pm.ioRead(GPE, 2), 0x0208);
  assert.equal(sci.level, false);
  pm.ioWrite(GPE + 3, 1, 0x02); // enable GPE 9
  assert.equal(pm.ioRead(GPE + 2, 2), 0x0200);
  assert.equal(sci.level, true);
  pm.ioWrite(GPE, 1, 0x08); // clear GPE 3: GPE 9 still asserts
  assert.equal(sci.level, true);
  pm.ioWrite(GPE + 1, 1, 0x02);
  assert.equal(pm.ioRead(GPE, 4), 0x02000000);
  assert.equal(sci.level, false);
  assert.throws(() => pm.setGpe(16));
});

test('another port layout (Xen version 0, 8-byte GPE0) decodes where it says; overlaps are refused', () => {
  const clock = new ManualClock(1e9);
  const sci = new RecordingLine();
  const pm = new AcpiPm({
    clock, sci, onSleep: () => {},
    ports: { evtBlk: ACPI_PM1A_EVT_BLK_ADDRESS_V0, cntBlk: ACPI_PM1A_CNT_BLK_ADDRESS_V0, tmrBlk: ACPI_PM_TMR_BLK_ADDRESS_V0, gpe0Blk: ACPI_GPE0_BLK_ADDRESS_V0, gpe0Len: 8 },
  });
  assert.equal(pm.ioRead(0x1f48, 4), PM_TIMER_HZ);
  assert.equal(pm.ioRead(0x1f44, 2), 1);
  pm.setGpe(31);
  pm.ioWrite(0x1f68 + 7, 1, 0x80);
  assert.equal(sci.level, true);
  assert.equal(pm.ioRead(0x1f68 + 3, 1), 0x80);
  assert.throws(() => new AcpiPm({ clock, sci, onSleep: () => {}, ports: { tmrBlk: 0xb002 } }), /overlaps/);
  assert.throws(() => new AcpiPm({ clock, sci, onSleep: () => {}, ports: { gpe0Len: 5 } }), /even/);
  assert.throws(() => new AcpiPm({ clock, sci, onSleep: () => {}, ports: { evtBlk: 0xfffe } }), /outside/);
});

test('save/restore keeps registers and the SCI, and the timer continues from its value on another clock', () => {
  const a = setup(5_000_000_123);
  a.pm.ioWrite(EN, 2, PWRBTN_EN | TMR_EN);
  a.pm.ioWrite(CNT, 2, SLP_TYP_S0 << 10);
  a.pm.pressPowerButton();
  a.pm.setGpe(2);
  a.pm.ioWrite(GPE + 2, 1, 0x04);
  const timer = a.pm.ioRead(TMR, 4);
  const saved = JSON.parse(JSON.stringify(a.pm.save())) as AcpiPmState;
  assert.equal(saved.device, 'acpi-pm');
  assert.equal(saved.timer, timer);

  const b = setup(987_654_321_000);
  b.pm.restore(saved);
  assert.deepEqual(b.sci.levels, [true]);
  assert.equal(b.pm.ioRead(TMR, 4), timer);
  assert.equal(b.pm.ioRead(STS, 2), PWRBTN_STS);
  assert.equal(b.pm.ioRead(EN, 2), PWRBTN_EN | TMR_EN);
  assert.equal(b.pm.ioRead(CNT, 2), (SLP_TYP_S0 << 10) | 1);
  assert.equal(b.pm.ioRead(GPE, 4), 0x00040004);
  b.clock.ns += 1_000_000_000;
  const after = b.pm.ioRead(TMR, 4);
  assert.ok(Math.abs(after - (timer + PM_TIMER_HZ)) <= 1, `${after} vs ${timer + PM_TIMER_HZ}`);
  assert.deepEqual(b.pm.save(), { ...saved, timer: after, timerPhaseNs: b.pm.save().timerPhaseNs });
});

test('restore rebases the bit-31 deadline', () => {
  const a = setup(nsAt(2 ** 31) - 1000);
  a.pm.ioWrite(EN, 2, TMR_EN);
  const saved = a.pm.save();
  const b = setup(7e9);
  b.pm.restore(saved);
  const d = b.pm.nextDeadlineNs();
  assert.ok(d > 7e9 + 500 && d < 7e9 + 1500, `deadline ${d}`);
  b.clock.ns = d - 1;
  b.pm.advance(b.clock.ns);
  assert.equal(b.sci.level, false);
  assert.equal(b.pm.ioRead(TMR, 4), 2 ** 31 - 1);
  b.clock.ns = d;
  b.pm.advance(d);
  assert.equal(b.sci.level, true);
  assert.equal(b.pm.ioRead(TMR, 4), 2 ** 31);
});

test('restore rejects malformed records and leaves the device as it was', () => {
  const { pm } = setup(1e9);
  pm.pressPowerButton();
  const good = pm.save();
  const bad: [string, unknown][] = [
    ['not an object', null],
    ['device', { ...good, device: 'pit' }],
    ['version', { ...good, version: 2 }],
    ['pm1Sts', { ...good, pm1Sts: 0x0002 }],
    ['pm1En', { ...good, pm1En: 0x10000 }],
    ['pm1Cnt', { ...good, pm1Cnt: 0x2000 }],
    ['gpe0Sts', { ...good, gpe0Sts: [0, 0, 0] }],
    ['gpe0En', { ...good, gpe0En: [0, 256] }],
    ['timer', { ...good, timer: 2 ** 32 }],
    ['timerPhaseNs', { ...good, timerPhaseNs: 280 }],
  ];
  for (const [what, rec] of bad) {
    const fresh = setup(3e9);
    assert.throws(() => fresh.pm.restore(rec as AcpiPmState), /acpi-pm state record/, what);
    assert.equal(fresh.pm.ioRead(STS, 2), 0, `${what}: untouched`);
    assert.equal(fresh.pm.ioRead(TMR, 4), ref(3e9), `${what}: timer untouched`);
  }
});
