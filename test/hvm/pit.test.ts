/**
 * The 8254 PIT (src/hvm/pit.ts) on a ManualClock: Linux's tick setup (mode 2,
 * LATCH for HZ=250), one-shot mode 0, the channel-2 TSC calibration sequence
 * through port 0x61, latch and read-back commands, read byte ordering, BCD,
 * and save/restore onto a different clock base.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type IrqLine } from '../../src/hvm/device.js';
import { PIT_HZ, Pit8254, type PitState } from '../../src/hvm/pit.js';

const LATCH = Math.floor((PIT_HZ + 250 / 2) / 250); // Linux's LATCH for HZ=250

class RecordingLine implements IrqLine {
  levels: boolean[] = [];
  set(level: boolean): void {
    this.levels.push(level);
  }
  get rising(): number {
    let n = 0;
    let prev = false;
    for (const l of this.levels) {
      if (l && !prev) n++;
      prev = l;
    }
    return n;
  }
}

/** First ns at which `pulses` CLK pulses have gone by. */
function nsAt(pulses: number): number {
  return Math.ceil((pulses * 1e9) / PIT_HZ);
}

function pulsesBy(ns: number): number {
  return Math.floor((ns * PIT_HZ) / 1e9);
}

function setup(): { clock: ManualClock; line: RecordingLine; pit: Pit8254 } {
  const clock = new ManualClock(0);
  const line = new RecordingLine();
  return { clock, line, pit: new Pit8254(clock, line) };
}

function programTick(pit: Pit8254, count = LATCH): void {
  pit.ioWrite(0x43, 1, 0x34); // counter 0, LSB then MSB, mode 2, binary
  pit.ioWrite(0x40, 1, count & 0xff);
  pit.ioWrite(0x40, 1, count >> 8);
}

/** Counter latch command, then the two bytes. */
function latchedCount(pit: Pit8254, counter: number): number {
  pit.ioWrite(0x43, 1, counter << 6);
  const lsb = pit.ioRead(0x40 + counter, 1);
  return lsb | (pit.ioRead(0x40 + counter, 1) << 8);
}

function status(pit: Pit8254, counter: number): number {
  pit.ioWrite(0x43, 1, 0xe0 | (2 << counter)); // read-back, status only
  return pit.ioRead(0x40 + counter, 1);
}

test('mode 2 rate generator: IRQ 0 every LATCH pulses, count read back as it runs', () => {
  const { clock, line, pit } = setup();
  assert.equal(LATCH, 4773);
  assert.equal(pit.nextDeadlineNs(), Infinity);
  programTick(pit);
  assert.deepEqual(line.levels.at(-1), true);
  assert.equal(latchedCount(pit, 0), LATCH);
  assert.equal(pit.nextDeadlineNs(), nsAt(LATCH));
  assert.ok(Math.abs(pit.nextDeadlineNs() - 4_000_229) < 2);

  clock.ns = 1_000_000;
  assert.equal(latchedCount(pit, 0), LATCH - pulsesBy(1_000_000));
  assert.equal(latchedCount(pit, 0), LATCH - 1193);
  clock.ns = 3_000_000;
  assert.equal(latchedCount(pit, 0), LATCH - 3579);
  pit.advance(clock.ns); // nothing due yet
  assert.equal(line.rising, 1);

  clock.ns = pit.nextDeadlineNs();
  pit.advance(clock.ns);
  assert.deepEqual(line.levels.slice(-2), [false, true]);
  assert.equal(line.rising, 2);
  assert.equal(pit.nextDeadlineNs(), nsAt(2 * LATCH));
  assert.equal(latchedCount(pit, 0), LATCH); // reloaded
  clock.ns = nsAt(LATCH + 1000);
  assert.equal(latchedCount(pit, 0), LATCH - 1000);

  // One second of ticks at 1193182/4773 Hz.
  const before = line.rising;
  while (pit.nextDeadlineNs() <= 1e9 + nsAt(LATCH)) {
    clock.ns = pit.nextDeadlineNs();
    pit.advance(clock.ns);
  }
  assert.equal(line.rising - before, Math.floor((PIT_HZ + LATCH) / LATCH) - 1);
});

test('mode 2: a long stall fires one IRQ and schedules the next from now', () => {
  const { clock, line, pit } = setup();
  programTick(pit);
  clock.ns = nsAt(LATCH * 1000 + 10);
  pit.advance(clock.ns);
  assert.equal(line.rising, 2);
  assert.equal(pit.nextDeadlineNs(), nsAt(LATCH * 1001));
  pit.advance(clock.ns);
  assert.equal(line.rising, 2);
  assert.equal(latchedCount(pit, 0), LATCH - 10);
});

test('mode 3 square wave: OUT high for the first half, low for the second; IRQ each period', () => {
  const { clock, line, pit } = setup();
  pit.ioWrite(0x43, 1, 0x36); // counter 0, LSB/MSB, mode 3
  pit.ioWrite(0x40, 1, 0x00);
  pit.ioWrite(0x40, 1, 0x10); // 4096
  assert.equal(status(pit, 0), 0x80 | 0x36);
  clock.ns = nsAt(100);
  assert.equal(latchedCount(pit, 0), 4096 - 200); // counts down by two
  clock.ns = nsAt(2048);
  assert.equal(status(pit, 0) & 0x80, 0);
  clock.ns = nsAt(4095);
  assert.equal(status(pit, 0) & 0x80, 0);
  assert.equal(pit.nextDeadlineNs(), nsAt(4096));
  clock.ns = nsAt(4096);
  pit.advance(clock.ns);
  assert.equal(status(pit, 0) & 0x80, 0x80);
  assert.equal(line.rising, 2);
  assert.equal(pit.nextDeadlineNs(), nsAt(8192));
});

test('mode 0 one-shot: OUT low after programming, high at terminal count, no more IRQs', () => {
  const { clock, line, pit } = setup();
  pit.ioWrite(0x43, 1, 0x30); // counter 0, LSB/MSB, mode 0
  assert.equal(line.levels.at(-1), false);
  assert.equal(status(pit, 0), 0x40 | 0x30); // OUT low, null count
  pit.ioWrite(0x40, 1, 1000 & 0xff);
  pit.ioWrite(0x40, 1, 1000 >> 8);
  assert.equal(status(pit, 0), 0x30);
  assert.equal(pit.nextDeadlineNs(), nsAt(1000));
  clock.ns = nsAt(999);
  pit.advance(clock.ns);
  assert.equal(line.levels.at(-1), false);
  assert.equal(latchedCount(pit, 0), 1);
  clock.ns = nsAt(1000);
  pit.advance(clock.ns);
  assert.equal(line.levels.at(-1), true);
  assert.equal(status(pit, 0) & 0x80, 0x80);
  assert.equal(pit.nextDeadlineNs(), Infinity);
  clock.ns = nsAt(1010);
  assert.equal(latchedCount(pit, 0), 0xffff - 9); // keeps counting, wrapped
  assert.equal(status(pit, 0) & 0x80, 0x80); // OUT stays high
  // Linux's pit_shutdown: mode 0, count 0: OUT low and nothing scheduled for 65536 pulses.
  pit.ioWrite(0x43, 1, 0x30);
  pit.ioWrite(0x40, 1, 0);
  pit.ioWrite(0x40, 1, 0);
  assert.equal(line.levels.at(-1), false);
  assert.equal(pit.nextDeadlineNs(), nsAt(1010) + nsAt(0x10000));
});

test('mode 0: writing the first byte of a new count stops counting and sets OUT low', () => {
  const { clock, line, pit } = setup();
  pit.ioWrite(0x43, 1, 0x30);
  pit.ioWrite(0x40, 1, 10);
  pit.ioWrite(0x40, 1, 0);
  clock.ns = nsAt(20);
  pit.advance(clock.ns);
  assert.equal(line.levels.at(-1), true);
  pit.ioWrite(0x40, 1, 50);
  assert.equal(line.levels.at(-1), false);
  assert.equal(pit.nextDeadlineNs(), Infinity);
  clock.ns = nsAt(100);
  pit.ioWrite(0x40, 1, 0);
  assert.equal(pit.nextDeadlineNs(), nsAt(100) + nsAt(50));
});

test("Linux's channel-2 TSC calibration: gate via port 0x61, mode 0, poll bit 5", () => {
  const { clock, pit } = setup();
  clock.ns = 123_456_789;
  assert.equal(pit.ioRead(0x61, 1) & 0x03, 0);
  // outb((inb(0x61) & ~0x02) | 0x01, 0x61): gate high, speaker off.
  pit.ioWrite(0x61, 1, (pit.ioRead(0x61, 1) & ~0x02) | 0x01);
  assert.equal(pit.ioRead(0x61, 1) & 0x03, 0x01);
  pit.ioWrite(0x43, 1, 0xb0); // counter 2, LSB/MSB, mode 0, binary
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0); // OUT low after the control word
  pit.ioWrite(0x42, 1, 0xff);
  pit.ioWrite(0x42, 1, 0xff);
  const start = clock.ns;
  // quick_pit_calibrate reads LSB then MSB straight from the counter.
  clock.ns += nsAt(0x100 * 3);
  pit.ioRead(0x42, 1);
  assert.equal(pit.ioRead(0x42, 1), 0xfc);
  let polls = 0;
  while ((pit.ioRead(0x61, 1) & 0x20) === 0) {
    clock.ns += 1000;
    polls++;
    assert.ok(polls < 100_000);
  }
  const elapsed = clock.ns - start;
  assert.ok(elapsed >= nsAt(0xffff) && elapsed < nsAt(0xffff) + 1000, `elapsed ${elapsed}`);
  assert.equal(pit.nextDeadlineNs(), Infinity); // counter 2 has no IRQ
});

test('counter 2 gate low holds a mode 0 count; port 0x61 refresh bit toggles', () => {
  const { clock, pit } = setup();
  pit.ioWrite(0x43, 1, 0xb0);
  pit.ioWrite(0x42, 1, 0x00);
  pit.ioWrite(0x42, 1, 0x10);
  clock.ns = 5_000_000;
  assert.equal(latchedCount(pit, 2), 0x1000); // gate low: not counting
  pit.ioWrite(0x61, 1, 0x01);
  clock.ns += nsAt(100);
  assert.equal(latchedCount(pit, 2), 0x1000 - 100);
  pit.ioWrite(0x61, 1, 0x00);
  clock.ns += 1_000_000;
  assert.equal(latchedCount(pit, 2), 0x1000 - 100);
  pit.ioWrite(0x61, 1, 0x01);
  clock.ns += nsAt(10);
  assert.equal(latchedCount(pit, 2), 0x1000 - 110);

  clock.ns = 0;
  const a = pit.ioRead(0x61, 1) & 0x10;
  clock.ns = 15_085;
  const b = pit.ioRead(0x61, 1) & 0x10;
  clock.ns = 30_170;
  assert.notEqual(a, b);
  assert.equal(pit.ioRead(0x61, 1) & 0x10, a);
});

test('counter latch holds the count until both bytes are read; a second latch is ignored', () => {
  const { clock, pit } = setup();
  programTick(pit, 0x1234);
  clock.ns = nsAt(0x34);
  pit.ioWrite(0x43, 1, 0x00);
  clock.ns = nsAt(0x100);
  pit.ioWrite(0x43, 1, 0x00); // ignored
  assert.equal(pit.ioRead(0x40, 1), 0x00);
  clock.ns = nsAt(0x200);
  assert.equal(pit.ioRead(0x40, 1), 0x12);
  assert.equal(latchedCount(pit, 0), 0x1234 - 0x200); // the latch is free again
});

test('read-back command: status then count, per counter', () => {
  const { clock, pit } = setup();
  programTick(pit);
  pit.ioWrite(0x43, 1, 0x96); // counter 2: LSB only, mode 3
  pit.ioWrite(0x42, 1, 100);
  clock.ns = nsAt(10);
  pit.ioWrite(0x43, 1, 0xc2); // read-back counts and status of counter 0
  clock.ns = nsAt(500);
  assert.equal(pit.ioRead(0x40, 1), 0x80 | 0x34); // OUT high, count loaded, LSB/MSB, mode 2
  assert.equal(pit.ioRead(0x40, 1), (LATCH - 10) & 0xff);
  assert.equal(pit.ioRead(0x40, 1), (LATCH - 10) >> 8);
  pit.ioWrite(0x43, 1, 0xd8); // counts of counters 2 and 1 (counter 2's gate is low)
  assert.equal(pit.ioRead(0x42, 1), 100);
  assert.equal(status(pit, 2), 0x80 | 0x16);
  assert.equal(status(pit, 1), 0x70); // never programmed: null count, LSB/MSB, mode 0, OUT low
});

test('live LSB/MSB reads alternate; LSB-only and MSB-only access modes', () => {
  const { clock, pit } = setup();
  programTick(pit, 0x2345);
  clock.ns = nsAt(0x45);
  assert.equal(pit.ioRead(0x40, 1), 0x00);
  assert.equal(pit.ioRead(0x40, 1), 0x23);
  assert.equal(pit.ioRead(0x40, 1), 0x00);
  pit.ioWrite(0x43, 1, 0x14); // LSB only, mode 2
  pit.ioWrite(0x40, 1, 0x80);
  assert.equal(pit.ioRead(0x40, 1), 0x80);
  assert.equal(pit.ioRead(0x40, 1), 0x80);
  pit.ioWrite(0x43, 1, 0x24); // MSB only, mode 2
  pit.ioWrite(0x40, 1, 0x02);
  assert.equal(latchedCount(pit, 0) & 0xff, 0x02); // latch read in MSB mode gives the MSB
  clock.ns += nsAt(0x100);
  assert.equal(pit.nextDeadlineNs(), nsAt(0x45) + nsAt(0x200));
});

test('BCD counting', () => {
  const { clock, pit } = setup();
  pit.ioWrite(0x43, 1, 0x35); // mode 2, BCD
  pit.ioWrite(0x40, 1, 0x00);
  pit.ioWrite(0x40, 1, 0x10); // 1000 decimal
  assert.equal(pit.nextDeadlineNs(), nsAt(1000));
  clock.ns = nsAt(1193);
  assert.equal(latchedCount(pit, 0), 0x0807);
  pit.ioWrite(0x43, 1, 0x31); // mode 0, BCD, count 0 = 10000
  pit.ioWrite(0x40, 1, 0);
  pit.ioWrite(0x40, 1, 0);
  clock.ns += nsAt(1);
  assert.equal(latchedCount(pit, 0), 0x9999);
});

test('mode 4 software strobe: one IRQ edge after N+1 pulses', () => {
  const { clock, line, pit } = setup();
  pit.ioWrite(0x43, 1, 0x38);
  pit.ioWrite(0x40, 1, 50);
  pit.ioWrite(0x40, 1, 0);
  clock.ns = nsAt(50);
  assert.equal(status(pit, 0) & 0x80, 0);
  assert.equal(pit.nextDeadlineNs(), nsAt(51));
  clock.ns = nsAt(51);
  pit.advance(clock.ns);
  assert.equal(line.rising, 2);
  assert.equal(pit.nextDeadlineNs(), Infinity);
});

test('save/restore onto a different clock base: counts and deadlines continue', () => {
  const { clock, pit } = setup();
  programTick(pit);
  pit.ioWrite(0x61, 1, 0x03);
  pit.ioWrite(0x43, 1, 0xb0);
  pit.ioWrite(0x42, 1, 0xff);
  pit.ioWrite(0x42, 1, 0xff);
  clock.ns = nsAt(LATCH * 3 + 1000);
  pit.advance(clock.ns);
  pit.ioWrite(0x61, 1, 0x02); // gate off: counter 2 frozen
  pit.ioWrite(0x43, 1, 0x00); // a pending latch travels too
  const saved = pit.save();
  const untilDeadline = pit.nextDeadlineNs() - clock.ns;
  const count2 = latchedCount(pit, 2);

  const clock2 = new ManualClock(7_000_000_000_123);
  const line2 = new RecordingLine();
  const pit2 = new Pit8254(clock2, line2);
  pit2.restore(JSON.parse(JSON.stringify(saved)) as PitState);
  assert.equal(line2.levels.at(-1), true);
  assert.equal(pit2.nextDeadlineNs() - clock2.ns, untilDeadline);
  assert.equal(pit2.ioRead(0x40, 1), (LATCH - 1000) & 0xff); // the latched count
  assert.equal(pit2.ioRead(0x40, 1), (LATCH - 1000) >> 8);
  assert.equal(latchedCount(pit2, 2), count2);
  assert.equal(pit2.ioRead(0x61, 1) & 0x0f, 0x02);
  clock2.ns += nsAt(500);
  assert.equal(latchedCount(pit2, 0), LATCH - 1500);
  clock2.ns = pit2.nextDeadlineNs();
  pit2.advance(clock2.ns);
  assert.equal(line2.rising, 2);
  assert.deepEqual(Object.keys(pit2.save()), ['version', 'counters', 'portB']);

  const bad = (mutate: (s: Record<string, unknown>) => void, what: RegExp): void => {
    const s = JSON.parse(JSON.stringify(saved)) as Record<string, unknown>;
    mutate(s);
    const before = pit2.save();
    assert.throws(() => pit2.restore(s as unknown as PitState), what);
    assert.deepEqual(pit2.save(), before);
  };
  const c0 = (s: Record<string, unknown>): Record<string, unknown> => (s.counters as Record<string, unknown>[])[0];
  bad((s) => { s.version = 0; }, /pit state record: unsupported version/);
  bad((s) => { (s.counters as unknown[]).pop(); }, /counters/);
  bad((s) => { c0(s).mode = 6; }, /mode/);
  bad((s) => { c0(s).countRegister = 0x10000; }, /countRegister/);
  bad((s) => { c0(s).gate = 'yes'; }, /gate/);
  bad((s) => { c0(s).pulses = 5; }, /pulses disagrees/);
  bad((s) => { s.portB = 0x20; }, /portB/);
});

test("mode 4 as Linux's one-shot clockevent: each count write arms one more edge", () => {
  const { clock, line, pit } = setup();
  pit.ioWrite(0x43, 1, 0x38); // pit_set_oneshot
  for (const delta of [1000, 20, 5000]) {
    const start = clock.ns;
    pit.ioWrite(0x40, 1, delta & 0xff); // pit_next_event
    pit.ioWrite(0x40, 1, delta >> 8);
    assert.equal(pit.nextDeadlineNs(), start + nsAt(delta + 1));
    const before = line.rising;
    clock.ns = pit.nextDeadlineNs();
    pit.advance(clock.ns);
    assert.equal(line.rising, before + 1);
    assert.equal(pit.nextDeadlineNs(), Infinity);
    clock.ns += 12345;
  }
});

test('counter 2 mode 1: the gate triggers the one-shot; mode 2: a low gate holds OUT high, a rising gate reloads', () => {
  const { clock, pit } = setup();
  pit.ioWrite(0x43, 1, 0x92); // counter 2, LSB only, mode 1
  pit.ioWrite(0x42, 1, 100);
  clock.ns = nsAt(500);
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0x20); // not triggered: OUT high
  pit.ioWrite(0x61, 1, 0x01); // rising gate
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0);
  clock.ns += nsAt(99);
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0);
  assert.equal(pit.ioRead(0x42, 1), 1);
  clock.ns += nsAt(1);
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0x20);
  pit.ioWrite(0x61, 1, 0x00);
  pit.ioWrite(0x61, 1, 0x01); // retrigger
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0);
  assert.equal(pit.ioRead(0x42, 1), 100);

  pit.ioWrite(0x43, 1, 0x94); // counter 2, LSB only, mode 2
  pit.ioWrite(0x42, 1, 10);
  const start = clock.ns;
  clock.ns = start + nsAt(9);
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0); // low for the pulse at count 1
  clock.ns = start + nsAt(10);
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0x20);
  clock.ns = start + nsAt(14);
  assert.equal(pit.ioRead(0x42, 1), 6);
  pit.ioWrite(0x61, 1, 0x00);
  clock.ns = start + nsAt(19);
  assert.equal(pit.ioRead(0x61, 1) & 0x20, 0x20); // gate low: OUT high
  assert.equal(pit.ioRead(0x42, 1), 6); // and counting stops
  pit.ioWrite(0x61, 1, 0x01);
  assert.equal(pit.ioRead(0x42, 1), 10); // reloaded
});

test('mode 2: a count rewritten mid-period takes over at the end of the current period', () => {
  const { clock, line, pit } = setup();
  programTick(pit, 1000);
  clock.ns = nsAt(300);
  pit.ioWrite(0x40, 1, 400 & 0xff);
  pit.ioWrite(0x40, 1, 400 >> 8);
  assert.equal(status(pit, 0) & 0x40, 0x40); // null count until the new count is loaded
  assert.equal(latchedCount(pit, 0), 700); // the current period is not affected
  assert.equal(pit.nextDeadlineNs(), nsAt(1000));
  clock.ns = nsAt(1000);
  pit.advance(clock.ns);
  assert.equal(line.rising, 2);
  assert.equal(status(pit, 0) & 0x40, 0);
  assert.equal(latchedCount(pit, 0), 400);
  assert.equal(pit.nextDeadlineNs(), nsAt(1400));
  clock.ns = nsAt(1550);
  assert.equal(latchedCount(pit, 0), 250);
  // The pending count also travels through save/restore.
  pit.ioWrite(0x40, 1, 100);
  pit.ioWrite(0x40, 1, 0);
  const saved = pit.save();
  assert.equal(saved.counters[0].pendingCount, 100);
  const clock2 = new ManualClock(1_000_000);
  const pit2 = new Pit8254(clock2, new RecordingLine());
  pit2.restore(saved);
  clock2.ns += nsAt(1800) - nsAt(1550) + 1;
  assert.equal(latchedCount(pit2, 0), 100);
});
