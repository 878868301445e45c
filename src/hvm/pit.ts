/**
 * The Intel 8254 programmable interval timer (ports 0x40-0x43) and the timer
 * bits of the PC's system control port B (port 0x61).
 *
 * Design notes (behaviour follows the 8254 datasheet; Xen's vpt/i8254.c was a
 * model of behaviour only):
 *
 * - Counts are derived from elapsed virtual time, never stepped: each counter
 *   remembers when its counting element was loaded (`startNs`) and computes
 *   the CLK pulses since then at 1.193182 MHz with exact integer arithmetic.
 *   The count, OUT and the next IRQ edge all follow from "pulses since load"
 *   and the mode. When the gate stops counting (modes 0 and 4), the pulse
 *   count is frozen and `startNs` is moved on resume.
 * - Counter 0's OUT drives IRQ 0. The device only needs time for that line:
 *   `nextDeadlineNs` is counter 0's next rising OUT edge and `advance` raises
 *   it. Periodic modes (2 and 3) show each period as a low-high pulse on the
 *   line (the PIC latches rising edges); if several periods went by unseen,
 *   one edge fires and the next is scheduled from now. Counters 1 and 2 have
 *   no IRQ; counter 2's OUT is read back on port 0x61 bit 5.
 * - Gates: counters 0 and 1 have GATE tied high; counter 2's GATE is port 0x61
 *   bit 0. Port 0x61 bit 1 (speaker data) is stored, bit 4 (refresh request)
 *   toggles every 15.085 us of virtual time, bit 5 is counter 2's OUT.
 * - A count written to a counter (after its access mode's bytes are complete)
 *   is loaded at once: counting starts at the write, not at the next CLK.
 *   A count rewritten while a mode 2 or 3 counter runs waits for the end of
 *   the current period (`pendingCount`, applied lazily once the pulse count
 *   passes `pendingAt`; the new period starts at pulse `periodStart`). The
 *   datasheet switches mode 3 at the end of the current half-cycle; here it
 *   is the end of the full period.
 * - A count of 0 means 0x10000 (10000 in BCD). Counts of 1 are illegal in
 *   modes 2 and 3 per datasheet; they run as 2.
 * - Save/restore stores each counter's pulses and nanoseconds since load
 *   relative to the save time; restore rebases them on the restoring clock.
 */
import { badState, readBytes, writeBytes, type Clock, type IrqLine, type PortDevice, type Persistent, type TimedDevice } from './device.js';

/** The 8254's CLK input on the PC, in Hz. */
export const PIT_HZ = 1193182;
const NS_PER_S = 1e9;
/** DRAM refresh request period: counter 1 in mode 2 with count 18 on the PC. */
const REFRESH_PERIOD_NS = 15085;

export const PIT_COUNTER0 = 0x40;
export const PIT_CONTROL = 0x43;
export const PORT_B = 0x61;

const PORT_B_GATE2 = 0x01;
const PORT_B_SPEAKER = 0x02;
const PORT_B_WRITABLE = 0x0f;
const PORT_B_REFRESH = 0x10;
const PORT_B_OUT2 = 0x20;

/** Read/write access modes (control word bits 5-4). */
const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_LSB_MSB = 3;

/** CLK pulses in `ns` nanoseconds (floor), exact for any realistic span. */
function pulsesIn(ns: number): number {
  if (ns <= 0) return 0;
  const s = Math.floor(ns / NS_PER_S);
  const rest = ns - s * NS_PER_S;
  return s * PIT_HZ + Math.floor((rest * PIT_HZ) / NS_PER_S);
}

/** The first time (ns after load) at which `pulses` pulses have elapsed. */
function nsForPulses(pulses: number): number {
  const s = Math.floor(pulses / PIT_HZ);
  const rest = pulses - s * PIT_HZ;
  return s * NS_PER_S + Math.ceil((rest * NS_PER_S) / PIT_HZ);
}

function toBcd(n: number): number {
  return ((n / 1000) % 10 << 12) | ((n / 100) % 10 << 8) | ((n / 10) % 10 << 4) | n % 10;
}

function fromBcd(n: number): number {
  return ((n >> 12) & 0xf) * 1000 + ((n >> 8) & 0xf) * 100 + ((n >> 4) & 0xf) * 10 + (n & 0xf);
}

/** One counter's saved state; times are relative to the save. */
export interface PitCounterState {
  mode: number;
  bcd: boolean;
  rw: number;
  /** The count register as last written (0..0xffff, raw: BCD digits in BCD mode). */
  countRegister: number;
  /** A complete count has been loaded into the counting element (not "null count"). */
  loaded: boolean;
  /** Modes 1 and 5: the gate has triggered the count. */
  triggered: boolean;
  gate: boolean;
  counting: boolean;
  /** CLK pulses since the count was loaded (while not counting: the frozen value). */
  pulses: number;
  /** While counting: ns since the load time as seen by the pulse count (startNs = now - this). */
  sinceLoadNs: number;
  /** Counter 0: the pulse count of the next IRQ edge, or -1. */
  nextEdge: number;
  /** The pulse count at which the current count began (modes 2 and 3 after a deferred reload). */
  periodStart: number;
  /** A count written during a mode 2/3 period, loaded at pulse `pendingAt` (-1: none). */
  pendingCount: number;
  pendingAt: number;
  writeMsbNext: boolean;
  writeLsb: number;
  readMsbNext: boolean;
  /** Latched count (-1: none) and which byte of it comes next. */
  latchedCount: number;
  latchedMsbNext: boolean;
  /** Latched status byte (-1: none). */
  latchedStatus: number;
}

export interface PitState {
  version: 1;
  counters: PitCounterState[];
  portB: number;
}

class Counter {
  mode = 0;
  bcd = false;
  rw = RW_LSB_MSB;
  countRegister = 0;
  loaded = false;
  triggered = false;
  gate = true;
  counting = false;
  startNs = 0;
  frozenPulses = 0;
  nextEdge = -1;
  periodStart = 0;
  pendingCount = -1;
  pendingAt = 0;
  writeMsbNext = false;
  writeLsb = 0;
  readMsbNext = false;
  latchedCount = -1;
  latchedMsbNext = false;
  latchedStatus = -1;

  /** The initial count N in CLK pulses. */
  get initial(): number {
    const raw = this.bcd ? fromBcd(this.countRegister) : this.countRegister;
    let n = raw === 0 ? (this.bcd ? 10000 : 0x10000) : raw;
    if ((this.mode === 2 || this.mode === 3) && n === 1) n = 2;
    return n;
  }

  private get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  pulses(now: number): number {
    return this.counting ? pulsesIn(now - this.startNs) : this.frozenPulses;
  }

  /** Pulses since the current count began, loading a pending mode 2/3 count once its period ended. */
  sinceCount(now: number): number {
    const t = this.pulses(now);
    if (this.pendingCount >= 0 && t >= this.pendingAt) {
      this.countRegister = this.pendingCount;
      this.periodStart = this.pendingAt;
      this.pendingCount = -1;
    }
    return t - this.periodStart;
  }

  /** The counting element's value now (binary, before BCD encoding). */
  value(now: number): number {
    if (!this.loaded || ((this.mode === 1 || this.mode === 5) && !this.triggered)) {
      return this.bcd ? fromBcd(this.countRegister) % 10000 : this.countRegister;
    }
    const t = this.sinceCount(now);
    const n = this.initial;
    switch (this.mode) {
      case 2:
        return (n - (t % n)) % this.modulus;
      case 3: {
        const p = t % n;
        const high = Math.ceil(n / 2);
        if (p < high) return p === 0 ? n % this.modulus : (n & 1 ? n + 1 - 2 * p : n - 2 * p);
        const q = p - high;
        return q === 0 ? n % this.modulus : (n & 1 ? n - 1 - 2 * q : n - 2 * q);
      }
      default: // modes 0, 1, 4, 5 count down and wrap
        return (((n - t) % this.modulus) + this.modulus) % this.modulus;
    }
  }

  /** The OUT pin now. */
  out(now: number): boolean {
    if (!this.loaded) return this.mode !== 0;
    const t = this.sinceCount(now);
    const n = this.initial;
    switch (this.mode) {
      case 0:
        return t >= n;
      case 1:
        return !this.triggered || t >= n;
      case 2:
        return !this.gate || t % n !== n - 1;
      case 3:
        return !this.gate || t % n < Math.ceil(n / 2);
      case 4:
        return t !== n;
      default: // 5
        return !this.triggered || t !== n;
    }
  }

  /** The next rising OUT edge after `t` pulses since load (modes that have one), or -1. */
  edgeAfter(t: number): number {
    if (!this.loaded || !this.counting) return -1;
    const n = this.initial;
    switch (this.mode) {
      case 0:
      case 1:
        return t < n ? n : -1;
      case 2:
      case 3:
        if (this.pendingCount >= 0 && t < this.pendingAt) return this.pendingAt;
        return this.periodStart + (Math.floor((t - this.periodStart) / n) + 1) * n;
      default: // 4, 5: low for the pulse at terminal count, high again one later
        return t < n + 1 ? n + 1 : -1;
    }
  }

  startCounting(now: number, fromPulses: number): void {
    this.counting = true;
    this.startNs = now - nsForPulses(fromPulses);
  }

  stopCounting(now: number): void {
    this.frozenPulses = this.pulses(now);
    this.counting = false;
  }

  /** Does the gate let this mode count? */
  private gateAllowsCounting(): boolean {
    switch (this.mode) {
      case 1:
      case 5:
        return this.triggered;
      default:
        return this.gate;
    }
  }

  writeControl(value: number): void {
    this.mode = (value >> 1) & 7;
    if (this.mode > 5) this.mode -= 4; // 6 and 7 are aliases of 2 and 3
    this.bcd = (value & 1) !== 0;
    this.rw = (value >> 4) & 3;
    this.loaded = false;
    this.triggered = false;
    this.counting = false;
    this.frozenPulses = 0;
    this.nextEdge = -1;
    this.periodStart = 0;
    this.pendingCount = -1;
    this.writeMsbNext = false;
    this.readMsbNext = false;
    this.latchedCount = -1;
    this.latchedStatus = -1;
  }

  writeCount(now: number, byte: number): void {
    switch (this.rw) {
      case RW_LSB:
        this.load(now, byte);
        break;
      case RW_MSB:
        this.load(now, byte << 8);
        break;
      default:
        if (!this.writeMsbNext) {
          this.writeLsb = byte;
          this.writeMsbNext = true;
          // Mode 0: writing the first byte stops counting and sets OUT low.
          if (this.mode === 0 && this.loaded) {
            this.stopCounting(now);
            this.loaded = false;
            this.nextEdge = -1;
          }
        } else {
          this.writeMsbNext = false;
          this.load(now, this.writeLsb | (byte << 8));
        }
        break;
    }
  }

  private load(now: number, count: number): void {
    if ((this.mode === 2 || this.mode === 3) && this.loaded && this.counting) {
      // The current period runs out first; the new count starts the next one.
      const since = this.sinceCount(now);
      this.pendingCount = count;
      this.pendingAt = this.periodStart + (Math.floor(since / this.initial) + 1) * this.initial;
      return;
    }
    this.countRegister = count;
    this.periodStart = 0;
    this.pendingCount = -1;
    this.loaded = true;
    if ((this.mode === 1 || this.mode === 5) && !this.triggered) {
      this.counting = false;
      this.frozenPulses = 0;
      this.nextEdge = -1;
      return;
    }
    this.frozenPulses = 0;
    if (this.gateAllowsCounting()) this.startCounting(now, 0);
    else this.counting = false;
    this.nextEdge = this.edgeAfter(0);
  }

  setGate(now: number, level: boolean): void {
    if (level === this.gate) return;
    const rising = level && !this.gate;
    this.gate = level;
    switch (this.mode) {
      case 0:
      case 4:
        if (!this.loaded) break;
        if (level) this.startCounting(now, this.frozenPulses);
        else this.stopCounting(now);
        this.nextEdge = this.edgeAfter(this.pulses(now));
        break;
      case 2:
      case 3:
        if (!this.loaded) break;
        if (rising) {
          if (this.pendingCount >= 0) this.countRegister = this.pendingCount;
          this.pendingCount = -1;
          this.periodStart = 0;
          this.frozenPulses = 0;
          this.startCounting(now, 0); // a rising gate reloads the count
        } else {
          this.stopCounting(now);
        }
        this.nextEdge = this.edgeAfter(this.pulses(now));
        break;
      default: // 1, 5: a rising gate (re)triggers
        if (rising && this.loaded) {
          this.triggered = true;
          this.frozenPulses = 0;
          this.startCounting(now, 0);
          this.nextEdge = this.edgeAfter(0);
        }
        break;
    }
  }

  latchCount(now: number): void {
    if (this.latchedCount >= 0) return; // a second latch before the read is ignored
    const v = this.value(now);
    this.latchedCount = this.bcd ? toBcd(v) : v;
    this.latchedMsbNext = false;
  }

  latchStatus(now: number): void {
    if (this.latchedStatus >= 0) return;
    const out = this.out(now); // (also loads a pending count that is due)
    const nullCount = !this.loaded || this.pendingCount >= 0;
    this.latchedStatus =
      (out ? 0x80 : 0) | (nullCount ? 0x40 : 0) | (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  readByte(now: number): number {
    if (this.latchedStatus >= 0) {
      const s = this.latchedStatus;
      this.latchedStatus = -1;
      return s;
    }
    if (this.latchedCount >= 0) {
      const c = this.latchedCount;
      switch (this.rw) {
        case RW_LSB:
          this.latchedCount = -1;
          return c & 0xff;
        case RW_MSB:
          this.latchedCount = -1;
          return c >> 8;
        default:
          if (!this.latchedMsbNext) {
            this.latchedMsbNext = true;
            return c & 0xff;
          }
          this.latchedCount = -1;
          this.latchedMsbNext = false;
          return c >> 8;
      }
    }
    const v = this.value(now);
    const c = this.bcd ? toBcd(v) : v;
    switch (this.rw) {
      case RW_LSB:
        return c & 0xff;
      case RW_MSB:
        return c >> 8;
      default:
        this.readMsbNext = !this.readMsbNext;
        return this.readMsbNext ? c & 0xff : c >> 8;
    }
  }

  save(now: number): PitCounterState {
    return {
      mode: this.mode, bcd: this.bcd, rw: this.rw, countRegister: this.countRegister, loaded: this.loaded,
      triggered: this.triggered, gate: this.gate, counting: this.counting, pulses: this.pulses(now),
      sinceLoadNs: this.counting ? now - this.startNs : 0, nextEdge: this.nextEdge,
      periodStart: this.periodStart, pendingCount: this.pendingCount, pendingAt: this.pendingAt,
      writeMsbNext: this.writeMsbNext, writeLsb: this.writeLsb, readMsbNext: this.readMsbNext,
      latchedCount: this.latchedCount, latchedMsbNext: this.latchedMsbNext, latchedStatus: this.latchedStatus,
    };
  }

  restore(now: number, s: PitCounterState): void {
    this.mode = s.mode;
    this.bcd = s.bcd;
    this.rw = s.rw;
    this.countRegister = s.countRegister;
    this.loaded = s.loaded;
    this.triggered = s.triggered;
    this.gate = s.gate;
    this.counting = s.counting;
    this.frozenPulses = s.counting ? 0 : s.pulses;
    this.startNs = now - s.sinceLoadNs;
    this.nextEdge = s.nextEdge;
    this.periodStart = s.periodStart;
    this.pendingCount = s.pendingCount;
    this.pendingAt = s.pendingAt;
    this.writeMsbNext = s.writeMsbNext;
    this.writeLsb = s.writeLsb;
    this.readMsbNext = s.readMsbNext;
    this.latchedCount = s.latchedCount;
    this.latchedMsbNext = s.latchedMsbNext;
    this.latchedStatus = s.latchedStatus;
  }
}

function isInt(v: unknown, lo: number, hi: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function validateCounter(raw: unknown, i: number): PitCounterState {
  const name = `counters[${i}]`;
  if (typeof raw !== 'object' || raw === null) badState('pit', `${name} is not an object`);
  const r = raw as Record<string, unknown>;
  const ints: [keyof PitCounterState, number, number][] = [
    ['mode', 0, 5], ['rw', 1, 3], ['countRegister', 0, 0xffff], ['pulses', 0, Number.MAX_SAFE_INTEGER],
    ['sinceLoadNs', 0, Number.MAX_SAFE_INTEGER], ['nextEdge', -1, Number.MAX_SAFE_INTEGER], ['writeLsb', 0, 0xff],
    ['periodStart', 0, Number.MAX_SAFE_INTEGER], ['pendingCount', -1, 0xffff], ['pendingAt', 0, Number.MAX_SAFE_INTEGER],
    ['latchedCount', -1, 0xffff], ['latchedStatus', -1, 0xff],
  ];
  for (const [f, lo, hi] of ints) {
    if (!isInt(r[f], lo, hi)) badState('pit', `${name}.${f} out of range`);
  }
  for (const f of ['bcd', 'loaded', 'triggered', 'gate', 'counting', 'writeMsbNext', 'readMsbNext', 'latchedMsbNext'] as const) {
    if (typeof r[f] !== 'boolean') badState('pit', `${name}.${f} is not a boolean`);
  }
  const s = raw as PitCounterState;
  if (s.counting && pulsesIn(s.sinceLoadNs) !== s.pulses) badState('pit', `${name}.pulses disagrees with sinceLoadNs`);
  return {
    mode: s.mode, bcd: s.bcd, rw: s.rw, countRegister: s.countRegister, loaded: s.loaded, triggered: s.triggered,
    gate: s.gate, counting: s.counting, pulses: s.pulses, sinceLoadNs: s.sinceLoadNs, nextEdge: s.nextEdge,
    periodStart: s.periodStart, pendingCount: s.pendingCount, pendingAt: s.pendingAt,
    writeMsbNext: s.writeMsbNext, writeLsb: s.writeLsb, readMsbNext: s.readMsbNext, latchedCount: s.latchedCount,
    latchedMsbNext: s.latchedMsbNext, latchedStatus: s.latchedStatus,
  };
}

/** The 8254 with counter 0 on IRQ 0 and counter 2 behind port 0x61. */
export class Pit8254 implements PortDevice, TimedDevice, Persistent<PitState> {
  private readonly counters = [new Counter(), new Counter(), new Counter()];
  /** Port 0x61 bits 0-3 as written. */
  private portB = 0;

  constructor(private readonly clock: Clock, private readonly irq0: IrqLine) {
    this.counters[2].gate = false; // port 0x61 bit 0 starts clear
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => this.readByte(p));
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    writeBytes(port, size, value, (p, b) => this.writeByte(p, b));
  }

  private readByte(port: number): number {
    const now = this.clock.nowNs();
    if (port >= PIT_COUNTER0 && port < PIT_CONTROL) return this.counters[port - PIT_COUNTER0].readByte(now);
    if (port === PORT_B) {
      const refresh = Math.floor(now / REFRESH_PERIOD_NS) & 1 ? PORT_B_REFRESH : 0;
      return this.portB | refresh | (this.counters[2].out(now) ? PORT_B_OUT2 : 0);
    }
    return 0xff; // the control register cannot be read
  }

  private writeByte(port: number, value: number): void {
    const now = this.clock.nowNs();
    if (port >= PIT_COUNTER0 && port < PIT_CONTROL) {
      const c = this.counters[port - PIT_COUNTER0];
      c.writeCount(now, value);
      if (port === PIT_COUNTER0) this.syncIrq0(now);
    } else if (port === PIT_CONTROL) {
      this.writeControl(now, value);
    } else if (port === PORT_B) {
      this.portB = value & PORT_B_WRITABLE;
      this.counters[2].setGate(now, (value & PORT_B_GATE2) !== 0);
    }
  }

  private writeControl(now: number, value: number): void {
    const select = value >> 6;
    if (select === 3) {
      // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits 3-1 pick counters 2-0.
      for (let i = 0; i < 3; i++) {
        if (!(value & (2 << i))) continue;
        if (!(value & 0x10)) this.counters[i].latchStatus(now);
        if (!(value & 0x20)) this.counters[i].latchCount(now);
      }
      return;
    }
    const c = this.counters[select];
    if (((value >> 4) & 3) === RW_LATCH) {
      c.latchCount(now);
      return;
    }
    c.writeControl(value);
    if (select === 0) this.syncIrq0(now);
  }

  /**
   * IRQ 0 after a control word or count write: counter 0's OUT (low in mode 0 until
   * terminal count; high in the other modes, whose low pulses `advance` shows).
   */
  private syncIrq0(now: number): void {
    const c = this.counters[0];
    this.irq0.set(c.mode === 0 ? c.out(now) : true);
  }

  /** Speaker state for a future audio device: gate and data bits of port 0x61 and counter 2's OUT. */
  speaker(): { gate: boolean; data: boolean; out: boolean } {
    return {
      gate: (this.portB & PORT_B_GATE2) !== 0,
      data: (this.portB & PORT_B_SPEAKER) !== 0,
      out: this.counters[2].out(this.clock.nowNs()),
    };
  }

  nextDeadlineNs(): number {
    const c = this.counters[0];
    if (c.nextEdge < 0 || !c.counting) return Infinity;
    return c.startNs + nsForPulses(c.nextEdge);
  }

  advance(nowNs: number): void {
    const c = this.counters[0];
    if (c.nextEdge < 0 || !c.counting) return;
    const t = c.pulses(nowNs);
    if (t < c.nextEdge) return;
    c.sinceCount(nowNs); // load a pending mode 2/3 count whose period just ended
    if (c.mode === 0 || c.mode === 1) {
      this.irq0.set(true);
    } else {
      this.irq0.set(false);
      this.irq0.set(true);
    }
    // One edge for however many periods went by; the next one is after now.
    c.nextEdge = c.edgeAfter(t);
  }

  save(): PitState {
    const now = this.clock.nowNs();
    return { version: 1, counters: this.counters.map((c) => c.save(now)), portB: this.portB };
  }

  restore(state: PitState): void {
    const raw = state as unknown;
    if (typeof raw !== 'object' || raw === null) badState('pit', 'not an object');
    const r = raw as Record<string, unknown>;
    if (r.version !== 1) badState('pit', `unsupported version ${String(r.version)}`);
    if (!Array.isArray(r.counters) || r.counters.length !== 3) badState('pit', 'counters is not an array of 3');
    const counters = (r.counters as unknown[]).map(validateCounter);
    if (!isInt(r.portB, 0, PORT_B_WRITABLE)) badState('pit', 'portB out of range');
    const now = this.clock.nowNs();
    counters.forEach((s, i) => this.counters[i].restore(now, s));
    this.portB = r.portB as number;
    this.syncIrq0(now);
  }
}
