import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type IrqLine } from '../../src/hvm/device.js';
import { Mc146818Rtc, type Mc146818State } from '../../src/hvm/rtc.js';

class IrqStub implements IrqLine {
  level = false;
  edges = 0;
  set(level: boolean): void {
    if (level && !this.level) this.edges++;
    this.level = level;
  }
}

/** Thursday 2024-02-29 13:45:30.250 UTC. */
const BASE_MS = Date.UTC(2024, 1, 29, 13, 45, 30) + 250;
const MS = 1_000_000;
const S = 1_000_000_000;

function make(baseMs = BASE_MS, startNs = 0) {
  const clock = new ManualClock(startNs);
  const irq = new IrqStub();
  const rtc = new Mc146818Rtc(irq, clock, baseMs);
  const read = (reg: number) => {
    rtc.ioWrite(0x70, 1, reg);
    return rtc.ioRead(0x71, 1);
  };
  const write = (reg: number, v: number) => {
    rtc.ioWrite(0x70, 1, reg);
    rtc.ioWrite(0x71, 1, v);
  };
  /** Run the machine loop: advance to each deadline up to `ns`. */
  const runTo = (ns: number, onIrq?: () => void) => {
    for (;;) {
      const d = rtc.nextDeadlineNs();
      if (d > ns) break;
      clock.ns = Math.max(clock.ns, d);
      const before = irq.edges;
      rtc.advance(clock.ns);
      if (irq.edges !== before) onIrq?.();
    }
    clock.ns = ns;
    rtc.advance(ns);
  };
  const time = () => [0, 2, 4, 6, 7, 8, 9, 0x32].map(read);
  return { clock, irq, rtc, read, write, runTo, time };
}

test('time registers in BCD (the default) and binary', () => {
  const { read, write, time } = make();
  assert.equal(read(0x0a), 0x26);
  assert.equal(read(0x0b), 0x02);
  assert.equal(read(0x0d), 0x80, 'VRT');
  assert.deepEqual(time(), [0x30, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20]);
  write(0x0b, 0x06); // DM = binary
  assert.deepEqual(time(), [30, 45, 13, 5, 29, 2, 24, 20]);
});

test('time advances with the virtual clock, not the host clock', () => {
  const { clock, read } = make();
  clock.ns = 750 * MS - 1;
  assert.equal(read(0), 0x30);
  clock.ns = 750 * MS;
  assert.equal(read(0), 0x31);
  clock.ns = 750 * MS + 29 * S + 60 * S; // 14:47:00
  assert.equal(read(0), 0x00);
  assert.equal(read(2), 0x47);
});

test('12-hour mode marks PM in bit 7', () => {
  const { read, write } = make();
  write(0x0b, 0x00); // BCD, 12-hour
  assert.equal(read(4), 0x81);
  write(0x0b, 0x04); // binary, 12-hour
  assert.equal(read(4), 0x81);
  // Midnight is 12 AM, noon is 12 PM.
  write(0x0b, 0x80);
  write(4, 0x12);
  write(0x0b, 0x00);
  assert.equal(read(4), 0x12);
  write(0x0b, 0x02);
  assert.equal(read(4), 0x00);
  write(0x0b, 0x80);
  write(4, 0x92);
  write(0x0b, 0x02);
  assert.equal(read(4), 0x12);
});

test('setting the time under SET, with the year and century rolling over', () => {
  const { clock, read, write, time, rtc } = make();
  write(0x0b, 0x82); // SET
  write(0, 0x59);
  write(2, 0x59);
  write(4, 0x23);
  write(7, 0x31); // day 31 before the month: no normalisation against February
  write(8, 0x12);
  write(9, 0x99);
  write(0x32, 0x20);
  clock.ns += 5 * S;
  assert.deepEqual(time().slice(0, 3), [0x59, 0x59, 0x23], 'held while SET');
  assert.equal(read(0x0a) & 0x80, 0, 'no UIP while SET');
  write(0x0b, 0x02);
  assert.equal(rtc.guestTimeSec(), Date.UTC(2099, 11, 31, 23, 59, 59) / 1000);
  // The divider phase was kept: the next update is at the next .250 boundary.
  clock.ns = 5 * S + 750 * MS - 1;
  assert.equal(read(0), 0x59);
  clock.ns = 5 * S + 750 * MS;
  assert.deepEqual(time(), [0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21]);
});

test('writes without SET change the running time', () => {
  const { read, write } = make();
  write(2, 0x10);
  assert.equal(read(2), 0x10);
  assert.equal(read(4), 0x13);
});

test('periodic interrupt at 1024 Hz (rate 6): PF and IRQF, C cleared on read', () => {
  const { irq, read, write, runTo } = make();
  write(0x0a, 0x26);
  write(0x0b, 0x42); // PIE
  let count = 0;
  runTo(1 * S, () => {
    count++;
    // UF is also set once a second (flags are set whether or not enabled).
    assert.equal(read(0x0c) & 0xe0, 0xc0);
    assert.equal(irq.level, false, 'reading C lowers IRQ 8');
    assert.equal(read(0x0c), 0x00);
  });
  assert.equal(count, 1024);
  // Without a read of C the line stays up and no deadline is asked for.
  runTo(1 * S + 2 * MS);
  assert.equal(irq.level, true);
  assert.equal(irq.edges, 1025);
});

test('periodic rates follow the datasheet table', () => {
  for (const [rs, hz] of [[1, 256], [2, 128], [3, 8192], [15, 2]] as const) {
    const { read, write, runTo } = make();
    write(0x0a, 0x20 | rs);
    write(0x0b, 0x42);
    let count = 0;
    runTo(1 * S, () => {
      count++;
      read(0x0c);
    });
    assert.equal(count, hz, `rate ${rs}`);
  }
  const { write, rtc } = make();
  write(0x0a, 0x20);
  write(0x0b, 0x42);
  assert.equal(rtc.nextDeadlineNs(), Infinity, 'rate 0 is off');
});

test('PF is set even with PIE off, and enabling PIE raises IRQ 8 at once', () => {
  const { clock, irq, read, write } = make();
  clock.ns = 10 * MS;
  write(0x0b, 0x42);
  assert.equal(irq.level, true);
  assert.equal(read(0x0c), 0xc0);
});

test('update-ended interrupt once per second', () => {
  const { irq, read, write, runTo, rtc } = make();
  write(0x0b, 0x12); // UIE
  assert.equal(rtc.nextDeadlineNs(), 750 * MS);
  const seconds: number[] = [];
  runTo(5 * S, () => {
    assert.equal(read(0x0c) & 0xb0, 0x90, 'IRQF and UF (PF too, at the default 1024 Hz rate)');
    seconds.push(read(0));
  });
  assert.deepEqual(seconds, [0x31, 0x32, 0x33, 0x34, 0x35]);
  assert.equal(irq.level, false);
  write(0x0b, 0x92); // SET clears UIE
  assert.equal(read(0x0b), 0x82);
});

test('alarm interrupt, with 0xC0-0xFF as don\'t care', () => {
  const { read, write, runTo } = make();
  write(1, 0x35);
  write(3, 0x45);
  write(5, 0x13);
  write(0x0b, 0x22); // AIE
  const hits: number[] = [];
  runTo(10 * S, () => {
    const c = read(0x0c);
    assert.equal(c & 0xa0, 0xa0);
    hits.push(read(0));
  });
  assert.deepEqual(hits, [0x35]);
  // Seconds don't-care: every second of 13:45.
  write(1, 0xc0);
  const more: number[] = [];
  runTo(13 * S, () => {
    read(0x0c);
    more.push(read(0));
  });
  assert.deepEqual(more, [0x41, 0x42, 0x43]);
  // Hours and minutes don't-care, seconds 0x00: once a minute.
  write(1, 0x00);
  write(3, 0xff);
  write(5, 0xc3);
  const minutes: number[] = [];
  runTo(13 * S + 200 * S, () => {
    read(0x0c);
    minutes.push(read(2));
  });
  assert.deepEqual(minutes, [0x46, 0x47, 0x48, 0x49]);
});

test('alarm flag is found lazily after a long gap', () => {
  const { clock, read, write } = make();
  write(1, 0x00);
  write(3, 0x00);
  write(5, 0x02);
  clock.ns = 20 * 3600 * S; // past 02:00:00 the next day
  assert.equal(read(0x0c) & 0x30, 0x30, 'AF and UF');
});

test('UIP during the 244 µs before each update', () => {
  const { clock, read } = make();
  clock.ns = 750 * MS - 244_001;
  assert.equal(read(0x0a), 0x26);
  clock.ns = 750 * MS - 244_000;
  assert.equal(read(0x0a), 0xa6);
  assert.equal(read(0), 0x30, 'time not yet updated');
  clock.ns = 750 * MS - 1;
  assert.equal(read(0x0a) & 0x80, 0x80);
  clock.ns = 750 * MS;
  assert.equal(read(0x0a) & 0x80, 0);
  assert.equal(read(0), 0x31);
});

test('divider reset holds the clock; the first update comes 500 ms after release', () => {
  const { clock, read, write } = make();
  write(0x0a, 0x76);
  clock.ns = 3 * S;
  assert.equal(read(0), 0x30);
  write(0x0a, 0x26);
  clock.ns = 3 * S + 500 * MS - 1;
  assert.equal(read(0), 0x30);
  clock.ns = 3 * S + 500 * MS;
  assert.equal(read(0), 0x31);
});

test('bit 7 of port 0x70 masks NMI and is ignored for indexing', () => {
  const { rtc } = make();
  rtc.ioWrite(0x70, 1, 0x80 | 0x04);
  assert.equal(rtc.nmiMasked, true);
  assert.equal(rtc.ioRead(0x71, 1), 0x13);
  rtc.ioWrite(0x70, 1, 0x8d);
  assert.equal(rtc.ioRead(0x71, 1), 0x80);
  rtc.ioWrite(0x70, 1, 0x0d);
  assert.equal(rtc.nmiMasked, false);
  assert.equal(rtc.ioRead(0x70, 1), 0xff, 'the index port is write-only');
});

test('CMOS NVRAM reads back what was written', () => {
  const { read, write, rtc } = make();
  for (let i = 0x0e; i < 0x80; i++) if (i !== 0x32) write(i, (i * 7 + 3) & 0xff);
  for (let i = 0x0e; i < 0x80; i++) if (i !== 0x32) assert.equal(read(i), (i * 7 + 3) & 0xff);
  rtc.writeNvram(0x15, 0x80);
  assert.equal(read(0x15), 0x80);
  write(0x31, 0x3c);
  assert.equal(rtc.readNvram(0x31), 0x3c);
  write(0x0d, 0x00);
  assert.equal(read(0x0d), 0x80, 'register D is read-only');
});

test('save/restore round trip: NVRAM, flags and a time that continues', () => {
  const a = make();
  a.write(0x40, 0x5a);
  a.write(1, 0x33);
  a.write(0x0b, 0x42);
  a.clock.ns = 1500 * MS; // 13:45:31.750, PF pending
  a.rtc.ioWrite(0x70, 1, 0x8e);
  const saved = a.rtc.save();
  assert.equal(saved.version, 1);
  assert.equal(saved.phaseNs, 750 * MS);
  const json = JSON.parse(JSON.stringify(saved)) as Mc146818State;

  // A different machine: another base time and clock reading.
  const b = make(Date.UTC(2000, 0, 1), 77 * S);
  b.rtc.restore(json);
  assert.equal(b.irq.level, true, 'IRQF restored');
  assert.equal(b.rtc.nmiMasked, true);
  assert.equal(b.rtc.ioRead(0x71, 1), 0, 'index 0x0E restored');
  assert.deepEqual(b.time(), [0x31, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20]);
  assert.equal(b.read(0x40), 0x5a);
  assert.equal(b.read(1), 0x33);
  assert.equal(b.read(0x0c), 0xd0, 'IRQF, PF and UF restored');
  b.clock.ns = 77 * S + 250 * MS - 1;
  assert.equal(b.read(0), 0x31);
  b.clock.ns = 77 * S + 250 * MS;
  assert.equal(b.read(0), 0x32, 'the second boundary keeps its phase');

  // SET-held time survives too.
  a.write(0x0b, 0x82);
  a.write(0, 0x07);
  const heldState = a.rtc.save();
  b.rtc.restore(heldState);
  b.clock.ns += 10 * S;
  assert.equal(b.read(0), 0x07);
  b.write(0x0b, 0x02);
  assert.equal(b.read(0), 0x07);

  assert.throws(() => b.rtc.restore({ ...saved, version: 2 as 1 }), /version/);
  assert.throws(() => b.rtc.restore({ ...saved, cmos: saved.cmos.slice(1) }), /cmos/);
  assert.throws(() => b.rtc.restore({ ...saved, held: [0, 0, 0, 1, 1, 1, 2000] }), /held/);
  assert.throws(() => b.rtc.restore({ ...saved, phaseNs: S }), /phaseNs/);
  assert.throws(() => b.rtc.restore({ ...saved, flags: 0x80 }), /flags/);
  assert.equal(b.read(0x40), 0x5a, 'a failed restore changed nothing');
});
