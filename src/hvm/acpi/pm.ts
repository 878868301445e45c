/**
 * ACPI fixed hardware of the platform (ACPI 6.x chapter 4.8): the PM1a event
 * block (PM1_STS, PM1_EN), the PM1a control block (PM1_CNT), the power
 * management timer (PM_TMR) and the GPE0 block, raising the SCI.
 *
 * Design notes:
 * - Ports default to Xen's HVM layout version 1 (xen/include/public/hvm/
 *   ioreq.h, HVM_PARAM_ACPI_IOPORTS_LOCATION = 1, the one QEMU-upstream
 *   device models and PVH use): PM1a_EVT_BLK 0xB000 (4 bytes), PM1a_CNT_BLK
 *   0xB004 (2 bytes), PM_TMR_BLK 0xB008 (4 bytes), GPE0_BLK 0xAFE0 (4
 *   bytes). The version 0 layout (0x1F40...) is exported too. tables.ts
 *   describes the same ports in the FADT.
 * - Every register is decoded bytewise, so any access size at any offset
 *   works (ACPICA reads PM1 status and enable as 16-bit halves of the event
 *   block and GPE registers a byte at a time). A multi-byte read of PM_TMR is
 *   one snapshot of the counter.
 * - The hardware is always in ACPI mode: the FADT has no SMI command port,
 *   SCI_EN reads 1 and cannot be cleared. BM_RLD and SLP_TYP are stored;
 *   GBL_RLS and SLP_EN are write-only (read 0). There is no BIOS, so GBL_STS
 *   is never set by the platform.
 * - PM_TMR is a free-running 32-bit counter (the FADT sets TMR_VAL_EXT) at
 *   3.579545 MHz: floor(t * 3579545 / 1e9) mod 2^32 for `t` = the clock's
 *   nanoseconds (0 when the machine was created), computed exactly (whole seconds and the remainder
 *   separately, so no product exceeds 2^53). Writes are ignored.
 * - TMR_STS is set whenever bit 31 of the counter changes, i.e. every 2^31
 *   ticks (about 600 s), whether or not TMR_EN is set; it is computed lazily
 *   when the registers are touched. The device only asks for time
 *   (`nextDeadlineNs`) while TMR_EN is set and TMR_STS is clear: then the
 *   next bit-31 change is due, and `advance` sets TMR_STS and raises the SCI.
 * - Status bits are write-1-to-clear. The SCI is a level: high while any
 *   of TMR, GBL, PWRBTN, SLPBTN, RTC status is set together with its enable
 *   bit in PM1_EN, or any GPE0 status bit with its enable bit. (BM_STS,
 *   PCIEXP_WAKE_STS and WAK_STS never cause an SCI.) The line is driven only
 *   when its level changes.
 * - Writing SLP_EN calls `onSleep(SLP_TYP)`. For `SLP_TYP_S5` the machine is
 *   expected to power off. Any other type is a sleep that wakes at once:
 *   WAK_STS is set after `onSleep` returns, as firmware that resumed would
 *   leave it (ACPICA waits for WAK_STS after entering a sleep state). The
 *   DSDT only offers \_S0 and \_S5, so a guest asks for nothing else.
 * - `pressPowerButton()` sets PWRBTN_STS (the fixed power button: the FADT
 *   leaves PWR_BUTTON clear), `setGpe(n)` sets GPE0 status bit n (for
 *   events a future platform device signals, e.g. hotplug).
 * - Save/restore keeps the registers and the timer's 32-bit value and phase
 *   within the current tick; restore rebases the counter on the restoring
 *   clock so it continues from the saved value.
 */
import { badState, readBytes, writeBytes, type Clock, type IrqLine, type Persistent, type PortDevice, type TimedDevice } from '../device.js';

/** PM timer frequency (Hz). */
export const PM_TIMER_HZ = 3579545;
const NS_PER_S = 1e9;
const HALF = 0x80000000; // 2^31: bit 31 of the counter changes every HALF ticks
const WRAP = 0x100000000;
/** The largest whole number of ns inside one tick (279). */
const MAX_PHASE_NS = Math.floor(NS_PER_S / PM_TIMER_HZ);

/** Xen HVM ACPI port layout version 1 (ioreq.h): the default here. */
export const ACPI_PM1A_EVT_BLK_ADDRESS_V1 = 0xb000;
export const ACPI_PM1A_CNT_BLK_ADDRESS_V1 = ACPI_PM1A_EVT_BLK_ADDRESS_V1 + 0x04;
export const ACPI_PM_TMR_BLK_ADDRESS_V1 = ACPI_PM1A_EVT_BLK_ADDRESS_V1 + 0x08;
export const ACPI_GPE0_BLK_ADDRESS_V1 = 0xafe0;
export const ACPI_GPE0_BLK_LEN_V1 = 0x04;
/** Xen HVM ACPI port layout version 0 (the traditional Xen locations). */
export const ACPI_PM1A_EVT_BLK_ADDRESS_V0 = 0x1f40;
export const ACPI_PM1A_CNT_BLK_ADDRESS_V0 = ACPI_PM1A_EVT_BLK_ADDRESS_V0 + 0x04;
export const ACPI_PM_TMR_BLK_ADDRESS_V0 = ACPI_PM1A_EVT_BLK_ADDRESS_V0 + 0x08;
export const ACPI_GPE0_BLK_ADDRESS_V0 = ACPI_PM_TMR_BLK_ADDRESS_V0 + 0x20;
export const ACPI_GPE0_BLK_LEN_V0 = 0x08;

/** Block lengths in bytes (FADT PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN). */
export const PM1_EVT_LEN = 4;
export const PM1_CNT_LEN = 2;
export const PM_TMR_LEN = 4;

/** The SCI's ISA IRQ / GSI (FADT SCI_INT). */
export const SCI_IRQ = 9;

/** SLP_TYP values the DSDT's \_S0 and \_S5 packages give (PIIX4's encoding: 000 = soft off, 101 = working). */
export const SLP_TYP_S0 = 5;
export const SLP_TYP_S5 = 0;

/** PM1_STS bits (write 1 to clear). */
export const TMR_STS = 1 << 0;
export const BM_STS = 1 << 4;
export const GBL_STS = 1 << 5;
export const PWRBTN_STS = 1 << 8;
export const SLPBTN_STS = 1 << 9;
export const RTC_STS = 1 << 10;
export const PCIEXP_WAKE_STS = 1 << 14;
export const WAK_STS = 1 << 15;
const PM1_STS_BITS = TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | PCIEXP_WAKE_STS | WAK_STS;

/** PM1_EN bits. */
export const TMR_EN = 1 << 0;
export const GBL_EN = 1 << 5;
export const PWRBTN_EN = 1 << 8;
export const SLPBTN_EN = 1 << 9;
export const RTC_EN = 1 << 10;
export const PCIEXP_WAKE_DIS = 1 << 14;
const PM1_EN_BITS = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN | PCIEXP_WAKE_DIS;
/** Status bits that can raise the SCI (each with the enable bit at the same position). */
const SCI_STS_BITS = TMR_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS;

/** PM1_CNT bits. */
export const SCI_EN = 1 << 0;
export const BM_RLD = 1 << 1;
export const GBL_RLS = 1 << 2;
export const SLP_TYP_SHIFT = 10;
export const SLP_TYP_MASK = 7 << SLP_TYP_SHIFT;
export const SLP_EN = 1 << 13;
/** PM1_CNT bits that are stored (SCI_EN is fixed at 1; GBL_RLS and SLP_EN are write-only). */
const PM1_CNT_STORED = BM_RLD | SLP_TYP_MASK;

/** Where the four register blocks are. `gpe0Len` is even (status half, then enable half); 0 means no GPE0 block. */
export interface AcpiPmPorts {
  evtBlk: number;
  cntBlk: number;
  tmrBlk: number;
  gpe0Blk: number;
  gpe0Len: number;
}

export const DEFAULT_PM_PORTS: Readonly<AcpiPmPorts> = Object.freeze({
  evtBlk: ACPI_PM1A_EVT_BLK_ADDRESS_V1,
  cntBlk: ACPI_PM1A_CNT_BLK_ADDRESS_V1,
  tmrBlk: ACPI_PM_TMR_BLK_ADDRESS_V1,
  gpe0Blk: ACPI_GPE0_BLK_ADDRESS_V1,
  gpe0Len: ACPI_GPE0_BLK_LEN_V1,
});

/** Fill in and check a port layout (blocks inside the 64 KiB port space, not overlapping). */
export function resolvePmPorts(ports: Partial<AcpiPmPorts> = {}): AcpiPmPorts {
  const p: AcpiPmPorts = { ...DEFAULT_PM_PORTS, ...ports };
  if (!Number.isInteger(p.gpe0Len) || p.gpe0Len < 0 || p.gpe0Len > 254 || p.gpe0Len % 2 !== 0) {
    throw new Error(`ACPI PM: GPE0 block length ${p.gpe0Len} must be even, 0 to 254`);
  }
  const blocks: [string, number, number][] = [
    ['PM1a event block', p.evtBlk, PM1_EVT_LEN],
    ['PM1a control block', p.cntBlk, PM1_CNT_LEN],
    ['PM timer block', p.tmrBlk, PM_TMR_LEN],
  ];
  if (p.gpe0Len > 0) blocks.push(['GPE0 block', p.gpe0Blk, p.gpe0Len]);
  for (const [what, base, len] of blocks) {
    if (!Number.isInteger(base) || base <= 0 || base + len > 0x10000) throw new Error(`ACPI PM: ${what} at ${base} is outside the I/O port space`);
  }
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const [a, ab, al] = blocks[i];
      const [b, bb, bl] = blocks[j];
      if (ab < bb + bl && bb < ab + al) throw new Error(`ACPI PM: the ${a} overlaps the ${b}`);
    }
  }
  return p;
}

/** Timer ticks in `ns` nanoseconds (floor), exact while the result stays below 2^53. */
function ticksIn(ns: number): number {
  if (ns <= 0) return 0;
  const s = Math.floor(ns / NS_PER_S);
  const rest = ns - s * NS_PER_S;
  return s * PM_TIMER_HZ + Math.floor((rest * PM_TIMER_HZ) / NS_PER_S);
}

/** The first time (ns from the count's origin) at which `ticks` ticks have gone by. */
function nsForTicks(ticks: number): number {
  if (ticks <= 0) return 0;
  const s = Math.floor(ticks / PM_TIMER_HZ);
  const rest = ticks - s * PM_TIMER_HZ;
  return s * NS_PER_S + Math.ceil((rest * NS_PER_S) / PM_TIMER_HZ);
}

export interface AcpiPmState {
  device: 'acpi-pm';
  version: 1;
  pm1Sts: number;
  pm1En: number;
  /** Stored PM1_CNT bits (BM_RLD, SLP_TYP). */
  pm1Cnt: number;
  gpe0Sts: number[];
  gpe0En: number[];
  /** PM_TMR at the save. */
  timer: number;
  /** Nanoseconds since the timer's current tick began, [0, 1e9 / PM_TIMER_HZ). */
  timerPhaseNs: number;
}

export interface AcpiPmOptions {
  clock: Clock;
  /** The SCI line (ISA IRQ 9 / GSI 9, level-triggered, active high per the MADT). */
  sci: IrqLine;
  /** SLP_EN was written with this SLP_TYP; `SLP_TYP_S5` means power off. */
  onSleep: (slpTyp: number) => void;
  ports?: Partial<AcpiPmPorts>;
}

export class AcpiPm implements PortDevice, TimedDevice, Persistent<AcpiPmState> {
  readonly ports: Readonly<AcpiPmPorts>;
  private readonly clock: Clock;
  private readonly sci: IrqLine;
  private readonly onSleep: (slpTyp: number) => void;

  private pm1Sts = 0;
  private pm1En = 0;
  private pm1Cnt = 0;
  private readonly gpeSts: Uint8Array;
  private readonly gpeEn: Uint8Array;
  /** The counter is baseTicks + ticksIn(now - baseNs) (not wrapped). */
  private baseNs = 0;
  private baseTicks = 0;
  /** floor(counter / 2^31) when TMR_STS was last brought up to date. */
  private lastHalf = 0;
  private sciLevel = false;

  constructor(opts: AcpiPmOptions) {
    this.clock = opts.clock;
    this.sci = opts.sci;
    this.onSleep = opts.onSleep;
    this.ports = Object.freeze(resolvePmPorts(opts.ports));
    this.gpeSts = new Uint8Array(this.ports.gpe0Len / 2);
    this.gpeEn = new Uint8Array(this.ports.gpe0Len / 2);
  }

  /** The port ranges to decode to this device. */
  portRanges(): { base: number; length: number }[] {
    const p = this.ports;
    const r = [
      { base: p.evtBlk, length: PM1_EVT_LEN },
      { base: p.cntBlk, length: PM1_CNT_LEN },
      { base: p.tmrBlk, length: PM_TMR_LEN },
    ];
    if (p.gpe0Len > 0) r.push({ base: p.gpe0Blk, length: p.gpe0Len });
    return r;
  }

  /** The full (unwrapped) tick count at `now`. */
  private ticksAt(now: number): number {
    return this.baseTicks + ticksIn(now - this.baseNs);
  }

  /** PM_TMR as the guest reads it now. */
  timerValue(now = this.clock.nowNs()): number {
    return this.ticksAt(now) % WRAP;
  }

  /** Bring TMR_STS up to `now`. */
  private sync(now: number): void {
    const half = Math.floor(this.ticksAt(now) / HALF);
    if (half > this.lastHalf) {
      this.pm1Sts |= TMR_STS;
      this.lastHalf = half;
    }
  }

  private updateSci(): void {
    let level = (this.pm1Sts & this.pm1En & SCI_STS_BITS) !== 0;
    for (let i = 0; i < this.gpeSts.length && !level; i++) level = (this.gpeSts[i] & this.gpeEn[i]) !== 0;
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.sci.set(level);
    }
  }

  /** Whether the SCI is asserted. */
  get sciAsserted(): boolean {
    return this.sciLevel;
  }

  /** The fixed power button was pressed (e.g. `xl shutdown`): PWRBTN_STS, SCI if PWRBTN_EN. */
  pressPowerButton(): void {
    this.sync(this.clock.nowNs());
    this.pm1Sts |= PWRBTN_STS;
    this.updateSci();
  }

  /** Set GPE0 status bit `bit` (a general-purpose event); SCI if its enable bit is set. */
  setGpe(bit: number): void {
    if (!Number.isInteger(bit) || bit < 0 || bit >= this.gpeSts.length * 8) throw new Error(`ACPI PM: no GPE ${bit} (GPE0 has ${this.gpeSts.length * 8})`);
    this.gpeSts[bit >> 3] |= 1 << (bit & 7);
    this.updateSci();
  }

  // ------------------------------------------------------------- PortDevice

  ioRead(port: number, size: 1 | 2 | 4): number {
    const now = this.clock.nowNs();
    this.sync(now);
    const tmr = this.timerValue(now);
    const value = readBytes(port, size, (p) => this.readByte(p, tmr));
    this.updateSci();
    return value;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.sync(this.clock.nowNs());
    writeBytes(port, size, value, (p, b) => this.writeByte(p, b));
    this.updateSci();
  }

  private readByte(port: number, tmr: number): number {
    const p = this.ports;
    let o = port - p.evtBlk;
    if (o >= 0 && o < PM1_EVT_LEN) return ((o < 2 ? this.pm1Sts : this.pm1En) >>> (8 * (o & 1))) & 0xff;
    o = port - p.cntBlk;
    if (o >= 0 && o < PM1_CNT_LEN) return ((this.pm1Cnt | SCI_EN) >>> (8 * o)) & 0xff;
    o = port - p.tmrBlk;
    if (o >= 0 && o < PM_TMR_LEN) return (tmr >>> (8 * o)) & 0xff;
    o = port - p.gpe0Blk;
    const half = this.gpeSts.length;
    if (o >= 0 && o < 2 * half) return o < half ? this.gpeSts[o] : this.gpeEn[o - half];
    return 0xff;
  }

  private writeByte(port: number, byte: number): void {
    const p = this.ports;
    let o = port - p.evtBlk;
    if (o >= 0 && o < PM1_EVT_LEN) {
      const shift = 8 * (o & 1);
      if (o < 2) this.pm1Sts &= ~((byte << shift) & PM1_STS_BITS);
      else this.pm1En = ((this.pm1En & ~(0xff << shift)) | (byte << shift)) & PM1_EN_BITS;
      return;
    }
    o = port - p.cntBlk;
    if (o >= 0 && o < PM1_CNT_LEN) {
      const shift = 8 * o;
      const written = byte << shift;
      this.pm1Cnt = ((this.pm1Cnt & ~(0xff << shift)) | written) & PM1_CNT_STORED;
      if (written & SLP_EN) this.sleep((this.pm1Cnt & SLP_TYP_MASK) >> SLP_TYP_SHIFT);
      return;
    }
    o = port - p.gpe0Blk;
    const half = this.gpeSts.length;
    if (o >= 0 && o < 2 * half) {
      if (o < half) this.gpeSts[o] &= ~byte;
      else this.gpeEn[o - half] = byte;
    }
    // PM_TMR is read-only.
  }

  private sleep(slpTyp: number): void {
    this.onSleep(slpTyp);
    if (slpTyp !== SLP_TYP_S5) this.pm1Sts |= WAK_STS;
  }

  // ------------------------------------------------------------- TimedDevice

  nextDeadlineNs(): number {
    if (!(this.pm1En & TMR_EN) || this.pm1Sts & TMR_STS) return Infinity;
    return this.baseNs + nsForTicks((this.lastHalf + 1) * HALF - this.baseTicks);
  }

  advance(nowNs: number): void {
    this.sync(nowNs);
    this.updateSci();
  }

  // ------------------------------------------------------------- Persistent

  save(): AcpiPmState {
    const now = this.clock.nowNs();
    this.sync(now);
    const ticks = this.ticksAt(now);
    return {
      device: 'acpi-pm',
      version: 1,
      pm1Sts: this.pm1Sts,
      pm1En: this.pm1En,
      pm1Cnt: this.pm1Cnt,
      gpe0Sts: Array.from(this.gpeSts),
      gpe0En: Array.from(this.gpeEn),
      timer: ticks % WRAP,
      // At most one tick's worth: the rounding of tick boundaries to ns must not let the phase reach the next tick.
      timerPhaseNs: Math.min(now - this.baseNs - nsForTicks(ticks - this.baseTicks), MAX_PHASE_NS),
    };
  }

  restore(state: AcpiPmState): void {
    const name = 'acpi-pm';
    const s = state as unknown as Record<string, unknown>;
    if (typeof s !== 'object' || s === null) badState(name, 'not an object');
    if (s.device !== name) badState(name, `device is ${String(s.device)}`);
    if (s.version !== 1) badState(name, `unsupported version ${String(s.version)}`);
    const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
    if (!isInt(s.pm1Sts, 0, 0xffff) || (s.pm1Sts & ~PM1_STS_BITS) !== 0) badState(name, 'bad pm1Sts');
    if (!isInt(s.pm1En, 0, 0xffff) || (s.pm1En & ~PM1_EN_BITS) !== 0) badState(name, 'bad pm1En');
    if (!isInt(s.pm1Cnt, 0, 0xffff) || (s.pm1Cnt & ~PM1_CNT_STORED) !== 0) badState(name, 'bad pm1Cnt');
    const n = this.gpeSts.length;
    for (const f of ['gpe0Sts', 'gpe0En'] as const) {
      const a = s[f];
      if (!Array.isArray(a) || a.length !== n || !a.every((b) => isInt(b, 0, 0xff))) badState(name, `${f} is not ${n} bytes (this GPE0 block is ${2 * n} bytes)`);
    }
    if (!isInt(s.timer, 0, WRAP - 1)) badState(name, 'bad timer');
    const phase = s.timerPhaseNs;
    if (typeof phase !== 'number' || !(phase >= 0 && phase < NS_PER_S / PM_TIMER_HZ)) badState(name, 'bad timerPhaseNs');

    const now = this.clock.nowNs();
    this.pm1Sts = s.pm1Sts;
    this.pm1En = s.pm1En;
    this.pm1Cnt = s.pm1Cnt;
    this.gpeSts.set(s.gpe0Sts as number[]);
    this.gpeEn.set(s.gpe0En as number[]);
    this.baseTicks = s.timer;
    this.baseNs = now - phase;
    this.lastHalf = Math.floor(s.timer / HALF);
    this.updateSci();
  }
}
