/**
 * A National Semiconductor 16550A UART, as found at COM1 (0x3F8, IRQ 4) and
 * COM2 (0x2F8, IRQ 3) on a PC.
 *
 * Design notes:
 * - The transmitter is infinitely fast: a byte written to THR leaves through
 *   `onTransmit` at once, so THRE and TEMT read back as 1 immediately. The
 *   THR-empty interrupt follows the 16550: it becomes pending whenever THRE is
 *   set while ETBEI is enabled (including when ETBEI is switched on with THRE
 *   already set), and is cleared by reading IIR while it is the reported
 *   source or by writing THR.
 * - The receiver takes host bytes through `receive()`. With FCR0 set they go
 *   into a 16-byte FIFO (overflow drops the new byte and sets OE); without it
 *   the single RBR is overwritten (the old byte is lost and OE is set).
 * - The character-timeout interrupt needs time: given a `Clock`, the UART is a
 *   `TimedDevice` and the timeout fires four character times (from DLL/DLM and
 *   LCR) after the last received byte or RBR read. Without a clock the timeout
 *   is reported as soon as the FIFO holds data below the trigger level.
 * - Interrupt priority (IIR): receiver line status > received data available /
 *   character timeout > THR empty > modem status.
 * - The interrupt reaches the PIC only through OUT2 (the PC's IRQ gate); in
 *   loopback mode the modem outputs are held inactive, so no IRQ reaches the
 *   PIC then, while IIR still reports pending sources.
 * - Loopback (MCR LOOP): THR bytes go to the receiver, and MSR's CTS/DSR/RI/DCD
 *   follow MCR's RTS/DTR/OUT1/OUT2.
 * - Not modelled: parity/framing errors and break on input, the TX FIFO
 *   (transmission is instant), DMA mode signalling (FCR3 is only stored).
 */
import { badState, readBytes, writeBytes, type Clock, type IrqLine, type Persistent, type PortDevice, type TimedDevice } from './device.js';

/** Register offsets from the base port. */
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

/** IER bits. */
const IER_ERBFI = 0x01; // received data available
const IER_ETBEI = 0x02; // transmitter holding register empty
const IER_ELSI = 0x04; // receiver line status
const IER_EDSSI = 0x08; // modem status

/** IIR values (bit 0 = 1 means no interrupt pending). */
const IIR_NONE = 0x01;
const IIR_MODEM_STATUS = 0x00;
const IIR_THR_EMPTY = 0x02;
const IIR_RX_DATA = 0x04;
const IIR_LINE_STATUS = 0x06;
const IIR_CHAR_TIMEOUT = 0x0c;
const IIR_FIFOS_ENABLED = 0xc0;

/** FCR bits. */
const FCR_FIFO_ENABLE = 0x01;
const FCR_RX_RESET = 0x02;
const FCR_TX_RESET = 0x04;
const FCR_STORED = 0xc9; // FIFO enable, DMA mode, trigger level
const RX_TRIGGER_LEVELS = [1, 4, 8, 14];

/** LCR bits. */
const LCR_DLAB = 0x80;

/** MCR bits. */
const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;
const MCR_WRITABLE = 0x1f;

/** LSR bits. */
const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_PE = 0x04;
const LSR_FE = 0x08;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;
const LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

/** MSR bits: deltas in 3:0, line states in 7:4. */
const MSR_DCTS = 0x01;
const MSR_DDSR = 0x02;
const MSR_TERI = 0x04;
const MSR_DDCD = 0x08;
const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;
const MSR_DELTAS = 0x0f;

const FIFO_SIZE = 16;
/** The PC UART's 1.8432 MHz crystal divided by 16. */
const BASE_BAUD = 115200;

/** The modem input lines as the host side drives them (CTS, DSR, RI, DCD). */
export interface ModemInputs {
  cts: boolean;
  dsr: boolean;
  ri: boolean;
  dcd: boolean;
}

/** Saved state of a 16550A. */
export interface Uart16550State {
  device: 'uart16550a';
  version: 1;
  dll: number;
  dlm: number;
  ier: number;
  lcr: number;
  mcr: number;
  fcr: number;
  scr: number;
  /** Sticky LSR error bits (OE, PE, FE, BI). */
  lsrErrors: number;
  /** MSR delta bits (DCTS, DDSR, TERI, DDCD). */
  msrDeltas: number;
  /** Host-driven modem inputs as MSR bits 7:4. */
  modemInputs: number;
  rxFifo: number[];
  thrEmptyPending: boolean;
  timeoutPending: boolean;
  /** Nanoseconds from the save time back to the last receiver activity (for the character timeout). */
  rxIdleNs: number;
}

export interface Uart16550Options {
  /** The machine's virtual clock; enables the character-timeout interrupt. */
  clock?: Clock;
  /** Where transmitted bytes go. */
  onTransmit?: (byte: number) => void;
}

export class Uart16550 implements PortDevice, TimedDevice, Persistent<Uart16550State> {
  /** Called with each byte the guest transmits (not in loopback mode). */
  onTransmit: (byte: number) => void;

  private readonly clock: Clock | undefined;
  private dll = 0x0c; // 9600 baud until the guest programs it
  private dlm = 0;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private fcr = 0;
  private scr = 0;
  private lsrErrors = 0;
  private msrDeltas = 0;
  private modemInputs = MSR_CTS | MSR_DSR | MSR_DCD;
  private rxFifo: number[] = [];
  private thrEmptyPending = false;
  private timeoutPending = false;
  private lastRxActivityNs = 0;
  private irqLevel = false;

  constructor(
    readonly base: number,
    private readonly irq: IrqLine,
    options: Uart16550Options = {},
  ) {
    this.clock = options.clock;
    this.onTransmit = options.onTransmit ?? (() => {});
  }

  // ---- host side ----

  /** Bytes arriving on the serial line. Returns how many were accepted (the rest overran). */
  receive(bytes: Iterable<number>): number {
    let accepted = 0;
    for (const b of bytes) if (this.receiveByte(b & 0xff)) accepted++;
    this.markRxActivity();
    this.updateIrq();
    return accepted;
  }

  /** How many more bytes the receiver can take without overrun. */
  rxSpace(): number {
    return this.rxCapacity() - this.rxFifo.length;
  }

  /** Drive the modem input lines (outside loopback mode they appear in MSR). */
  setModemInputs(lines: ModemInputs): void {
    const before = this.msrLines();
    this.modemInputs =
      (lines.cts ? MSR_CTS : 0) | (lines.dsr ? MSR_DSR : 0) | (lines.ri ? MSR_RI : 0) | (lines.dcd ? MSR_DCD : 0);
    this.noteModemChange(before);
    this.updateIrq();
  }

  // ---- port I/O ----

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => {
      const offset = p - this.base;
      return offset >= 0 && offset < 8 ? this.readRegister(offset) : 0xff;
    });
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    writeBytes(port, size, value, (p, byte) => {
      const offset = p - this.base;
      if (offset >= 0 && offset < 8) this.writeRegister(offset, byte);
    });
  }

  // ---- time ----

  nextDeadlineNs(): number {
    if (!this.clock || this.timeoutPending || !this.fifoEnabled() || this.rxFifo.length === 0) return Infinity;
    return this.lastRxActivityNs + 4 * this.characterTimeNs();
  }

  advance(nowNs: number): void {
    if (nowNs >= this.nextDeadlineNs()) {
      this.timeoutPending = true;
      this.updateIrq();
    }
  }

  /** One character time on the line: start bit, data bits, parity, stop bits at the programmed baud rate. */
  characterTimeNs(): number {
    const divisor = (this.dlm << 8) | this.dll || 0x10000;
    const dataBits = 5 + (this.lcr & 0x03);
    const stopBits = this.lcr & 0x04 ? 2 : 1;
    const parity = this.lcr & 0x08 ? 1 : 0;
    return ((1 + dataBits + parity + stopBits) * divisor * 1e9) / BASE_BAUD;
  }

  // ---- registers ----

  private readRegister(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR_DLL:
        return dlab ? this.dll : this.readRbr();
      case IER_DLM:
        return dlab ? this.dlm : this.ier;
      case IIR_FCR:
        return this.readIir();
      case LCR:
        return this.lcr;
      case MCR:
        return this.mcr;
      case LSR:
        return this.readLsr();
      case MSR:
        return this.readMsr();
      case SCR:
      default:
        return this.scr;
    }
  }

  private writeRegister(offset: number, value: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR_DLL:
        if (dlab) this.dll = value;
        else this.writeThr(value);
        break;
      case IER_DLM:
        if (dlab) this.dlm = value;
        else this.writeIer(value);
        break;
      case IIR_FCR:
        this.writeFcr(value);
        break;
      case LCR:
        this.lcr = value;
        break;
      case MCR:
        this.writeMcr(value);
        break;
      case LSR:
      case MSR:
        break; // read-only (factory test registers on the real part)
      case SCR:
      default:
        this.scr = value;
    }
  }

  private readRbr(): number {
    const byte = this.rxFifo.shift() ?? 0;
    this.timeoutPending = false;
    this.markRxActivity();
    this.updateIrq();
    return byte;
  }

  private writeThr(value: number): void {
    this.thrEmptyPending = false;
    this.updateIrq();
    if (this.mcr & MCR_LOOP) {
      this.receiveByte(value);
      this.markRxActivity();
    } else {
      this.onTransmit(value);
    }
    // The byte left at once: THRE is set again, which raises the THR-empty interrupt.
    if (this.ier & IER_ETBEI) this.thrEmptyPending = true;
    this.updateIrq();
  }

  private writeIer(value: number): void {
    const enablingThre = (value & IER_ETBEI) !== 0 && (this.ier & IER_ETBEI) === 0;
    this.ier = value & 0x0f;
    if (enablingThre) this.thrEmptyPending = true; // THRE is always set here
    this.updateIrq();
  }

  private writeFcr(value: number): void {
    const enable = (value & FCR_FIFO_ENABLE) !== 0;
    if (enable !== this.fifoEnabled()) {
      // Changing FIFO mode clears both FIFOs.
      this.rxFifo = [];
      this.timeoutPending = false;
    }
    if (!enable) {
      this.fcr = 0; // the other bits are only programmed with FCR0 set
    } else {
      this.fcr = value & FCR_STORED;
      if (value & FCR_RX_RESET) {
        this.rxFifo = [];
        this.timeoutPending = false;
      }
      if (value & FCR_TX_RESET) {
        // The transmitter is always empty; nothing to discard.
      }
    }
    this.updateIrq();
  }

  private writeMcr(value: number): void {
    const before = this.msrLines();
    this.mcr = value & MCR_WRITABLE;
    this.noteModemChange(before);
    this.updateIrq();
  }

  private readIir(): number {
    const source = this.interruptSource();
    if (source === IIR_THR_EMPTY) {
      this.thrEmptyPending = false;
      this.updateIrq();
    }
    return source | (this.fifoEnabled() ? IIR_FIFOS_ENABLED : 0);
  }

  private readLsr(): number {
    const value = this.lsrValue();
    this.lsrErrors = 0;
    this.updateIrq();
    return value;
  }

  private readMsr(): number {
    const value = this.msrLines() | this.msrDeltas;
    this.msrDeltas = 0;
    this.updateIrq();
    return value;
  }

  // ---- state helpers ----

  private fifoEnabled(): boolean {
    return (this.fcr & FCR_FIFO_ENABLE) !== 0;
  }

  private rxCapacity(): number {
    return this.fifoEnabled() ? FIFO_SIZE : 1;
  }

  private rxTriggerLevel(): number {
    return this.fifoEnabled() ? RX_TRIGGER_LEVELS[(this.fcr >> 6) & 3] : 1;
  }

  /** Put one byte into the receiver; false if it overran. */
  private receiveByte(byte: number): boolean {
    if (this.rxFifo.length < this.rxCapacity()) {
      this.rxFifo.push(byte);
      return true;
    }
    this.lsrErrors |= LSR_OE;
    // 16450 mode: the new character overwrites RBR. FIFO mode: the FIFO is kept and the new character is lost.
    if (!this.fifoEnabled()) this.rxFifo[0] = byte;
    return false;
  }

  private markRxActivity(): void {
    if (this.clock) this.lastRxActivityNs = this.clock.nowNs();
    this.timeoutPending = false;
  }

  private lsrValue(): number {
    return (this.rxFifo.length > 0 ? LSR_DR : 0) | this.lsrErrors | LSR_THRE | LSR_TEMT;
  }

  /** MSR bits 7:4: the modem inputs, or MCR's outputs looped back. */
  private msrLines(): number {
    if (!(this.mcr & MCR_LOOP)) return this.modemInputs;
    return (
      (this.mcr & MCR_RTS ? MSR_CTS : 0) |
      (this.mcr & MCR_DTR ? MSR_DSR : 0) |
      (this.mcr & MCR_OUT1 ? MSR_RI : 0) |
      (this.mcr & MCR_OUT2 ? MSR_DCD : 0)
    );
  }

  private noteModemChange(before: number): void {
    const after = this.msrLines();
    const changed = before ^ after;
    if (changed & MSR_CTS) this.msrDeltas |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDeltas |= MSR_DDSR;
    if (before & MSR_RI & ~after) this.msrDeltas |= MSR_TERI; // trailing edge of RI only
    if (changed & MSR_DCD) this.msrDeltas |= MSR_DDCD;
  }

  /** The highest-priority pending interrupt as IIR bits 3:0. */
  private interruptSource(): number {
    if (this.ier & IER_ELSI && this.lsrErrors & LSR_ERRORS) return IIR_LINE_STATUS;
    if (this.ier & IER_ERBFI && this.rxFifo.length > 0) {
      if (this.rxFifo.length >= this.rxTriggerLevel()) return IIR_RX_DATA;
      if (this.timeoutPending || (this.fifoEnabled() && !this.clock)) return IIR_CHAR_TIMEOUT;
    }
    if (this.ier & IER_ETBEI && this.thrEmptyPending) return IIR_THR_EMPTY;
    if (this.ier & IER_EDSSI && this.msrDeltas) return IIR_MODEM_STATUS;
    return IIR_NONE;
  }

  /** The level at the PIC: a pending interrupt, gated by OUT2 (held inactive in loopback). */
  private updateIrq(force = false): void {
    const level = this.interruptSource() !== IIR_NONE && (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2;
    if (level !== this.irqLevel || force) {
      this.irqLevel = level;
      this.irq.set(level);
    }
  }

  // ---- save/restore ----

  save(): Uart16550State {
    return {
      device: 'uart16550a',
      version: 1,
      dll: this.dll,
      dlm: this.dlm,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      fcr: this.fcr,
      scr: this.scr,
      lsrErrors: this.lsrErrors,
      msrDeltas: this.msrDeltas,
      modemInputs: this.modemInputs,
      rxFifo: [...this.rxFifo],
      thrEmptyPending: this.thrEmptyPending,
      timeoutPending: this.timeoutPending,
      rxIdleNs: this.clock ? Math.max(0, this.clock.nowNs() - this.lastRxActivityNs) : 0,
    };
  }

  restore(state: Uart16550State): void {
    const name = 'uart16550a';
    const s = state as unknown as Record<string, unknown>;
    if (typeof s !== 'object' || s === null) badState(name, 'not an object');
    if (s.device !== name) badState(name, `device is ${String(s.device)}`);
    if (s.version !== 1) badState(name, `unsupported version ${String(s.version)}`);
    const byteField = (key: string, mask = 0xff): number => {
      const v = s[key];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (v & ~mask) !== 0) badState(name, `bad ${key}`);
      return v;
    };
    const boolField = (key: string): boolean => {
      const v = s[key];
      if (typeof v !== 'boolean') badState(name, `bad ${key}`);
      return v;
    };
    const dll = byteField('dll');
    const dlm = byteField('dlm');
    const ier = byteField('ier', 0x0f);
    const lcr = byteField('lcr');
    const mcr = byteField('mcr', MCR_WRITABLE);
    const fcr = byteField('fcr', FCR_STORED);
    const scr = byteField('scr');
    const lsrErrors = byteField('lsrErrors', LSR_ERRORS);
    const msrDeltas = byteField('msrDeltas', MSR_DELTAS);
    const modemInputs = byteField('modemInputs', 0xf0);
    const fifo = s.rxFifo;
    const capacity = fcr & FCR_FIFO_ENABLE ? FIFO_SIZE : 1;
    if (
      !Array.isArray(fifo) ||
      fifo.length > capacity ||
      !fifo.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 0xff)
    ) {
      badState(name, 'bad rxFifo');
    }
    const thrEmptyPending = boolField('thrEmptyPending');
    const timeoutPending = boolField('timeoutPending');
    const idle = s.rxIdleNs;
    if (typeof idle !== 'number' || !Number.isFinite(idle) || idle < 0) badState(name, 'bad rxIdleNs');

    this.dll = dll;
    this.dlm = dlm;
    this.ier = ier;
    this.lcr = lcr;
    this.mcr = mcr;
    this.fcr = fcr;
    this.scr = scr;
    this.lsrErrors = lsrErrors;
    this.msrDeltas = msrDeltas;
    this.modemInputs = modemInputs;
    this.rxFifo = [...(fifo as number[])];
    this.thrEmptyPending = thrEmptyPending;
    this.timeoutPending = timeoutPending;
    this.lastRxActivityNs = this.clock ? this.clock.nowNs() - idle : 0;
    this.updateIrq(true);
  }
}

/** The PC's standard COM port resources. */
export const COM1 = { base: 0x3f8, irq: 4 } as const;
export const COM2 = { base: 0x2f8, irq: 3 } as const;
