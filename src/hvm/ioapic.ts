/**
 * The Intel 82093AA I/O APIC: 24 interrupt input pins, each with a 64-bit
 * redirection table entry that turns the pin's signal into an interrupt
 * message for the local APICs.
 *
 * Design notes (behaviour follows the 82093AA datasheet; Xen's vioapic.c was
 * a model of behaviour only):
 *
 * - Registers are reached indirectly: IOREGSEL (base + 0x00, bits 7-0 select
 *   a register) and IOWIN (base + 0x10, the selected register's 32 bits).
 *   Registers: ID (0x00, bits 27-24), version (0x01: 0x00170011, 24 entries,
 *   version 0x11), arbitration ID (0x02, reads the ID bits), redirection
 *   table (0x10 + 2n: low dword of entry n, 0x11 + 2n: high dword). Other
 *   indices read 0 and ignore writes; so do other offsets in the window.
 *   Accesses narrower than a dword read the addressed bytes; a narrow IOWIN
 *   write merges into the selected register. 4-byte reads return a signed
 *   int32, like RAM reads on the bus.
 * - Entry low dword: vector (7-0), delivery mode (10-8), destination mode
 *   (11, 1 = logical), delivery status (12, always 0: messages go out at
 *   once), polarity (13, 1 = active low), Remote IRR (14, read-only), trigger
 *   mode (15, 1 = level), mask (16). High dword: destination (31-24). Reset
 *   masks every entry.
 * - Pins: `setIrq(pin, level)` gives the electrical level; the polarity bit
 *   decides whether that is "asserted". An edge-triggered entry sends a
 *   message when its pin becomes asserted while unmasked (an edge on a masked
 *   entry is lost). A level-triggered entry sends one while its pin is
 *   asserted, unmasked, and Remote IRR is clear, and sets Remote IRR; the
 *   local APIC's EOI for the vector (`eoi`) clears Remote IRR, and if the pin
 *   is still asserted the entry sends again. Unmasking a level entry whose pin
 *   is asserted sends it; so does making an entry level-triggered while its
 *   pin is asserted. An entry made edge-triggered loses its Remote IRR. A
 *   change of polarity is not an edge.
 * - Messages go out through the `deliver` callback with the entry's
 *   destination, destination mode, delivery mode, vector and trigger mode.
 *   The machine picks the local APICs (`LocalApic.matchesDestination`) and
 *   hands the message to `LocalApic.acceptMessage`, which implements the
 *   modes: fixed; lowest priority (the machine gives it to the first matching
 *   CPU); NMI; ExtINT (the local APIC runs an INTA cycle on the 8259A, which
 *   supplies the vector); SMI, INIT and reserved modes are dropped there.
 * - The pin levels are inputs from outside: `reset` keeps them.
 * - Save/restore keeps the ID, IOREGSEL, the table and the pin levels. No
 *   message is sent on restore (the local APIC's saved IRR holds what was
 *   in flight).
 */
import { badState, type IrqLine, type Persistent } from './device.js';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
export const IOAPIC_PINS = 24;
/** Version register: maximum redirection entry 23, version 0x11 (82093AA). */
export const IOAPIC_VERSION = 0x00170011;

export const IOREGSEL = 0x00;
export const IOWIN = 0x10;

export const IOAPIC_REG_ID = 0x00;
export const IOAPIC_REG_VERSION = 0x01;
export const IOAPIC_REG_ARB = 0x02;
export const IOAPIC_REG_REDIR = 0x10;

export const REDIR_MASKED = 0x10000;
export const REDIR_LEVEL = 0x8000;
export const REDIR_REMOTE_IRR = 0x4000;
export const REDIR_POLARITY_LOW = 0x2000;
const REDIR_LOGICAL = 0x800;
/** Writable low-dword bits: vector, delivery mode, destination mode, polarity, trigger mode, mask. */
const REDIR_LO_WRITABLE = 0x1afff;
const REDIR_HI_WRITABLE = 0xff000000;
const ID_MASK = 0x0f000000;

export interface IoApicOptions {
  /** Where the registers are (default 0xFEC00000). */
  base?: number;
  /** The IO-APIC ID (4 bits; default 1, so it does not collide with the BSP's local APIC ID 0). */
  id?: number;
  /** Send an interrupt message; `level` is the entry's trigger mode (level-triggered). */
  deliver: (dest: number, destMode: 'physical' | 'logical', deliveryMode: number, vector: number, level: boolean) => void;
}

export interface IoApicState {
  kind: 'ioapic';
  version: 1;
  /** The ID register (bits 27-24). */
  id: number;
  ioregsel: number;
  /** Redirection entries, low dwords (Remote IRR included). */
  redirLo: number[];
  /** Redirection entries, high dwords. */
  redirHi: number[];
  /** Pin levels, bit n = pin n. */
  lines: number;
}

function isDword(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

export class IoApic implements Persistent<IoApicState> {
  readonly base: number;
  private readonly initialId: number;
  private readonly deliverMessage: IoApicOptions['deliver'];
  private idReg = 0;
  private ioregsel = 0;
  private readonly redirLo = new Uint32Array(IOAPIC_PINS);
  private readonly redirHi = new Uint32Array(IOAPIC_PINS);
  /** Electrical pin levels, bit n = pin n. */
  private lines = 0;

  constructor(options: IoApicOptions) {
    const id = options.id ?? 1;
    if (!Number.isInteger(id) || id < 0 || id > 15) throw new RangeError(`ioapic: bad ID ${id}`);
    this.base = (options.base ?? IOAPIC_DEFAULT_BASE) >>> 0;
    this.initialId = id;
    this.deliverMessage = options.deliver;
    this.reset();
  }

  /** Power-up state: every entry masked; the pin levels stay (they are driven from outside). */
  reset(): void {
    this.idReg = this.initialId << 24;
    this.ioregsel = 0;
    this.redirLo.fill(REDIR_MASKED);
    this.redirHi.fill(0);
  }

  /** Pin `pin` as an `IrqLine`, for wiring devices. */
  line(pin: number): IrqLine {
    this.checkPin(pin);
    return { set: (level: boolean) => this.setIrq(pin, level) };
  }

  private checkPin(pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) throw new RangeError(`ioapic: no pin ${pin}`);
  }

  /** Is the pin asserted (its level, corrected by the entry's polarity)? */
  private asserted(pin: number, lines = this.lines): boolean {
    const high = ((lines >>> pin) & 1) !== 0;
    return high !== ((this.redirLo[pin] & REDIR_POLARITY_LOW) !== 0);
  }

  /** Drive pin `pin` (0-23) to electrical level `level`. */
  setIrq(pin: number, level: boolean): void {
    this.checkPin(pin);
    const before = this.asserted(pin);
    this.lines = level ? this.lines | (1 << pin) : this.lines & ~(1 << pin);
    const now = this.asserted(pin);
    if (this.redirLo[pin] & REDIR_LEVEL) this.serviceLevel(pin);
    else if (now && !before && !(this.redirLo[pin] & REDIR_MASKED)) this.send(pin);
  }

  /** A level-triggered entry sends while asserted, unmasked, and not waiting for its EOI. */
  private serviceLevel(pin: number): void {
    const lo = this.redirLo[pin];
    if (lo & (REDIR_MASKED | REDIR_REMOTE_IRR) || !this.asserted(pin)) return;
    this.redirLo[pin] = lo | REDIR_REMOTE_IRR;
    this.send(pin);
  }

  private send(pin: number): void {
    const lo = this.redirLo[pin];
    this.deliverMessage(
      this.redirHi[pin] >>> 24,
      lo & REDIR_LOGICAL ? 'logical' : 'physical',
      (lo >> 8) & 7,
      lo & 0xff,
      (lo & REDIR_LEVEL) !== 0,
    );
  }

  /** A local APIC's EOI for a level-triggered `vector`: clear Remote IRR, re-send if still asserted. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.redirLo[pin];
      if ((lo & 0xff) !== vector || !(lo & REDIR_REMOTE_IRR)) continue;
      this.redirLo[pin] = lo & ~REDIR_REMOTE_IRR;
      this.serviceLevel(pin);
    }
  }

  // ------------------------------------------------------------ registers

  private readRegister(index: number): number {
    if (index >= IOAPIC_REG_REDIR && index < IOAPIC_REG_REDIR + 2 * IOAPIC_PINS) {
      const pin = (index - IOAPIC_REG_REDIR) >> 1;
      return index & 1 ? this.redirHi[pin] : this.redirLo[pin];
    }
    switch (index) {
      case IOAPIC_REG_ID: return this.idReg;
      case IOAPIC_REG_VERSION: return IOAPIC_VERSION;
      case IOAPIC_REG_ARB: return this.idReg;
      default: return 0;
    }
  }

  private writeRegister(index: number, value: number): void {
    value >>>= 0;
    if (index === IOAPIC_REG_ID) {
      this.idReg = value & ID_MASK;
      return;
    }
    if (index < IOAPIC_REG_REDIR || index >= IOAPIC_REG_REDIR + 2 * IOAPIC_PINS) return; // read-only or absent
    const pin = (index - IOAPIC_REG_REDIR) >> 1;
    if (index & 1) {
      this.redirHi[pin] = value & REDIR_HI_WRITABLE;
      return;
    }
    let lo = value & REDIR_LO_WRITABLE;
    if (lo & REDIR_LEVEL) lo |= this.redirLo[pin] & REDIR_REMOTE_IRR;
    this.redirLo[pin] = lo;
    if (lo & REDIR_LEVEL) this.serviceLevel(pin);
  }

  /** The dword at a window offset (IOREGSEL or IOWIN), or null for other offsets. */
  private readDword(offset: number): number | null {
    if (offset === IOREGSEL) return this.ioregsel;
    if (offset === IOWIN) return this.readRegister(this.ioregsel);
    return null;
  }

  mmioRead(addr: number, size: 1 | 2 | 4): number {
    const offset = ((addr >>> 0) - this.base) >>> 0;
    let value = 0;
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      const dword = this.readDword(o & ~3);
      if (dword !== null) value |= ((dword >>> ((o & 3) * 8)) & 0xff) << (i * 8);
    }
    return size === 4 ? value | 0 : value;
  }

  mmioWrite(addr: number, size: 1 | 2 | 4, value: number): void {
    const offset = ((addr >>> 0) - this.base) >>> 0;
    if ((offset & ~3) === IOREGSEL) {
      // Only bits 7-0 of IOREGSEL exist.
      if (offset === IOREGSEL) this.ioregsel = value & 0xff;
      return;
    }
    if ((offset & ~3) !== IOWIN) return;
    if (size === 4 && offset === IOWIN) {
      this.writeRegister(this.ioregsel, value);
      return;
    }
    let merged = this.readRegister(this.ioregsel);
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if ((o & ~3) !== IOWIN) break;
      const shift = (o & 3) * 8;
      merged = ((merged & ~(0xff << shift)) | (((value >>> (i * 8)) & 0xff) << shift)) >>> 0;
    }
    this.writeRegister(this.ioregsel, merged);
  }

  // ------------------------------------------------------------ save/restore

  save(): IoApicState {
    return {
      kind: 'ioapic',
      version: 1,
      id: this.idReg,
      ioregsel: this.ioregsel,
      redirLo: Array.from(this.redirLo),
      redirHi: Array.from(this.redirHi),
      lines: this.lines,
    };
  }

  restore(state: IoApicState): void {
    const name = 'ioapic';
    const raw = state as unknown;
    if (typeof raw !== 'object' || raw === null) badState(name, 'not an object');
    const r = raw as Record<string, unknown>;
    if (r.kind !== 'ioapic') badState(name, `wrong kind ${String(r.kind)}`);
    if (r.version !== 1) badState(name, `unsupported version ${String(r.version)}`);
    if (!isDword(r.id) || r.id & ~ID_MASK) badState(name, 'id is not a 4-bit ID in bits 27-24');
    if (!isDword(r.ioregsel) || r.ioregsel > 0xff) badState(name, 'ioregsel is not a byte');
    if (!isDword(r.lines) || r.lines >= 1 << IOAPIC_PINS) badState(name, 'lines is not a 24-bit mask');
    const lo = r.redirLo;
    const hi = r.redirHi;
    if (!Array.isArray(lo) || lo.length !== IOAPIC_PINS || !lo.every(isDword)) badState(name, `redirLo is not ${IOAPIC_PINS} dwords`);
    if (!Array.isArray(hi) || hi.length !== IOAPIC_PINS || !hi.every(isDword)) badState(name, `redirHi is not ${IOAPIC_PINS} dwords`);
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      if (lo[pin] & ~(REDIR_LO_WRITABLE | REDIR_REMOTE_IRR)) badState(name, `redirLo[${pin}] has reserved bits`);
      if (lo[pin] & REDIR_REMOTE_IRR && !(lo[pin] & REDIR_LEVEL)) badState(name, `redirLo[${pin}] has Remote IRR on an edge-triggered entry`);
      if (hi[pin] & ~REDIR_HI_WRITABLE) badState(name, `redirHi[${pin}] has reserved bits`);
    }
    this.idReg = r.id;
    this.ioregsel = r.ioregsel;
    this.lines = r.lines;
    this.redirLo.set(lo);
    this.redirHi.set(hi);
  }
}
