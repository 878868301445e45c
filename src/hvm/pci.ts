/**
 * PCI bus 0 behind the host bridge, reached through configuration mechanism
 * #1 (ports 0xCF8 CONFIG_ADDRESS and 0xCFC-0xCFF CONFIG_DATA), and the
 * configuration space every PCI function has.
 *
 * Configuration mechanism #1:
 * - CONFIG_ADDRESS latches only on a dword access at 0xCF8: bit 31 enable,
 *   bits 23:16 bus, 15:11 device, 10:8 function, 7:2 dword register; bits
 *   30:24 and 1:0 are reserved and read 0. Byte and word accesses to
 *   0xCF8-0xCFB are ordinary I/O that nothing here decodes (writes vanish,
 *   reads float high): Linux's type-1 probe writes a byte to 0xCFB first and
 *   then expects its dword at 0xCF8 to read back. Port 0xCF9 is the PIIX3
 *   reset control register (sysctl.ts), which the machine decodes itself.
 * - CONFIG_DATA: a 1-, 2- or 4-byte access at 0xCFC + n reaches the register
 *   dword selected by CONFIG_ADDRESS at byte n. With the enable bit clear, on
 *   a bus other than 0, or for a device/function that does not exist, reads
 *   return all ones and writes are dropped. An access that runs past 0xCFF
 *   covers only the bytes up to 0xCFF (the rest read 0xFF).
 *
 * Configuration space (`PciFunction`): 256 bytes with a per-byte write mask
 * and a write-1-to-clear mask. The type-0 header is set up from the IDs:
 * vendor/device, revision, class code, header type, subsystem IDs, interrupt
 * pin are read-only; COMMAND bits I/O, memory, bus master, parity, SERR# and
 * INTx-disable are writable (0x0547); STATUS bits 15:11 and 8 are
 * write-1-to-clear, bit 3 (interrupt status) follows the function's INTx
 * request; cache line size, latency timer and interrupt line are writable.
 * Registers 0x40-0xFF are read-only zero unless a device makes them writable.
 *
 * BARs: `defineBar` declares an I/O or 32-bit memory BAR of a power-of-two
 * size. Its low bits are read-only (the type bits, and the address bits below
 * the size), so writing all ones reads back the size mask with the type bits,
 * as BAR sizing expects. I/O BARs decode 16 bits (bits 31:16 read 0). A BAR
 * decodes when its space is enabled in COMMAND and its base is non-zero and
 * the region ends below the top of its space (a BAR that still holds its
 * sizing pattern does not decode). Whenever where a BAR decodes changes (it
 * is moved, or COMMAND enables or disables its space) the function's
 * `barMapped` hook runs and the bus reports a `PciBarChange` through
 * `onBarChange`, so the machine can move the device's port or MMIO handlers.
 * Devices see their own config writes through `configWritten` and COMMAND
 * changes through `commandChanged`.
 *
 * Interrupts: a function asserts its INTx pin with `setIrq(level)`; COMMAND
 * bit 10 (INTx disable) holds the output low while STATUS bit 3 still shows
 * the request. The bus wire-ORs the functions of a slot per pin and reports
 * each change of slot/pin level through `setIntx(slot, pin, level)` (pin
 * 0 = INTA), which the machine connects to the PIIX3's PIRQ router
 * (piix.ts); it also wire-ORs the pins that share an IO-APIC input
 * (`pciIntxToGsi`) and reports those through `setGsi(gsi, level)`, for the
 * IO-APIC. Both are active-high levels here (the active-low wiring of the
 * board is the IO-APIC's/ELCR's business).
 *
 * Multi-function devices: a slot with functions other than 0 gets bit 7 of
 * function 0's header type set when they are added. Linux only looks for
 * functions 1-7 when function 0 exists and has that bit.
 */
import { badState, type Persistent, type PortDevice } from './device.js';

export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
export const PCI_CONFIG_DATA_PORT = 0xcfc;

/** Type-0 configuration header offsets. */
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

/** COMMAND bits. */
export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_SPECIAL = 0x0008;
export const PCI_COMMAND_PARITY = 0x0040;
export const PCI_COMMAND_SERR = 0x0100;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;

/** STATUS bits. */
export const PCI_STATUS_INTERRUPT = 0x0008;
export const PCI_STATUS_CAP_LIST = 0x0010;
export const PCI_STATUS_FAST_BACK = 0x0080;
export const PCI_STATUS_DEVSEL_MEDIUM = 0x0200;
/** Master data parity error, signalled/received target abort, received master abort, signalled SERR#, detected parity error. */
export const PCI_STATUS_W1C = 0xf900;

/** Header type bit 7: the device has more functions than 0. */
export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;

const DEFAULT_COMMAND_WRITABLE =
  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;

const CONFIG_ENABLE = 0x80000000;
/** CONFIG_ADDRESS bits that latch: enable, bus, device, function, register. */
const CONFIG_ADDRESS_MASK = 0x80fffffc;

export const PCI_SLOTS = 32;
export const PCI_FUNCTIONS = 8;
export const PCI_BARS = 6;

/**
 * The IO-APIC input (GSI) that INTx pin `pin` (0 = INTA) of the device in
 * `slot` on bus 0 is wired to. The ACPI _PRT describes exactly this wiring.
 */
export function pciIntxToGsi(slot: number, pin: number /* 0=INTA */): number {
  return 16 + ((slot + pin) & 7);
}

export type PciBarKind = 'io' | 'mem';

export interface PciBarSpec {
  kind: PciBarKind;
  /** Bytes decoded: a power of two, 4-256 for I/O, at least 16 for memory. */
  size: number;
  /** Memory BARs only: the prefetchable bit. */
  prefetchable?: boolean;
}

/** A BAR started decoding, moved, or stopped decoding (base null). */
export interface PciBarChange {
  fn: PciFunction;
  slot: number;
  func: number;
  bar: number;
  kind: PciBarKind;
  size: number;
  oldBase: number | null;
  newBase: number | null;
}

export interface PciFunctionIds {
  vendorId: number;
  deviceId: number;
  /** Base class, subclass, programming interface: 0xBBSSPP. */
  classCode: number;
  revision?: number;
  /** Header layout (bits 6:0) and, optionally, the multi-function bit 7. */
  headerType?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 0 = no interrupt, 1-4 = INTA#-INTD#. */
  interruptPin?: number;
  /** COMMAND at power-on. */
  command?: number;
  /** STATUS at power-on (read-only bits such as DEVSEL timing). */
  status?: number;
}

function checkInt(what: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`PCI: ${what} ${v} out of range ${min}-${max}`);
}

function ones(size: 1 | 2 | 4): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

/** One PCI function: its configuration space, BARs and INTx pin. */
export class PciFunction {
  /** The configuration space as it reads. */
  readonly config = new Uint8Array(256);
  /** Bits the guest can write, per byte. */
  protected readonly wmask = new Uint8Array(256);
  /** Bits a guest write of 1 clears, per byte. */
  protected readonly w1cmask = new Uint8Array(256);

  private readonly bars: (PciBarSpec | null)[] = new Array<PciBarSpec | null>(PCI_BARS).fill(null);
  private readonly decoding: (number | null)[] = new Array<number | null>(PCI_BARS).fill(null);
  private bus: PciBus | null = null;
  private slotNo = -1;
  private funcNo = -1;
  private powerOn: { config: Uint8Array; wmask: Uint8Array; w1cmask: Uint8Array } | null = null;
  private intxRequest = false;
  private intxOut = false;

  constructor(ids: PciFunctionIds) {
    checkInt('vendor ID', ids.vendorId, 0, 0xfffe);
    checkInt('device ID', ids.deviceId, 0, 0xffff);
    checkInt('class code', ids.classCode, 0, 0xffffff);
    const pin = ids.interruptPin ?? 0;
    checkInt('interrupt pin', pin, 0, 4);
    this.setConfig16(PCI_VENDOR_ID, ids.vendorId);
    this.setConfig16(PCI_DEVICE_ID, ids.deviceId);
    this.setConfig16(PCI_COMMAND, ids.command ?? 0);
    this.setConfig16(PCI_STATUS, ids.status ?? 0);
    this.setConfig8(PCI_REVISION_ID, ids.revision ?? 0);
    this.setConfig8(PCI_CLASS_PROG, ids.classCode & 0xff);
    this.setConfig16(PCI_CLASS_DEVICE, ids.classCode >>> 8);
    this.setConfig8(PCI_HEADER_TYPE, ids.headerType ?? 0);
    this.setConfig16(PCI_SUBSYSTEM_VENDOR_ID, ids.subsystemVendorId ?? 0);
    this.setConfig16(PCI_SUBSYSTEM_ID, ids.subsystemId ?? 0);
    this.setConfig8(PCI_INTERRUPT_PIN, pin);
    this.setWritable(PCI_COMMAND, 2, DEFAULT_COMMAND_WRITABLE);
    this.setWriteOneToClear(PCI_STATUS, 2, PCI_STATUS_W1C);
    this.setWritable(PCI_CACHE_LINE_SIZE, 1, 0xff);
    this.setWritable(PCI_LATENCY_TIMER, 1, 0xff);
    this.setWritable(PCI_INTERRUPT_LINE, 1, 0xff);
  }

  // ---- identity and placement ----

  get vendorId(): number {
    return this.getConfig16(PCI_VENDOR_ID);
  }

  get deviceId(): number {
    return this.getConfig16(PCI_DEVICE_ID);
  }

  get command(): number {
    return this.getConfig16(PCI_COMMAND);
  }

  /** 1-4 for INTA#-INTD#, 0 if the function has no interrupt. */
  get interruptPin(): number {
    return this.config[PCI_INTERRUPT_PIN];
  }

  /** The slot (device number) on bus 0, or -1 before `PciBus.add`. */
  get slot(): number {
    return this.slotNo;
  }

  /** The function number, or -1 before `PciBus.add`. */
  get func(): number {
    return this.funcNo;
  }

  /** @internal Called by `PciBus.add`. */
  attach(bus: PciBus, slot: number, func: number): void {
    if (this.bus) throw new Error('PCI: function is already on a bus');
    this.bus = bus;
    this.slotNo = slot;
    this.funcNo = func;
  }

  /** @internal Called by `PciBus.add`: the configuration `reset()` returns to. */
  capturePowerOn(): void {
    this.powerOn = { config: this.config.slice(), wmask: this.wmask.slice(), w1cmask: this.w1cmask.slice() };
  }

  /** @internal Called by `PciBus.add` on function 0 when the slot gains another function. */
  markMultiFunction(): void {
    this.config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
    if (this.powerOn) this.powerOn.config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
  }

  // ---- raw access for devices (no masks) ----

  getConfig8(offset: number): number {
    return this.config[offset & 0xff];
  }

  getConfig16(offset: number): number {
    return this.config[offset & 0xff] | (this.config[(offset + 1) & 0xff] << 8);
  }

  getConfig32(offset: number): number {
    return (this.getConfig16(offset) | (this.getConfig16(offset + 2) << 16)) >>> 0;
  }

  setConfig8(offset: number, value: number): void {
    this.config[offset & 0xff] = value;
  }

  setConfig16(offset: number, value: number): void {
    this.config[offset & 0xff] = value;
    this.config[(offset + 1) & 0xff] = value >>> 8;
  }

  setConfig32(offset: number, value: number): void {
    this.setConfig16(offset, value);
    this.setConfig16(offset + 2, value >>> 16);
  }

  /** Make `mask` (little-endian over `size` bytes) guest-writable at `offset`; other bits there become read-only. */
  protected setWritable(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.wmask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Make `mask` write-1-to-clear at `offset`. */
  protected setWriteOneToClear(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.w1cmask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  // ---- BARs ----

  /** Declare BAR `index` (0-5). Call from the device's constructor, before `PciBus.add`. */
  defineBar(index: number, spec: PciBarSpec): void {
    checkInt('BAR index', index, 0, PCI_BARS - 1);
    const { kind, size } = spec;
    const isPow2 = Number.isInteger(size) && size > 0 && (size & (size - 1)) === 0;
    if (!isPow2 || (kind === 'io' ? size < 4 || size > 256 : size < 16 || size > 0x80000000)) {
      throw new Error(`PCI: BAR ${index}: bad ${kind} size ${size}`);
    }
    const offset = PCI_BASE_ADDRESS_0 + 4 * index;
    this.bars[index] = { kind, size, prefetchable: kind === 'mem' && spec.prefetchable === true };
    const typeBits = kind === 'io' ? 0x1 : spec.prefetchable ? 0x8 : 0x0;
    const addressMask = kind === 'io' ? 0xfffc : 0xfffffff0;
    this.setConfig32(offset, typeBits);
    this.setWritable(offset, 4, (addressMask & ~(size - 1)) >>> 0);
  }

  /** The BAR's declaration, or null if the function has no such BAR. */
  barSpec(index: number): PciBarSpec | null {
    return this.bars[index] ?? null;
  }

  /** The address programmed into BAR `index` (type bits removed), whether or not it decodes. */
  barAddress(index: number): number {
    const spec = this.bars[index];
    if (!spec) return 0;
    const raw = this.getConfig32(PCI_BASE_ADDRESS_0 + 4 * index);
    return (spec.kind === 'io' ? raw & 0xfffc : raw & 0xfffffff0) >>> 0;
  }

  /** Where BAR `index` decodes now, or null. */
  barBase(index: number): number | null {
    return this.decoding[index] ?? null;
  }

  private computeDecode(index: number): number | null {
    const spec = this.bars[index];
    if (!spec) return null;
    const enable = spec.kind === 'io' ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    if (!(this.command & enable)) return null;
    const base = this.barAddress(index);
    const limit = spec.kind === 'io' ? 0x10000 : 0x100000000;
    if (base === 0 || base + spec.size >= limit) return null;
    return base;
  }

  /** Re-evaluate every BAR; report the ones whose decode address changed. */
  private updateDecode(): void {
    for (let i = 0; i < PCI_BARS; i++) {
      const spec = this.bars[i];
      if (!spec) continue;
      const old = this.decoding[i];
      const now = this.computeDecode(i);
      if (old === now) continue;
      this.decoding[i] = now;
      this.barMapped(i, now, old);
      this.bus?.barChanged({
        fn: this,
        slot: this.slotNo,
        func: this.funcNo,
        bar: i,
        kind: spec.kind,
        size: spec.size,
        oldBase: old,
        newBase: now,
      });
    }
  }

  // ---- hooks for devices ----

  /** BAR `index` now decodes at `base` (null: not at all); it decoded at `old` before. */
  protected barMapped(_index: number, _base: number | null, _old: number | null): void {}

  /** COMMAND changed (I/O, memory, bus master enables...). */
  protected commandChanged(_old: number, _now: number): void {}

  /** The guest wrote `size` bytes at `offset` (masks applied, BARs and INTx already updated). */
  protected configWritten(_offset: number, _size: number): void {}

  /** The configuration space was replaced by `reset()` or `PciBus.restore`: re-derive anything kept outside it. */
  protected configReloaded(): void {}

  // ---- guest access ----

  /** A guest read of `size` bytes at `offset` (little-endian; the bus never crosses a dword). */
  configRead(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.config[(offset + i) & 0xff] << (8 * i);
    return v >>> 0;
  }

  /** A guest write of `size` bytes at `offset`, through the write masks. */
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    const oldCommand = this.command;
    for (let i = 0; i < size; i++) {
      const at = (offset + i) & 0xff;
      const byte = (value >>> (8 * i)) & 0xff;
      const wm = this.wmask[at];
      this.config[at] = ((this.config[at] & ~wm) | (byte & wm)) & ~(byte & this.w1cmask[at]);
    }
    const command = this.command;
    if (command !== oldCommand) {
      this.updateIntx();
      this.commandChanged(oldCommand, command);
    }
    this.updateDecode();
    this.configWritten(offset, size);
  }

  // ---- INTx ----

  /** Assert (true) or deassert the function's INTx pin. */
  setIrq(level: boolean): void {
    this.intxRequest = level;
    const status = this.getConfig16(PCI_STATUS);
    this.setConfig16(PCI_STATUS, level ? status | PCI_STATUS_INTERRUPT : status & ~PCI_STATUS_INTERRUPT);
    this.updateIntx();
  }

  /** Whether the function drives its INTx pin now (requested, has a pin, not disabled in COMMAND). */
  get intxAsserted(): boolean {
    return this.intxOut;
  }

  /** Whether the function requests an interrupt (STATUS bit 3), even if COMMAND disables INTx. */
  get intxRequested(): boolean {
    return this.intxRequest;
  }

  private updateIntx(): void {
    const out = this.intxRequest && this.interruptPin !== 0 && !(this.command & PCI_COMMAND_INTX_DISABLE);
    if (out !== this.intxOut) {
      this.intxOut = out;
      this.bus?.intxChanged(this.slotNo);
    }
  }

  // ---- reset and reload ----

  /** Back to the configuration captured when the function was added to the bus (PCI RST#: the INTx request drops too). */
  reset(): void {
    if (!this.powerOn) return;
    this.load(this.powerOn.config, false, this.powerOn.wmask, this.powerOn.w1cmask);
  }

  /** @internal Replace the configuration space (restore, reset) and re-derive everything from it. */
  load(config: Uint8Array, intxRequest: boolean, wmask?: Uint8Array, w1cmask?: Uint8Array): void {
    this.config.set(config);
    if (wmask) this.wmask.set(wmask);
    if (w1cmask) this.w1cmask.set(w1cmask);
    this.intxRequest = intxRequest;
    this.updateIntx();
    this.updateDecode();
    this.configReloaded();
  }
}

// ------------------------------------------------------------------ the bus

export interface PciFunctionState {
  slot: number;
  func: number;
  /** The 256 configuration bytes. */
  config: number[];
  /** The function's INTx request. */
  intx: boolean;
}

export interface PciBusState {
  device: 'pci-bus';
  version: 1;
  configAddress: number;
  functions: PciFunctionState[];
}

export class PciBus implements PortDevice, Persistent<PciBusState> {
  /** The wired-OR level of INTx pin `pin` (0 = INTA) of `slot` changed: connect to the PIIX3's PIRQ router. */
  setIntx: (slot: number, pin: number, level: boolean) => void = () => {};
  /** The wired-OR level at IO-APIC input `gsi` (16-23, see `pciIntxToGsi`) changed. */
  setGsi: (gsi: number, level: boolean) => void = () => {};
  /** A BAR started decoding, moved or stopped decoding. */
  onBarChange: (change: PciBarChange) => void = () => {};

  private configAddress = 0;
  private readonly slots: (PciFunction | undefined)[][] = Array.from({ length: PCI_SLOTS }, () =>
    new Array<PciFunction | undefined>(PCI_FUNCTIONS).fill(undefined),
  );
  /** Per slot: bit p set while INT(A+p) is asserted. */
  private readonly pinLevels = new Uint8Array(PCI_SLOTS);
  /** Per GSI 16-23. */
  private readonly gsiLevels: boolean[] = new Array<boolean>(8).fill(false);

  /** Put `fn` at `slot`, function `func` (default 0). */
  add(slot: number, fn: PciFunction, func = 0): void {
    checkInt('slot', slot, 0, PCI_SLOTS - 1);
    checkInt('function', func, 0, PCI_FUNCTIONS - 1);
    if (this.slots[slot][func]) throw new Error(`PCI: 00:${hex2(slot)}.${func} is taken`);
    fn.attach(this, slot, func);
    this.slots[slot][func] = fn;
    const fn0 = this.slots[slot][0];
    fn.capturePowerOn();
    if (fn0 && this.slots[slot].some((f, i) => f && i > 0)) fn0.markMultiFunction();
    // Report BARs that decode from the start and an interrupt already requested.
    fn.load(fn.config.slice(), fn.intxRequested);
  }

  /** The function at `slot`.`func`, if any. */
  get(slot: number, func = 0): PciFunction | undefined {
    return this.slots[slot]?.[func];
  }

  /** Every function on the bus, by slot then function number. */
  *functions(): IterableIterator<PciFunction> {
    for (const slot of this.slots) for (const fn of slot) if (fn) yield fn;
  }

  /** The CONFIG_ADDRESS latch. */
  get address(): number {
    return this.configAddress;
  }

  /** Whether INTx pin `pin` (0 = INTA) of `slot` is asserted. */
  intxLevel(slot: number, pin: number): boolean {
    return ((this.pinLevels[slot] >> pin) & 1) !== 0;
  }

  /** Whether IO-APIC input `gsi` (16-23) is asserted by some PCI function. */
  gsiLevel(gsi: number): boolean {
    return gsi >= 16 && gsi < 24 && this.gsiLevels[gsi - 16];
  }

  // ---- configuration access (also for the machine and firmware tables) ----

  configRead(slot: number, func: number, offset: number, size: 1 | 2 | 4): number {
    const fn = this.slots[slot]?.[func];
    return fn ? fn.configRead(offset & 0xff, size) : ones(size);
  }

  configWrite(slot: number, func: number, offset: number, size: 1 | 2 | 4, value: number): void {
    this.slots[slot]?.[func]?.configWrite(offset & 0xff, size, value);
  }

  // ---- port I/O ----

  ioRead(port: number, size: 1 | 2 | 4): number {
    if (port === PCI_CONFIG_ADDRESS_PORT && size === 4) return this.configAddress >>> 0;
    if (port >= PCI_CONFIG_DATA_PORT && port <= PCI_CONFIG_DATA_PORT + 3) return this.dataRead(port, size);
    return ones(size);
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    if (port === PCI_CONFIG_ADDRESS_PORT && size === 4) {
      this.configAddress = (value & CONFIG_ADDRESS_MASK) >>> 0;
    } else if (port >= PCI_CONFIG_DATA_PORT && port <= PCI_CONFIG_DATA_PORT + 3) {
      this.dataWrite(port, size, value);
    }
  }

  /** The function CONFIG_ADDRESS selects, or null (disabled, other bus, nothing there). */
  private selected(): PciFunction | null {
    const a = this.configAddress;
    if (!(a & CONFIG_ENABLE) || ((a >>> 16) & 0xff) !== 0) return null;
    return this.slots[(a >>> 11) & 0x1f][(a >>> 8) & 7] ?? null;
  }

  private dataRead(port: number, size: 1 | 2 | 4): number {
    const fn = this.selected();
    if (!fn) return ones(size);
    const reg = this.configAddress & 0xfc;
    const at = port & 3;
    if (at + size <= 4) return fn.configRead(reg + at, size);
    let v = 0;
    for (let i = 0; i < size; i++) v |= (at + i < 4 ? fn.configRead(reg + at + i, 1) : 0xff) << (8 * i);
    return v >>> 0;
  }

  private dataWrite(port: number, size: 1 | 2 | 4, value: number): void {
    const fn = this.selected();
    if (!fn) return;
    const reg = this.configAddress & 0xfc;
    const at = port & 3;
    if (at + size <= 4) {
      fn.configWrite(reg + at, size, value);
    } else {
      for (let i = 0; at + i < 4; i++) fn.configWrite(reg + at + i, 1, (value >>> (8 * i)) & 0xff);
    }
  }

  // ---- interrupts and BAR reports from functions ----

  /** @internal A function of `slot` changed its INTx output. */
  intxChanged(slot: number): void {
    if (slot < 0) return;
    let levels = 0;
    for (const fn of this.slots[slot]) {
      if (fn?.intxAsserted) levels |= 1 << (fn.interruptPin - 1);
    }
    const changed = levels ^ this.pinLevels[slot];
    if (!changed) return;
    this.pinLevels[slot] = levels;
    for (let pin = 0; pin < 4; pin++) {
      if (!((changed >> pin) & 1)) continue;
      this.setIntx(slot, pin, ((levels >> pin) & 1) !== 0);
      this.updateGsi(pciIntxToGsi(slot, pin));
    }
  }

  private updateGsi(gsi: number): void {
    let level = false;
    for (let slot = 0; slot < PCI_SLOTS && !level; slot++) {
      const pins = this.pinLevels[slot];
      for (let pin = 0; pin < 4; pin++) {
        if ((pins >> pin) & 1 && pciIntxToGsi(slot, pin) === gsi) {
          level = true;
          break;
        }
      }
    }
    if (level !== this.gsiLevels[gsi - 16]) {
      this.gsiLevels[gsi - 16] = level;
      this.setGsi(gsi, level);
    }
  }

  /** @internal */
  barChanged(change: PciBarChange): void {
    if (change.slot >= 0) this.onBarChange(change);
  }

  // ---- reset, save/restore ----

  /** Every function back to its power-on configuration; CONFIG_ADDRESS cleared. */
  reset(): void {
    this.configAddress = 0;
    for (const fn of this.functions()) fn.reset();
  }

  save(): PciBusState {
    const functions: PciFunctionState[] = [];
    for (const fn of this.functions()) {
      functions.push({ slot: fn.slot, func: fn.func, config: [...fn.config], intx: fn.intxRequested });
    }
    return { device: 'pci-bus', version: 1, configAddress: this.configAddress, functions };
  }

  restore(state: PciBusState): void {
    const name = 'pci-bus';
    if (typeof state !== 'object' || (state as unknown) === null) badState(name, 'not an object');
    const s = state as unknown as Record<string, unknown>;
    if (s.device !== name) badState(name, `device is ${String(s.device)}`);
    if (s.version !== 1) badState(name, `unsupported version ${String(s.version)}`);
    const address = s.configAddress;
    if (typeof address !== 'number' || !Number.isInteger(address) || address < 0 || address > 0xffffffff || (address & ~CONFIG_ADDRESS_MASK) !== 0) {
      badState(name, 'bad configAddress');
    }
    if (!Array.isArray(s.functions)) badState(name, 'functions is not an array');
    const entries = s.functions as unknown[];
    const loads: { fn: PciFunction; config: Uint8Array; intx: boolean }[] = [];
    const seen = new Set<PciFunction>();
    for (const raw of entries) {
      if (typeof raw !== 'object' || raw === null) badState(name, 'function entry is not an object');
      const e = raw as Record<string, unknown>;
      const slot = e.slot;
      const func = e.func;
      if (typeof slot !== 'number' || typeof func !== 'number') badState(name, 'function entry without slot/func');
      const fn = this.slots[slot]?.[func];
      const where = `00:${hex2(slot)}.${func}`;
      if (!fn) badState(name, `${where}: no such function on this bus`);
      if (seen.has(fn)) badState(name, `${where}: saved twice`);
      seen.add(fn);
      const config = e.config;
      if (
        !Array.isArray(config) ||
        config.length !== 256 ||
        !config.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 0xff)
      ) {
        badState(name, `${where}: bad config`);
      }
      const bytes = Uint8Array.from(config as number[]);
      const ids = (b: Uint8Array) => b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
      if (ids(bytes) !== ids(fn.config)) badState(name, `${where}: saved vendor/device IDs do not match this function`);
      if (typeof e.intx !== 'boolean') badState(name, `${where}: bad intx`);
      loads.push({ fn, config: bytes, intx: e.intx });
    }
    for (const fn of this.functions()) {
      if (!seen.has(fn)) badState(name, `00:${hex2(fn.slot)}.${fn.func}: missing from the record`);
    }
    this.configAddress = address;
    for (const { fn, config, intx } of loads) fn.load(config, intx);
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
