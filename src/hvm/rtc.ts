/**
 * The Motorola MC146818 real-time clock and CMOS RAM of the PC (ports 0x70/0x71, IRQ 8).
 *
 * Design notes:
 * - Port 0x70 selects a CMOS register with bits 6:0; bit 7 is the PC's NMI mask,
 *   which is remembered (`nmiMasked`) but never takes part in indexing. Port 0x71
 *   reads and writes the selected register.
 * - Time is guest epoch seconds = `originSec` + whole seconds elapsed on the
 *   virtual clock since `originNs`. `originNs` is also the phase of the divider
 *   chain: update cycles happen at `originNs + k * 1 s`, and periodic
 *   interrupts at multiples of their period of 32.768 kHz cycles from it. The
 *   starting time is the wall-clock base given at construction.
 * - While SET (register B) is 1, or the divider is held in reset (register A
 *   DV2:DV1 = 11), the time registers are frozen in `held` and guest writes go
 *   there; when the clock runs again the held time becomes the new origin. As
 *   on the real part, clearing SET keeps the divider phase, and leaving divider
 *   reset puts the first update 500 ms later.
 * - The time registers are kept as binary fields; register B's DM and 24/12
 *   bits choose their encoding on each read and write. Register 0x32 (century)
 *   counts with the year, in the same encoding.
 * - Flags in register C (PF, AF, UF) are computed lazily when the device is
 *   touched or advanced, so the machine only needs a deadline for events whose
 *   interrupt is enabled. IRQ 8 follows IRQF and drops when C is read.
 * - UIP reads 1 during the 244 µs before each update; the update itself is
 *   instantaneous.
 * - Not modelled: daylight-saving switching (DSE is stored only), the square
 *   wave output, and the day-of-week register counting independently from the
 *   date (it is derived from the date).
 */
import { badState, type Clock, type IrqLine, type Persistent, type PortDevice, type TimedDevice } from './device.js';

export const RTC_INDEX_PORT = 0x70;
export const RTC_DATA_PORT = 0x71;
export const RTC_IRQ = 8;

/** CMOS register numbers. */
export const REG_SECONDS = 0x00;
export const REG_SECONDS_ALARM = 0x01;
export const REG_MINUTES = 0x02;
export const REG_MINUTES_ALARM = 0x03;
export const REG_HOURS = 0x04;
export const REG_HOURS_ALARM = 0x05;
export const REG_DAY_OF_WEEK = 0x06;
export const REG_DAY_OF_MONTH = 0x07;
export const REG_MONTH = 0x08;
export const REG_YEAR = 0x09;
export const REG_A = 0x0a;
export const REG_B = 0x0b;
export const REG_C = 0x0c;
export const REG_D = 0x0d;
export const REG_CENTURY = 0x32;

/** Register A. */
const A_UIP = 0x80;
const A_DV_RESET = 0x60; // DV2:DV1 = 11 holds the divider chain in reset
const A_RS = 0x0f;
/** Register B. */
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM = 0x04; // 1 = binary
const B_24H = 0x02;
/** Register C. */
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
/** Register D. */
const D_VRT = 0x80;

const NS_PER_S = 1e9;
/** 32.768 kHz cycles per second, and nanoseconds per 32.768 kHz cycle = 1953125 / 64. */
const CYCLES_PER_S = 32768;
/** UIP is set this long before each update. */
const UIP_LEAD_NS = 244_000;
/** Alarm bytes with both top bits set match any value. */
const ALARM_DONT_CARE = 0xc0;

/** A broken-down time in binary; `year` is the full year (century included). */
interface TimeFields {
  sec: number;
  min: number;
  hour: number; // 0-23
  dow: number; // 1 = Sunday
  dom: number;
  mon: number; // 1-12
  year: number;
}

/** Saved state of the RTC. */
export interface Mc146818State {
  device: 'mc146818';
  version: 1;
  index: number;
  nmiMasked: boolean;
  /** The 128 bytes of CMOS RAM as stored (time registers and register C/D are not meaningful here). */
  cmos: number[];
  /** Pending PF/AF/UF flags of register C. */
  flags: number;
  /** Guest time (epoch seconds) at the save. */
  guestSec: number;
  /** Position inside the current second of the divider chain (ns), so time continues smoothly. */
  phaseNs: number;
  /** The frozen time registers while SET or divider reset holds the clock, else null. */
  held: [number, number, number, number, number, number, number] | null;
}

function toBcd(v: number): number {
  return (Math.floor(v / 10) % 10) * 16 + (v % 10);
}

function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0x0f);
}

function fieldsFromEpoch(sec: number): TimeFields {
  const d = new Date(sec * 1000);
  return {
    sec: d.getUTCSeconds(),
    min: d.getUTCMinutes(),
    hour: d.getUTCHours(),
    dow: d.getUTCDay() + 1,
    dom: d.getUTCDate(),
    mon: d.getUTCMonth() + 1,
    year: d.getUTCFullYear(),
  };
}

function epochFromFields(f: TimeFields): number {
  const d = new Date(0);
  d.setUTCFullYear(f.year, f.mon - 1, f.dom);
  d.setUTCHours(f.hour, f.min, f.sec, 0);
  const ms = d.getTime();
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

/** Periodic interrupt period in 32.768 kHz cycles for rate select RS3:0 (0 = off). */
function periodCycles(rate: number): number {
  if (rate === 0) return 0;
  if (rate <= 2) return 1 << (rate + 6); // 1: 3.90625 ms, 2: 7.8125 ms
  return 1 << (rate - 1); // 32768 >> (rate - 1) Hz
}

export class Mc146818Rtc implements PortDevice, TimedDevice, Persistent<Mc146818State> {
  /** Bit 7 of the last write to port 0x70 (the PC's NMI mask). */
  nmiMasked = false;

  private index = 0;
  private readonly cmos = new Uint8Array(128);
  private flags = 0;
  private originSec: number;
  private originNs: number;
  private held: TimeFields | null = null;
  /** Virtual time up to which flags have been computed. */
  private lastNs: number;
  private irqLevel = false;

  /**
   * @param irq IRQ 8
   * @param clock the machine's virtual clock
   * @param baseTimeMs the wall-clock time (ms since the Unix epoch, UTC) at virtual time 0
   */
  constructor(
    private readonly irq: IrqLine,
    private readonly clock: Clock,
    baseTimeMs: number,
  ) {
    this.originSec = Math.floor(baseTimeMs / 1000);
    // The current second started this long before virtual time 0 (kept small: epoch ns exceed 2^53).
    this.originNs = -Math.round((baseTimeMs - this.originSec * 1000) * 1e6);
    this.cmos[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate
    this.cmos[REG_B] = B_24H; // BCD, 24-hour
    this.lastNs = clock.nowNs();
  }

  // ---- direct NVRAM access for firmware setup (memory size, equipment bytes...) ----

  readNvram(index: number): number {
    return this.cmos[index & 0x7f];
  }

  writeNvram(index: number, value: number): void {
    this.cmos[index & 0x7f] = value;
  }

  /** The guest's current time as epoch seconds (held time while SET is set). */
  guestTimeSec(): number {
    return this.held ? epochFromFields(this.held) : this.runningSec(this.clock.nowNs());
  }

  // ---- port I/O ----

  ioRead(port: number, _size: 1 | 2 | 4): number {
    if (port !== RTC_DATA_PORT) return 0xff; // the index register is write-only
    this.catchUp(this.clock.nowNs());
    return this.readRegister(this.index);
  }

  ioWrite(port: number, _size: 1 | 2 | 4, value: number): void {
    value &= 0xff;
    if (port === RTC_INDEX_PORT) {
      this.index = value & 0x7f;
      this.nmiMasked = (value & 0x80) !== 0;
      return;
    }
    if (port !== RTC_DATA_PORT) return;
    this.catchUp(this.clock.nowNs());
    this.writeRegister(this.index, value);
    this.updateIrq();
  }

  // ---- time ----

  nextDeadlineNs(): number {
    if (this.irqLevel) return Infinity; // IRQF stays set until register C is read
    const b = this.cmos[REG_B];
    let next = Infinity;
    const now = Math.max(this.lastNs, this.clock.nowNs());
    if (b & B_PIE && !this.dividerReset()) {
      const period = periodCycles(this.cmos[REG_A] & A_RS);
      if (period) next = this.nsOfCycle((Math.floor(this.cyclesAt(now) / period) + 1) * period);
    }
    if (b & (B_UIE | B_AIE) && this.clockRunning()) {
      next = Math.min(next, this.nextUpdateNs(now));
    }
    return next;
  }

  advance(nowNs: number): void {
    this.catchUp(nowNs);
    this.updateIrq();
  }

  // ---- registers ----

  private readRegister(reg: number): number {
    switch (reg) {
      case REG_SECONDS:
      case REG_MINUTES:
      case REG_HOURS:
      case REG_DAY_OF_WEEK:
      case REG_DAY_OF_MONTH:
      case REG_MONTH:
      case REG_YEAR:
      case REG_CENTURY:
        return this.readTimeRegister(reg);
      case REG_A:
        return (this.cmos[REG_A] & ~A_UIP) | (this.updateInProgress() ? A_UIP : 0);
      case REG_C: {
        const value = this.flags | (this.irqf() ? C_IRQF : 0);
        this.flags = 0;
        this.updateIrq();
        return value;
      }
      case REG_D:
        return D_VRT;
      default:
        return this.cmos[reg];
    }
  }

  private writeRegister(reg: number, value: number): void {
    switch (reg) {
      case REG_SECONDS:
      case REG_MINUTES:
      case REG_HOURS:
      case REG_DAY_OF_WEEK:
      case REG_DAY_OF_MONTH:
      case REG_MONTH:
      case REG_YEAR:
      case REG_CENTURY:
        this.writeTimeRegister(reg, value);
        break;
      case REG_A:
        this.writeA(value);
        break;
      case REG_B:
        this.writeB(value);
        break;
      case REG_C:
      case REG_D:
        break; // read-only
      default:
        this.cmos[reg] = value;
    }
  }

  private writeA(value: number): void {
    const wasReset = this.dividerReset();
    const wasRunning = this.clockRunning();
    if (wasRunning) this.freeze();
    this.cmos[REG_A] = value & ~A_UIP;
    const now = this.clock.nowNs();
    if (wasReset && !this.dividerReset()) {
      // Leaving divider reset: the first update comes 500 ms later.
      this.originNs = now + NS_PER_S / 2 - NS_PER_S;
      this.lastNs = now;
    }
    if (this.clockRunning()) this.thaw();
  }

  private writeB(value: number): void {
    const wasRunning = this.clockRunning();
    if (value & B_SET) value &= ~B_UIE; // setting SET clears UIE
    if (wasRunning) this.freeze();
    this.cmos[REG_B] = value;
    if (this.clockRunning()) this.thaw();
  }

  private readTimeRegister(reg: number): number {
    const f = this.held ?? fieldsFromEpoch(this.runningSec(this.clock.nowNs()));
    switch (reg) {
      case REG_SECONDS:
        return this.encode(f.sec);
      case REG_MINUTES:
        return this.encode(f.min);
      case REG_HOURS:
        return this.encodeHour(f.hour);
      case REG_DAY_OF_WEEK:
        return this.encode(f.dow);
      case REG_DAY_OF_MONTH:
        return this.encode(f.dom);
      case REG_MONTH:
        return this.encode(f.mon);
      case REG_YEAR:
        return this.encode(((f.year % 100) + 100) % 100);
      default:
        return this.encode(Math.floor(f.year / 100));
    }
  }

  private writeTimeRegister(reg: number, value: number): void {
    const running = this.clockRunning();
    if (running) this.freeze();
    const f = this.held as TimeFields;
    const v = this.decode(value);
    switch (reg) {
      case REG_SECONDS:
        f.sec = v;
        break;
      case REG_MINUTES:
        f.min = v;
        break;
      case REG_HOURS:
        f.hour = this.decodeHour(value);
        break;
      case REG_DAY_OF_WEEK:
        f.dow = v;
        break;
      case REG_DAY_OF_MONTH:
        f.dom = v;
        break;
      case REG_MONTH:
        f.mon = v;
        break;
      case REG_YEAR:
        f.year = Math.floor(f.year / 100) * 100 + v;
        break;
      default:
        f.year = v * 100 + (f.year % 100);
    }
    if (running) this.thaw();
  }

  private binaryMode(): boolean {
    return (this.cmos[REG_B] & B_DM) !== 0;
  }

  private encode(v: number): number {
    return this.binaryMode() ? v & 0xff : toBcd(v);
  }

  private decode(v: number): number {
    return this.binaryMode() ? v : fromBcd(v);
  }

  private encodeHour(hour: number): number {
    if (this.cmos[REG_B] & B_24H) return this.encode(hour);
    const pm = hour >= 12;
    const h12 = hour % 12 === 0 ? 12 : hour % 12;
    return this.encode(h12) | (pm ? 0x80 : 0);
  }

  private decodeHour(value: number): number {
    if (this.cmos[REG_B] & B_24H) return this.decode(value);
    const h12 = this.decode(value & 0x7f) % 12;
    return h12 + (value & 0x80 ? 12 : 0);
  }

  // ---- the clock ----

  private dividerReset(): boolean {
    return (this.cmos[REG_A] & A_DV_RESET) === A_DV_RESET;
  }

  private clockRunning(): boolean {
    return !(this.cmos[REG_B] & B_SET) && !this.dividerReset();
  }

  /** Whole seconds the divider chain has counted since the origin at `ns`. */
  private secondsSinceOrigin(ns: number): number {
    return Math.floor((ns - this.originNs) / NS_PER_S);
  }

  private runningSec(ns: number): number {
    return this.originSec + this.secondsSinceOrigin(ns);
  }

  private nextUpdateNs(ns: number): number {
    return this.originNs + (this.secondsSinceOrigin(ns) + 1) * NS_PER_S;
  }

  /** 32.768 kHz cycles since the divider origin, computed exactly in integers. */
  private cyclesAt(ns: number): number {
    const d = ns - this.originNs;
    const s = Math.floor(d / NS_PER_S);
    const r = d - s * NS_PER_S;
    return s * CYCLES_PER_S + Math.floor((r * 64) / 1953125);
  }

  /** The first virtual time at which the divider has counted `cycles`. */
  private nsOfCycle(cycles: number): number {
    const s = Math.floor(cycles / CYCLES_PER_S);
    const c = cycles - s * CYCLES_PER_S;
    return this.originNs + s * NS_PER_S + Math.ceil((c * 1953125) / 64);
  }

  /** Stop the clock: the time registers now hold the current time. */
  private freeze(): void {
    this.held = fieldsFromEpoch(this.runningSec(this.clock.nowNs()));
  }

  /** Restart the clock from the held time, keeping the divider phase. */
  private thaw(): void {
    if (!this.held) return;
    this.originSec = epochFromFields(this.held) - this.secondsSinceOrigin(this.clock.nowNs());
    this.held = null;
  }

  private updateInProgress(): boolean {
    if (!this.clockRunning()) return false;
    const now = this.clock.nowNs();
    return this.nextUpdateNs(now) - now <= UIP_LEAD_NS;
  }

  /** Set the flags for everything that happened in (lastNs, nowNs]. */
  private catchUp(nowNs: number): void {
    const last = this.lastNs;
    if (nowNs <= last) return;
    this.lastNs = nowNs;
    if (this.dividerReset()) return;
    const period = periodCycles(this.cmos[REG_A] & A_RS);
    if (period && Math.floor(this.cyclesAt(nowNs) / period) > Math.floor(this.cyclesAt(last) / period)) {
      this.flags |= C_PF;
    }
    if (!this.clockRunning()) return;
    const first = this.secondsSinceOrigin(last) + 1;
    const end = this.secondsSinceOrigin(nowNs);
    if (end < first) return;
    this.flags |= C_UF;
    // The alarm compares seconds, minutes and hours only, so one day of updates covers every case.
    for (let k = Math.max(first, end - 86399); k <= end && !(this.flags & C_AF); k++) {
      if (this.alarmMatches(fieldsFromEpoch(this.originSec + k))) this.flags |= C_AF;
    }
  }

  private alarmMatches(f: TimeFields): boolean {
    const match = (alarm: number, current: number) => (alarm & ALARM_DONT_CARE) === ALARM_DONT_CARE || alarm === current;
    return (
      match(this.cmos[REG_SECONDS_ALARM], this.encode(f.sec)) &&
      match(this.cmos[REG_MINUTES_ALARM], this.encode(f.min)) &&
      match(this.cmos[REG_HOURS_ALARM], this.encodeHour(f.hour))
    );
  }

  private irqf(): boolean {
    const b = this.cmos[REG_B];
    return ((b & B_PIE && this.flags & C_PF) || (b & B_AIE && this.flags & C_AF) || (b & B_UIE && this.flags & C_UF)) !== 0;
  }

  private updateIrq(force = false): void {
    const level = this.irqf();
    if (level !== this.irqLevel || force) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- save/restore ----

  save(): Mc146818State {
    const now = this.clock.nowNs();
    this.catchUp(now);
    const h = this.held;
    return {
      device: 'mc146818',
      version: 1,
      index: this.index,
      nmiMasked: this.nmiMasked,
      cmos: Array.from(this.cmos),
      flags: this.flags,
      guestSec: this.runningSec(now),
      phaseNs: now - this.originNs - this.secondsSinceOrigin(now) * NS_PER_S,
      held: h ? [h.sec, h.min, h.hour, h.dow, h.dom, h.mon, h.year] : null,
    };
  }

  restore(state: Mc146818State): void {
    const name = 'mc146818';
    const s = state as unknown as Record<string, unknown>;
    if (typeof s !== 'object' || s === null) badState(name, 'not an object');
    if (s.device !== name) badState(name, `device is ${String(s.device)}`);
    if (s.version !== 1) badState(name, `unsupported version ${String(s.version)}`);
    const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
    if (!isInt(s.index) || s.index < 0 || s.index > 0x7f) badState(name, 'bad index');
    if (typeof s.nmiMasked !== 'boolean') badState(name, 'bad nmiMasked');
    const cmos = s.cmos;
    if (!Array.isArray(cmos) || cmos.length !== 128 || !cmos.every((b) => isInt(b) && b >= 0 && b <= 0xff)) {
      badState(name, 'bad cmos');
    }
    if (!isInt(s.flags) || (s.flags & ~(C_PF | C_AF | C_UF)) !== 0) badState(name, 'bad flags');
    if (!isInt(s.guestSec)) badState(name, 'bad guestSec');
    const phase = s.phaseNs;
    if (typeof phase !== 'number' || !(phase >= 0 && phase < NS_PER_S)) badState(name, 'bad phaseNs');
    const held = s.held;
    if (held !== null && (!Array.isArray(held) || held.length !== 7 || !held.every(isInt))) badState(name, 'bad held');
    const bytes = cmos as number[];
    const running = !(bytes[REG_B] & B_SET) && (bytes[REG_A] & A_DV_RESET) !== A_DV_RESET;
    if (running !== (held === null)) badState(name, 'held time must be present exactly when SET or divider reset stops the clock');

    const now = this.clock.nowNs();
    this.index = s.index;
    this.nmiMasked = s.nmiMasked;
    this.cmos.set(bytes);
    this.flags = s.flags;
    this.originSec = s.guestSec;
    this.originNs = now - phase;
    const h = held;
    this.held = h ? { sec: h[0], min: h[1], hour: h[2], dow: h[3], dom: h[4], mon: h[5], year: h[6] } : null;
    this.lastNs = now;
    this.updateIrq(true);
  }
}
