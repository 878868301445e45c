/**
 * The local APIC of one vCPU (xAPIC, memory-mapped at IA32_APIC_BASE), as a
 * Pentium 4 / Xeon has it: version 0x14 with six LVT entries (timer, thermal,
 * performance counters, LINT0, LINT1, error); no CMCI, no x2APIC, no EOI
 * broadcast suppression.
 *
 * Design notes (behaviour follows Intel SDM vol. 3 chapter 10; Xen's vlapic.c
 * was a model of behaviour only):
 *
 * - Registers: 32 bits each at 16-byte strides in the 4 KiB page at the APIC
 *   base. A 4-byte access at a register's offset is the normal case. Other
 *   accesses (the SDM leaves them undefined) are taken byte by byte: a read
 *   returns the addressed bytes of each register's dword (bytes 4-15 of a
 *   16-byte slot read 0); a write merges its bytes into the register's current
 *   value and then writes the whole dword, side effects included (a byte
 *   written to ICR low sends an IPI, as in Xen). Accessing a reserved offset
 *   in 0x000-0x3F0 reads 0 and records "illegal register address" in the ESR.
 *   4-byte reads return the dword as a signed int32, like RAM reads on the bus.
 * - Hardware enable is IA32_APIC_BASE bit 11, read through `apicBase()`. The
 *   APIC notices a change at its next call (or `apicBaseChanged()`), and then
 *   returns to its power-up state (SDM 10.4.3 allows losing the state; Xen
 *   resets the same way). While hardware-disabled the page does not decode
 *   (reads float high, writes vanish), interrupt messages are dropped, LINT0
 *   is the CPU's INTR pin (the PIC's output and INTA go straight through) and
 *   LINT1 is its NMI pin.
 * - Software disable (SVR bit 8 clear; the power-up state): fixed interrupts
 *   are not accepted and nothing in IRR is delivered (as Xen's vlapic); every
 *   LVT entry gets its mask bit set and LVT writes cannot clear it until SVR
 *   bit 8 is set again (SDM 10.4.7.2).
 * - Priority: an IRR vector is delivered if its class (vector >> 4) is above
 *   the PPR's class; PPR is TPR if TPR's class is at least that of the highest
 *   ISR vector, else that ISR class. The INTA cycle (`ackInterrupt`) moves the
 *   highest deliverable vector from IRR to ISR; if nothing qualifies any more
 *   it answers with the spurious vector (SVR bits 7-0) and sets nothing. An
 *   EOI clears the highest ISR bit; a level-triggered one (TMR bit set, which
 *   acceptance sets or clears per trigger mode) also goes to `onEoi` for the
 *   IO-APIC and clears the Remote IRR of a level LINT entry with that vector.
 * - The 8259A (ExtINT): as in Xen's vlapic_accept_pic_intr, the PIC's INT
 *   (fed in with `setLint0`) reaches the CPU when LVT LINT0 is unmasked with
 *   delivery mode ExtINT, or when the APIC is hardware-disabled; INTA then goes
 *   to the PIC (`extInt.ackInterrupt()`), which supplies the vector. The PIC is
 *   asked before the APIC's own IRR, as Xen does. A software-disabled APIC has
 *   LINT0 masked, so it passes no PIC interrupts (its polarity and trigger bits
 *   are ignored for ExtINT). With direct kernel boot no BIOS sets the PC's
 *   "virtual wire" mode, so `virtualWireMode()` does what the BIOS would do:
 *   SVR enable, LINT0 = ExtINT unmasked, LINT1 = NMI unmasked. An ExtINT
 *   message from the IO-APIC (`acceptMessage(7, ...)`) latches one INTA cycle
 *   to the PIC; such a route is edge-like (one INTA per message).
 * - LINT0/LINT1 in the other delivery modes: fixed edge (a rising edge of the
 *   polarity-corrected input sets IRR), fixed level (IRR while the input is
 *   active and Remote IRR is clear; acceptance sets Remote IRR, the EOI clears
 *   it and delivers again if the input is still active), NMI (`onNmi` on a
 *   rising edge). SMI and INIT are ignored.
 * - Timer: the APIC bus runs at 1 GHz (1 ns per cycle, as in Xen), divided by
 *   the divide configuration (1..128). The count is derived from the clock,
 *   never stepped: the timer keeps the time its current countdown started, and
 *   the current count, the next deadline and periodic reloads follow from it.
 *   One-shot (mode 00) fires once; periodic (01) re-arms from its previous
 *   deadline, so it stays phase-locked; if `advance` comes several periods
 *   late, one interrupt is delivered and the timer skips to the period that
 *   contains `now`. Writing initial count 0 stops it; writing another count
 *   restarts it from now. Changing the divider mid-count keeps the number of
 *   counts already done. A masked timer keeps counting and delivers nothing
 *   (it reports no deadline; it catches up when the LVT is next written).
 *   TSC-deadline mode (10) exists only with the `tscDeadline` option: then
 *   `writeTscDeadline(ns)` (the IA32_TSC_DEADLINE MSR, converted to clock time
 *   by the machine) arms it, the initial count is ignored and the current
 *   count reads 0, and switching in or out of the mode disarms the timer.
 *   Without the option LVT timer bit 18 is reserved (reads 0), so mode 10
 *   written reads back as 00 and runs as one-shot, and mode 11 as 01
 *   (periodic). With it, the reserved mode 11 reads back as written and runs
 *   as one-shot.
 * - ICR: writing ICR low sends at once (delivery status always reads 0).
 *   Fixed and lowest-priority IPIs that include this APIC (shorthand self or
 *   all-including-self, or a destination `matchesDestination` accepts) are
 *   accepted here with the ICR's trigger mode; NMI to self goes to `onNmi`;
 *   INIT, SIPI and SMI to self are ignored (one vCPU). Whatever may reach other
 *   CPUs goes to `onIpi`, whose handler must skip the sender. A fixed or
 *   lowest-priority IPI with a vector below 16 is not sent ("send illegal
 *   vector").
 * - Errors: ESR bits accumulate internally; an ESR write copies them to the
 *   readable ESR and clears them. A newly set error bit raises the LVT error
 *   vector if that entry is unmasked. Interrupts below vector 16 are not
 *   accepted ("received illegal vector").
 * - INTR: `setIntr` is called whenever the output changes (and on reset and
 *   restore): it is high while the PIC path is active and the PIC's INT is
 *   high, an ExtINT message waits, or some IRR vector is deliverable.
 * - Save/restore keeps every register, the LINT input levels and the timer as
 *   time from the save to its deadline, rebased on the restoring clock.
 */
import { badState, type Clock, type Persistent, type TimedDevice } from './device.js';
import type { InterruptSource } from '../x86/cpu.js';

/** Version register: version 0x14 (P4/Xeon xAPIC), max LVT entry 5. */
export const LAPIC_VERSION = 0x00050014;
/** The default APIC base (IA32_APIC_BASE bits 31-12). */
export const LAPIC_DEFAULT_BASE = 0xfee00000;
/** IA32_APIC_BASE bit 11: the APIC is globally enabled. */
export const APIC_BASE_ENABLE = 0x800;

// Register offsets.
export const APIC_ID = 0x20;
export const APIC_VERSION = 0x30;
export const APIC_TPR = 0x80;
export const APIC_APR = 0x90;
export const APIC_PPR = 0xa0;
export const APIC_EOI = 0xb0;
export const APIC_RRD = 0xc0;
export const APIC_LDR = 0xd0;
export const APIC_DFR = 0xe0;
export const APIC_SVR = 0xf0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_ICR_LO = 0x300;
export const APIC_ICR_HI = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PERF = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_INITIAL = 0x380;
export const APIC_TIMER_CURRENT = 0x390;
export const APIC_TIMER_DIVIDE = 0x3e0;

// SVR bits.
export const SVR_ENABLE = 0x100;
const SVR_WRITABLE = 0x3ff; // vector, APIC enable, focus processor checking

// LVT bits.
export const LVT_MASKED = 0x10000;
const LVT_DELIVERY_STATUS = 0x1000;
const LVT_POLARITY_LOW = 0x2000;
const LVT_REMOTE_IRR = 0x4000;
const LVT_LEVEL = 0x8000;
const LVT_TIMER_PERIODIC = 0x20000;
const LVT_TIMER_TSC_DEADLINE = 0x40000;
const LVT_MODE_MASK = 0x700;

// Delivery modes (LVT and ICR bits 10-8, IO-APIC redirection entries).
export const DM_FIXED = 0;
export const DM_LOWEST = 1;
export const DM_SMI = 2;
export const DM_NMI = 4;
export const DM_INIT = 5;
export const DM_STARTUP = 6;
export const DM_EXTINT = 7;

// ESR bits.
export const ESR_SEND_ILLEGAL_VECTOR = 0x20;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 0x40;
export const ESR_ILLEGAL_REGISTER = 0x80;

// ICR low bits.
const ICR_LOGICAL = 0x800;
const ICR_ASSERT = 0x4000;
const ICR_LEVEL = 0x8000;
const ICR_LO_WRITABLE = 0x000ccfff;
const SHORTHAND_NONE = 0;
const SHORTHAND_SELF = 1;
const SHORTHAND_ALL = 2;
const SHORTHAND_OTHERS = 3;

/** LVT entries, in register order from 0x320 (1 and 2 are thermal and performance). */
const LVT_TIMER = 0;
const LVT_LINT0 = 3;
const LVT_LINT1 = 4;
const LVT_ERROR = 5;
const LVT_COUNT = 6;
/** Writable bits of each LVT entry (the timer's mode bits depend on the TSC-deadline option). */
const LVT_WRITABLE = [
  0x100ff | LVT_TIMER_PERIODIC,
  0x107ff,
  0x107ff,
  0x1a7ff,
  0x1a7ff,
  0x100ff,
] as const;

const TIMER_ONESHOT = 0;
const TIMER_PERIODIC = 1;
const TIMER_TSC_DEADLINE = 2;

/** Timer divide configuration: writable bits 0, 1 and 3. */
const TDCR_WRITABLE = 0xb;

/** An IPI that may reach CPUs other than its sender. */
export interface ApicIpi {
  vector: number;
  /** ICR bits 10-8 (DM_FIXED, DM_LOWEST, DM_NMI, DM_INIT, DM_STARTUP, ...). */
  deliveryMode: number;
  destMode: 'physical' | 'logical';
  /** 0: the destination field, 1: self, 2: all including self, 3: all excluding self. */
  shorthand: number;
  /** ICR high bits 31-24. */
  dest: number;
  /** ICR level bit (assert / de-assert, for INIT). */
  assert: boolean;
  /** ICR trigger mode: level-triggered. */
  level: boolean;
}

export interface LocalApicOptions {
  /** The APIC ID (xAPIC: 8 bits), also the reset value of the ID register bits 31-24. */
  id: number;
  clock: Clock;
  /** The CPU's IA32_APIC_BASE low dword (bit 11 global enable, bits 31-12 base). */
  apicBase: () => number;
  /** Drives the CPU's INTR line. */
  setIntr: (level: boolean) => void;
  /** The 8259A pair: answers the INTA cycle for ExtINT interrupts. */
  extInt: { ackInterrupt(): number };
  /** EOI of a level-triggered vector (TMR bit set): the IO-APIC clears Remote IRR. */
  onEoi?: (vector: number) => void;
  /** An IPI that may target other CPUs; the handler must not deliver it back to `from`. */
  onIpi?: (ipi: ApicIpi, from: LocalApic) => void;
  /** An NMI for this CPU (LINT NMI mode, NMI IPI or message). */
  onNmi?: () => void;
  /** Offer TSC-deadline timer mode (LVT timer mode 10); off by default. */
  tscDeadline?: boolean;
  /** Program virtual wire mode at creation (see `virtualWireMode`). */
  virtualWire?: boolean;
}

export interface LocalApicState {
  kind: 'lapic';
  version: 1;
  /** IA32_APIC_BASE bit 11 as last seen. */
  hwEnabled: boolean;
  /** The ID register (bits 31-24). */
  id: number;
  tpr: number;
  ldr: number;
  dfr: number;
  svr: number;
  /** 8 dwords each, vector 0 in bit 0 of dword 0. */
  irr: number[];
  isr: number[];
  tmr: number[];
  /** The readable ESR (latched by the last ESR write). */
  esr: number;
  /** Errors detected since the last ESR write. */
  esrPending: number;
  icrLo: number;
  icrHi: number;
  /** Timer, thermal, performance, LINT0, LINT1, error. */
  lvt: number[];
  timerInitial: number;
  timerDivide: number;
  /** ns from the save to the end of the current countdown, or null if the timer is not counting. */
  timerDeadlineInNs: number | null;
  /** TSC-deadline mode: ns from the save to the armed deadline, or null if disarmed. */
  tscDeadlineInNs: number | null;
  /** LINT0 and LINT1 input levels. */
  lint0: boolean;
  lint1: boolean;
  /** An ExtINT message waits for its INTA cycle. */
  extIntPending: boolean;
}

/** Highest set bit of a 256-bit vector register, or -1. */
function highestVector(bits: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    const v = bits[w];
    if (v !== 0) return w * 32 + 31 - Math.clz32(v);
  }
  return -1;
}

function testBit(bits: Uint32Array, vector: number): boolean {
  return ((bits[vector >>> 5] >>> (vector & 31)) & 1) !== 0;
}

function setBit(bits: Uint32Array, vector: number): void {
  bits[vector >>> 5] |= 1 << (vector & 31);
}

function clearBit(bits: Uint32Array, vector: number): void {
  bits[vector >>> 5] &= ~(1 << (vector & 31));
}

/** Bus cycles per timer count for a divide configuration value. */
function divisorOf(tdcr: number): number {
  const code = (tdcr & 3) | ((tdcr & 8) >> 1);
  return code === 7 ? 1 : 2 << code;
}

/** The 32-bit view of a saved register must be an unsigned dword. */
function isDword(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

export class LocalApic implements InterruptSource, TimedDevice, Persistent<LocalApicState> {
  private readonly clock: Clock;
  private readonly opts: LocalApicOptions;
  private readonly initialId: number;

  private hwEnabled = true;
  private idReg = 0;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private readonly irr = new Uint32Array(8);
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private esr = 0;
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  private readonly lvt = new Uint32Array(LVT_COUNT);
  private timerInitial = 0;
  private timerDivide = 0;
  /** The timer is counting (one-shot or periodic); its countdown began at `timerStart`. */
  private timerArmed = false;
  private timerStart = 0;
  /** TSC-deadline mode: the armed deadline in clock ns, or null. */
  private tscDeadline: number | null = null;
  private readonly lint = [false, false];
  private extIntPending = false;
  /** The INTR level last given to `setIntr`. */
  private intr = false;

  constructor(options: LocalApicOptions) {
    if (!Number.isInteger(options.id) || options.id < 0 || options.id > 0xff) throw new RangeError(`lapic: bad APIC ID ${options.id}`);
    this.opts = options;
    this.clock = options.clock;
    this.initialId = options.id;
    this.reset();
    if (options.virtualWire) this.virtualWireMode();
  }

  // ------------------------------------------------------------ state

  /** Power-up state (SDM 10.4.7.1). The LINT input levels are external and stay. */
  reset(): void {
    this.hwEnabled = (this.opts.apicBase() & APIC_BASE_ENABLE) !== 0;
    this.resetRegisters();
    this.update(true);
  }

  private resetRegisters(): void {
    this.idReg = (this.initialId << 24) >>> 0;
    this.tpr = 0;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.esr = 0;
    this.esrPending = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.lvt.fill(LVT_MASKED);
    this.timerInitial = 0;
    this.timerDivide = 0;
    this.timerArmed = false;
    this.timerStart = 0;
    this.tscDeadline = null;
    this.extIntPending = false;
  }

  /**
   * What a PC BIOS leaves behind ("virtual wire" mode, MP spec 3.6.2.2): the
   * APIC software-enabled, LINT0 = ExtINT (edge, unmasked) so the 8259A's
   * interrupts reach the CPU, LINT1 = NMI (unmasked). Needed with direct
   * kernel boot, where no BIOS runs.
   */
  virtualWireMode(): void {
    this.syncBase();
    if (!this.hwEnabled) return;
    this.svr = (this.svr | SVR_ENABLE) >>> 0;
    this.lvt[LVT_LINT0] = DM_EXTINT << 8;
    this.lvt[LVT_LINT1] = DM_NMI << 8;
    this.update();
  }

  /** Tell the APIC that IA32_APIC_BASE was written (it also notices by itself at its next call). */
  apicBaseChanged(): void {
    this.syncBase();
  }

  /** The physical address of the register page (IA32_APIC_BASE bits 31-12). */
  baseAddress(): number {
    return (this.opts.apicBase() & 0xfffff000) >>> 0;
  }

  /** The APIC ID (ID register bits 31-24). */
  apicId(): number {
    return this.idReg >>> 24;
  }

  /** A hardware-enable change puts the APIC back in its power-up state. */
  private syncBase(): void {
    const enabled = (this.opts.apicBase() & APIC_BASE_ENABLE) !== 0;
    if (enabled === this.hwEnabled) return;
    this.hwEnabled = enabled;
    this.resetRegisters();
    this.update();
  }

  private get swEnabled(): boolean {
    return (this.svr & SVR_ENABLE) !== 0;
  }

  // ------------------------------------------------------------ interrupts

  /** Processor priority (SDM 10.8.3.1). */
  private ppr(): number {
    const isrv = Math.max(highestVector(this.isr), 0);
    return (this.tpr & 0xf0) >= (isrv & 0xf0) ? this.tpr & 0xff : isrv & 0xf0;
  }

  /**
   * Arbitration priority (SDM 10.8.3.1): TPR if its class is at least IRRV's
   * and above ISRV's, else the highest of the three classes.
   */
  private apr(): number {
    const isrv = Math.max(highestVector(this.isr), 0);
    const irrv = Math.max(highestVector(this.irr), 0);
    const tprClass = this.tpr & 0xf0;
    if (tprClass >= (irrv & 0xf0) && tprClass > (isrv & 0xf0)) return this.tpr & 0xff;
    return Math.max(tprClass, isrv & 0xf0, irrv & 0xf0);
  }

  /** The IRR vector the APIC would deliver now, or -1. */
  private deliverable(): number {
    if (!this.hwEnabled || !this.swEnabled) return -1;
    const v = highestVector(this.irr);
    if (v < 0) return -1;
    return (v & 0xf0) > (this.ppr() & 0xf0) ? v : -1;
  }

  /** The PIC's INT reaches the CPU: LINT0 unmasked in ExtINT mode, or the APIC globally disabled. */
  private picRouted(): boolean {
    if (!this.hwEnabled) return true;
    return (this.lvt[LVT_LINT0] & (LVT_MODE_MASK | LVT_MASKED)) === DM_EXTINT << 8;
  }

  private computeIntr(): boolean {
    if (this.lint[0] && this.picRouted()) return true;
    if (!this.hwEnabled || !this.swEnabled) return false;
    return this.extIntPending || this.deliverable() >= 0;
  }

  /** Recompute INTR; tell the CPU if it changed (or always, with `force`). */
  private update(force = false): void {
    const level = this.computeIntr();
    if (level === this.intr && !force) return;
    this.intr = level;
    this.opts.setIntr(level);
  }

  /** The INTR output as last given to `setIntr`. */
  output(): boolean {
    return this.intr;
  }

  /**
   * A fixed interrupt for this APIC (from the IO-APIC, an IPI or an LVT entry):
   * sets its IRR bit, and its TMR bit if `level` (level-triggered), else clears it.
   */
  acceptInterrupt(vector: number, level: boolean): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 0xff) throw new RangeError(`lapic: bad vector ${vector}`);
    this.syncBase();
    if (!this.hwEnabled || !this.swEnabled) return;
    if (vector < 16) {
      this.signalError(ESR_RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    setBit(this.irr, vector);
    if (level) setBit(this.tmr, vector);
    else clearBit(this.tmr, vector);
    this.update();
  }

  /**
   * An interrupt message (IO-APIC redirection entry or IPI) by delivery mode:
   * fixed and lowest priority are `acceptInterrupt`; NMI goes to `onNmi`; ExtINT
   * latches one INTA cycle for the PIC; SMI, INIT, SIPI and reserved modes are
   * ignored (one vCPU, no SMM).
   */
  acceptMessage(deliveryMode: number, vector: number, level: boolean): void {
    switch (deliveryMode) {
      case DM_FIXED:
      case DM_LOWEST:
        this.acceptInterrupt(vector, level);
        break;
      case DM_NMI:
        this.syncBase();
        if (this.hwEnabled) this.opts.onNmi?.();
        break;
      case DM_EXTINT:
        this.syncBase();
        if (!this.hwEnabled || !this.swEnabled) return;
        this.extIntPending = true;
        this.update();
        break;
      default:
        break;
    }
  }

  /** The INTA cycle: the vector for the CPU (the PIC's on the ExtINT path, else the APIC's, else spurious). */
  ackInterrupt(): number {
    this.syncBase();
    let vector: number;
    if (!this.hwEnabled || (this.lint[0] && this.picRouted())) {
      vector = this.opts.extInt.ackInterrupt();
    } else if (this.extIntPending && this.swEnabled) {
      this.extIntPending = false;
      vector = this.opts.extInt.ackInterrupt();
    } else {
      const v = this.deliverable();
      if (v >= 0) {
        clearBit(this.irr, v);
        setBit(this.isr, v);
        vector = v;
      } else {
        vector = this.svr & 0xff;
      }
    }
    this.update();
    return vector;
  }

  private eoi(): void {
    const v = highestVector(this.isr);
    if (v < 0) return;
    clearBit(this.isr, v);
    if (testBit(this.tmr, v)) {
      for (const pin of [0, 1] as const) {
        const i = LVT_LINT0 + pin;
        if (this.lvt[i] & LVT_REMOTE_IRR && (this.lvt[i] & 0xff) === v) {
          this.lvt[i] &= ~LVT_REMOTE_IRR;
          this.lintInput(pin, false);
        }
      }
      this.opts.onEoi?.(v);
    }
    this.update();
  }

  /** Record an error; a newly set bit raises the LVT error interrupt. */
  private signalError(bit: number): void {
    if (this.esrPending & bit) return;
    this.esrPending |= bit;
    const l = this.lvt[LVT_ERROR];
    if (!(l & LVT_MASKED)) this.acceptInterrupt(l & 0xff, false);
  }

  /** Does a message for `dest` (8 bits) in physical or logical mode address this APIC? */
  matchesDestination(dest: number, logical: boolean): boolean {
    this.syncBase();
    if (!this.hwEnabled) return false;
    dest &= 0xff;
    if (dest === 0xff) return true; // broadcast, in either mode
    if (!logical) return dest === this.apicId();
    const logicalId = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (logicalId & dest) !== 0; // flat model
    // Cluster model: bits 7-4 the cluster, bits 3-0 a mask within it.
    return logicalId >>> 4 === dest >>> 4 && (logicalId & dest & 0xf) !== 0;
  }

  // ------------------------------------------------------------ LINT pins

  /** The LINT0 input: on a PC, the 8259A's INT output. */
  setLint0(level: boolean): void {
    this.setLint(0, level);
  }

  /** The LINT1 input (NMI sources on a PC). */
  setLint1(level: boolean): void {
    this.setLint(1, level);
  }

  private setLint(pin: 0 | 1, level: boolean): void {
    this.syncBase();
    const changed = this.lint[pin] !== level;
    this.lint[pin] = level;
    if (!this.hwEnabled) {
      // LINT1 is the processor's NMI pin.
      if (pin === 1 && changed && level) this.opts.onNmi?.();
    } else {
      this.lintInput(pin, changed);
    }
    this.update();
  }

  /** Act on a LINT input per its LVT entry (ExtINT is handled by `picRouted`). */
  private lintInput(pin: 0 | 1, changed: boolean): void {
    const i = LVT_LINT0 + pin;
    const l = this.lvt[i];
    const mode = (l & LVT_MODE_MASK) >> 8;
    if (l & LVT_MASKED || mode === DM_EXTINT) return;
    const active = this.lint[pin] !== ((l & LVT_POLARITY_LOW) !== 0);
    if (mode === DM_FIXED && l & LVT_LEVEL) {
      if (active && !(l & LVT_REMOTE_IRR)) {
        this.lvt[i] = (l | LVT_REMOTE_IRR) >>> 0;
        this.acceptInterrupt(l & 0xff, true);
      }
      return;
    }
    if (!changed || !active) return;
    if (mode === DM_FIXED) this.acceptInterrupt(l & 0xff, false);
    else if (mode === DM_NMI) this.opts.onNmi?.();
  }

  // ------------------------------------------------------------ timer

  private timerMode(lvt = this.lvt[LVT_TIMER]): number {
    if (this.opts.tscDeadline && lvt & LVT_TIMER_TSC_DEADLINE) return lvt & LVT_TIMER_PERIODIC ? TIMER_ONESHOT : TIMER_TSC_DEADLINE;
    return lvt & LVT_TIMER_PERIODIC ? TIMER_PERIODIC : TIMER_ONESHOT;
  }

  private divisor(): number {
    return divisorOf(this.timerDivide);
  }

  private periodNs(): number {
    return this.timerInitial * this.divisor();
  }

  private currentCount(now: number): number {
    if (!this.timerArmed || this.timerMode() === TIMER_TSC_DEADLINE) return 0;
    const ticks = Math.max(0, Math.floor((now - this.timerStart) / this.divisor()));
    if (this.timerMode() === TIMER_PERIODIC) return this.timerInitial - (ticks % this.timerInitial);
    return ticks >= this.timerInitial ? 0 : this.timerInitial - ticks;
  }

  nextDeadlineNs(): number {
    this.syncBase();
    if (!this.hwEnabled || this.lvt[LVT_TIMER] & LVT_MASKED) return Infinity;
    if (this.timerMode() === TIMER_TSC_DEADLINE) return this.tscDeadline ?? Infinity;
    return this.timerArmed ? this.timerStart + this.periodNs() : Infinity;
  }

  advance(nowNs: number): void {
    this.syncBase();
    if (!this.hwEnabled) return;
    if (this.timerMode() === TIMER_TSC_DEADLINE) {
      if (this.tscDeadline === null || nowNs < this.tscDeadline) return;
      this.tscDeadline = null;
      this.fireTimer();
      return;
    }
    if (!this.timerArmed) return;
    const period = this.periodNs();
    if (nowNs < this.timerStart + period) return;
    if (this.timerMode() === TIMER_PERIODIC) {
      // One interrupt however many periods went by; the countdown that contains now continues.
      this.timerStart += Math.floor((nowNs - this.timerStart) / period) * period;
    } else {
      this.timerArmed = false;
    }
    this.fireTimer();
  }

  private fireTimer(): void {
    const l = this.lvt[LVT_TIMER];
    if (!(l & LVT_MASKED)) this.acceptInterrupt(l & 0xff, false);
  }

  /**
   * IA32_TSC_DEADLINE write, as clock time in ns (the machine converts from
   * TSC ticks); null (an MSR value of 0) disarms. Ignored unless the timer is
   * in TSC-deadline mode. A deadline already passed fires at once.
   */
  writeTscDeadline(deadlineNs: number | null): void {
    this.syncBase();
    if (!this.hwEnabled || this.timerMode() !== TIMER_TSC_DEADLINE) return;
    this.tscDeadline = deadlineNs;
    this.advance(this.clock.nowNs());
  }

  /** IA32_TSC_DEADLINE read, as clock ns: the armed deadline, or null (reads 0). */
  readTscDeadline(): number | null {
    this.syncBase();
    return this.hwEnabled && this.timerMode() === TIMER_TSC_DEADLINE ? this.tscDeadline : null;
  }

  private writeLvt(index: number, value: number): void {
    const old = this.lvt[index];
    if (index === LVT_TIMER) this.advance(this.clock.nowNs()); // bring the countdown up to now first
    let writable: number = LVT_WRITABLE[index];
    if (index === LVT_TIMER && this.opts.tscDeadline) writable |= LVT_TIMER_TSC_DEADLINE;
    let v = value & writable;
    if (!this.swEnabled) v |= LVT_MASKED;
    if (index === LVT_LINT0 || index === LVT_LINT1) {
      // Remote IRR survives while the entry stays fixed and level-triggered.
      if ((v & (LVT_MODE_MASK | LVT_LEVEL)) === LVT_LEVEL) v |= old & LVT_REMOTE_IRR;
    }
    this.lvt[index] = v >>> 0;
    if (index === LVT_TIMER && (this.timerMode(old) === TIMER_TSC_DEADLINE) !== (this.timerMode(v) === TIMER_TSC_DEADLINE)) {
      this.timerArmed = false;
      this.tscDeadline = null;
    }
    if (index === LVT_LINT0 || index === LVT_LINT1) this.lintInput(index === LVT_LINT0 ? 0 : 1, false);
    this.update();
  }

  private writeInitialCount(value: number): void {
    const now = this.clock.nowNs();
    this.advance(now);
    if (this.timerMode() === TIMER_TSC_DEADLINE) return;
    this.timerInitial = value >>> 0;
    this.timerArmed = this.timerInitial !== 0;
    this.timerStart = now;
  }

  private writeDivide(value: number): void {
    const now = this.clock.nowNs();
    this.advance(now);
    const oldDiv = this.divisor();
    this.timerDivide = value & TDCR_WRITABLE;
    const newDiv = this.divisor();
    if (this.timerArmed && oldDiv !== newDiv) {
      // Keep the counts already done; the rest run at the new rate.
      const done = Math.min(Math.max(0, Math.floor((now - this.timerStart) / oldDiv)), this.timerInitial);
      this.timerStart = now - done * newDiv;
    }
  }

  // ------------------------------------------------------------ IPIs

  private sendIpi(): void {
    const lo = this.icrLo;
    const ipi: ApicIpi = {
      vector: lo & 0xff,
      deliveryMode: (lo & LVT_MODE_MASK) >> 8,
      destMode: lo & ICR_LOGICAL ? 'logical' : 'physical',
      shorthand: (lo >>> 18) & 3,
      dest: this.icrHi >>> 24,
      assert: (lo & ICR_ASSERT) !== 0,
      level: (lo & ICR_LEVEL) !== 0,
    };
    if ((ipi.deliveryMode === DM_FIXED || ipi.deliveryMode === DM_LOWEST) && ipi.vector < 16) {
      this.signalError(ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    let toSelf: boolean;
    let toOthers: boolean;
    switch (ipi.shorthand) {
      case SHORTHAND_SELF:
        toSelf = true;
        toOthers = false;
        break;
      case SHORTHAND_ALL:
        toSelf = true;
        toOthers = true;
        break;
      case SHORTHAND_OTHERS:
        toSelf = false;
        toOthers = true;
        break;
      case SHORTHAND_NONE:
      default:
        toSelf = this.matchesDestination(ipi.dest, ipi.destMode === 'logical');
        toOthers = !(ipi.destMode === 'physical' && ipi.dest === this.apicId());
        break;
    }
    if (toOthers) this.opts.onIpi?.(ipi, this);
    if (toSelf && ipi.deliveryMode !== DM_EXTINT) this.acceptMessage(ipi.deliveryMode, ipi.vector, ipi.level);
  }

  // ------------------------------------------------------------ MMIO

  /** Read the register at a 16-byte-aligned offset; `probe` suppresses the illegal-register error. */
  private readReg(offset: number, probe: boolean): number {
    if (offset >= APIC_ISR && offset < APIC_ISR + 0x80) return this.isr[(offset - APIC_ISR) >> 4];
    if (offset >= APIC_TMR && offset < APIC_TMR + 0x80) return this.tmr[(offset - APIC_TMR) >> 4];
    if (offset >= APIC_IRR && offset < APIC_IRR + 0x80) return this.irr[(offset - APIC_IRR) >> 4];
    if (offset >= APIC_LVT_TIMER && offset <= APIC_LVT_ERROR) return this.lvt[(offset - APIC_LVT_TIMER) >> 4];
    switch (offset) {
      case APIC_ID: return this.idReg;
      case APIC_VERSION: return LAPIC_VERSION;
      case APIC_TPR: return this.tpr;
      case APIC_APR: return this.apr();
      case APIC_PPR: return this.ppr();
      case APIC_EOI: return 0; // write-only
      case APIC_RRD: return 0; // no remote reads
      case APIC_LDR: return this.ldr;
      case APIC_DFR: return this.dfr;
      case APIC_SVR: return this.svr;
      case APIC_ESR: return this.esr;
      case APIC_ICR_LO: return this.icrLo & ~LVT_DELIVERY_STATUS;
      case APIC_ICR_HI: return this.icrHi;
      case APIC_TIMER_INITIAL: return this.timerInitial;
      case APIC_TIMER_CURRENT: return this.currentCount(this.clock.nowNs());
      case APIC_TIMER_DIVIDE: return this.timerDivide;
      default:
        if (!probe && offset <= 0x3f0) this.signalError(ESR_ILLEGAL_REGISTER);
        return 0;
    }
  }

  /** Write a whole register at a 16-byte-aligned offset. */
  private writeReg(offset: number, value: number): void {
    value >>>= 0;
    if (offset >= APIC_LVT_TIMER && offset <= APIC_LVT_ERROR) {
      this.writeLvt((offset - APIC_LVT_TIMER) >> 4, value);
      return;
    }
    switch (offset) {
      case APIC_ID:
        this.idReg = value & 0xff000000;
        break;
      case APIC_TPR:
        this.tpr = value & 0xff;
        this.update();
        break;
      case APIC_EOI:
        this.eoi();
        break;
      case APIC_LDR:
        this.ldr = value & 0xff000000;
        break;
      case APIC_DFR:
        this.dfr = (value | 0x0fffffff) >>> 0;
        break;
      case APIC_SVR:
        this.svr = value & SVR_WRITABLE;
        if (!this.swEnabled) {
          for (let i = 0; i < LVT_COUNT; i++) this.lvt[i] |= LVT_MASKED;
          this.extIntPending = false;
        }
        this.update();
        break;
      case APIC_ESR:
        this.esr = this.esrPending;
        this.esrPending = 0;
        break;
      case APIC_ICR_LO:
        this.icrLo = value & ICR_LO_WRITABLE;
        this.sendIpi();
        break;
      case APIC_ICR_HI:
        this.icrHi = value & 0xff000000;
        break;
      case APIC_TIMER_INITIAL:
        this.writeInitialCount(value);
        break;
      case APIC_TIMER_DIVIDE:
        this.writeDivide(value);
        break;
      case APIC_VERSION: case APIC_APR: case APIC_PPR: case APIC_RRD: case APIC_TIMER_CURRENT:
        break; // read-only
      default:
        if (offset >= APIC_ISR && offset < APIC_IRR + 0x80) break; // ISR, TMR, IRR: read-only
        if (offset <= 0x3f0) this.signalError(ESR_ILLEGAL_REGISTER);
        break;
    }
  }

  /** The offset in the register page, or -1 if `addr` is not in it (or the APIC is globally disabled). */
  private pageOffset(addr: number): number {
    this.syncBase();
    if (!this.hwEnabled) return -1;
    const offset = ((addr >>> 0) - this.baseAddress()) >>> 0;
    return offset < 0x1000 ? offset : -1;
  }

  mmioRead(addr: number, size: 1 | 2 | 4): number {
    const offset = this.pageOffset(addr);
    if (offset < 0) return size === 4 ? -1 : (1 << (size * 8)) - 1;
    if (size === 4 && (offset & 0xf) === 0) return this.readReg(offset, false) | 0;
    let value = 0;
    let slot = -1;
    let reg = 0;
    for (let i = 0; i < size; i++) {
      const o = (offset + i) & 0xfff;
      if ((o & 0xf) >= 4) continue;
      if ((o & ~0xf) !== slot) {
        slot = o & ~0xf;
        reg = this.readReg(slot, false);
      }
      value |= ((reg >>> ((o & 3) * 8)) & 0xff) << (i * 8);
    }
    return size === 4 ? value | 0 : value;
  }

  mmioWrite(addr: number, size: 1 | 2 | 4, value: number): void {
    const offset = this.pageOffset(addr);
    if (offset < 0) return;
    if (size === 4 && (offset & 0xf) === 0) {
      this.writeReg(offset, value);
      return;
    }
    // Merge the bytes that fall in each register's dword into its current value.
    let i = 0;
    while (i < size) {
      const slot = (offset + i) & 0xff0;
      let merged: number | null = null;
      for (; i < size && ((offset + i) & 0xff0) === slot; i++) {
        const o = (offset + i) & 0xf;
        if (o >= 4) continue;
        merged ??= this.readReg(slot, true);
        const shift = o * 8;
        merged = ((merged & ~(0xff << shift)) | (((value >>> (i * 8)) & 0xff) << shift)) >>> 0;
      }
      if (merged !== null) this.writeReg(slot, merged);
    }
  }

  // ------------------------------------------------------------ save/restore

  save(): LocalApicState {
    const now = this.clock.nowNs();
    const mode = this.timerMode();
    return {
      kind: 'lapic',
      version: 1,
      hwEnabled: this.hwEnabled,
      id: this.idReg,
      tpr: this.tpr,
      ldr: this.ldr,
      dfr: this.dfr,
      svr: this.svr,
      irr: Array.from(this.irr),
      isr: Array.from(this.isr),
      tmr: Array.from(this.tmr),
      esr: this.esr,
      esrPending: this.esrPending,
      icrLo: this.icrLo,
      icrHi: this.icrHi,
      lvt: Array.from(this.lvt),
      timerInitial: this.timerInitial,
      timerDivide: this.timerDivide,
      timerDeadlineInNs: this.timerArmed && mode !== TIMER_TSC_DEADLINE ? this.timerStart + this.periodNs() - now : null,
      tscDeadlineInNs: this.tscDeadline !== null && mode === TIMER_TSC_DEADLINE ? this.tscDeadline - now : null,
      lint0: this.lint[0],
      lint1: this.lint[1],
      extIntPending: this.extIntPending,
    };
  }

  restore(state: LocalApicState): void {
    const name = 'lapic';
    const raw = state as unknown;
    if (typeof raw !== 'object' || raw === null) badState(name, 'not an object');
    const r = raw as Record<string, unknown>;
    if (r.kind !== 'lapic') badState(name, `wrong kind ${String(r.kind)}`);
    if (r.version !== 1) badState(name, `unsupported version ${String(r.version)}`);
    for (const f of ['hwEnabled', 'lint0', 'lint1', 'extIntPending'] as const) {
      if (typeof r[f] !== 'boolean') badState(name, `${f} is not a boolean`);
    }
    for (const f of ['id', 'tpr', 'ldr', 'dfr', 'svr', 'esr', 'esrPending', 'icrLo', 'icrHi', 'timerInitial', 'timerDivide'] as const) {
      if (!isDword(r[f])) badState(name, `${f} is not a dword`);
    }
    for (const f of ['irr', 'isr', 'tmr'] as const) {
      const a = r[f];
      if (!Array.isArray(a) || a.length !== 8 || !a.every(isDword)) badState(name, `${f} is not 8 dwords`);
      if (a[0] & 0xffff) badState(name, `${f} has vectors below 16`);
    }
    const lvt = r.lvt;
    if (!Array.isArray(lvt) || lvt.length !== LVT_COUNT || !lvt.every(isDword)) badState(name, `lvt is not ${LVT_COUNT} dwords`);
    const s = raw as LocalApicState;
    if (s.id & 0x00ffffff) badState(name, 'id has bits below 24');
    if (s.tpr > 0xff) badState(name, 'tpr out of range');
    if (s.ldr & 0x00ffffff) badState(name, 'ldr has bits below 24');
    if ((s.dfr & 0x0fffffff) !== 0x0fffffff) badState(name, 'dfr bits 27-0 must be set');
    if (s.svr & ~SVR_WRITABLE) badState(name, 'svr has reserved bits');
    if (s.esr > 0xff || s.esrPending > 0xff) badState(name, 'esr out of range');
    if (s.icrLo & ~ICR_LO_WRITABLE) badState(name, 'icrLo has reserved bits');
    if (s.icrHi & 0x00ffffff) badState(name, 'icrHi has bits below 24');
    if (s.timerDivide & ~TDCR_WRITABLE) badState(name, 'timerDivide has reserved bits');
    for (let i = 0; i < LVT_COUNT; i++) {
      let allowed: number = LVT_WRITABLE[i];
      if (i === LVT_TIMER && this.opts.tscDeadline) allowed |= LVT_TIMER_TSC_DEADLINE;
      if (i === LVT_LINT0 || i === LVT_LINT1) allowed |= LVT_REMOTE_IRR;
      if (s.lvt[i] & ~allowed) badState(name, `lvt[${i}] has reserved bits`);
      if (!(s.svr & SVR_ENABLE) && !(s.lvt[i] & LVT_MASKED)) badState(name, `lvt[${i}] unmasked while the APIC is software-disabled`);
    }
    const timerDeadlineInNs = s.timerDeadlineInNs;
    if (timerDeadlineInNs !== null) {
      if (typeof timerDeadlineInNs !== 'number' || !Number.isFinite(timerDeadlineInNs)) badState(name, 'timerDeadlineInNs is not a number');
      if (s.timerInitial === 0) badState(name, 'timer counting with initial count 0');
      if (timerDeadlineInNs > s.timerInitial * divisorOf(s.timerDivide)) badState(name, 'timerDeadlineInNs beyond one period');
    }
    const tscDeadlineInNs = s.tscDeadlineInNs;
    if (tscDeadlineInNs !== null) {
      if (typeof tscDeadlineInNs !== 'number' || !Number.isFinite(tscDeadlineInNs)) badState(name, 'tscDeadlineInNs is not a number');
      if (!this.opts.tscDeadline) badState(name, 'TSC deadline armed but the option is off');
    }

    const now = this.clock.nowNs();
    this.hwEnabled = s.hwEnabled;
    this.idReg = s.id;
    this.tpr = s.tpr;
    this.ldr = s.ldr;
    this.dfr = s.dfr;
    this.svr = s.svr;
    this.irr.set(s.irr);
    this.isr.set(s.isr);
    this.tmr.set(s.tmr);
    this.esr = s.esr;
    this.esrPending = s.esrPending;
    this.icrLo = s.icrLo;
    this.icrHi = s.icrHi;
    this.lvt.set(s.lvt);
    this.timerInitial = s.timerInitial;
    this.timerDivide = s.timerDivide;
    this.timerArmed = timerDeadlineInNs !== null;
    this.timerStart = timerDeadlineInNs !== null ? now + timerDeadlineInNs - this.periodNs() : 0;
    this.tscDeadline = tscDeadlineInNs !== null ? now + tscDeadlineInNs : null;
    this.lint[0] = s.lint0;
    this.lint[1] = s.lint1;
    this.extIntPending = s.extIntPending;
    this.update(true);
  }
}

/** The IO-APIC's destination filter for one APIC (see `LocalApic.matchesDestination`). */
export function matchesDestination(apic: LocalApic, dest: number, logical: boolean): boolean {
  return apic.matchesDestination(dest, logical);
}
