/**
 * The PC an HVM domain runs on: one vCPU, its RAM, and the platform devices
 * the hypervisor emulates itself (xen/arch/x86/hvm): 8259A PIC pair, 8254
 * PIT, MC146818 RTC, local APIC and IO-APIC, ACPI PM block, 16550A UARTs,
 * i8042, ports 0x80/0x92/0xCF9, and PCI configuration mechanism #1 with an
 * i440FX host bridge and a PIIX3 ISA bridge.
 *
 * Interrupt wiring, as on a PIIX3 board in "virtual wire" mode:
 * - ISA IRQ n goes to PIC input n and to IO-APIC pin n, except IRQ 0 (the
 *   PIT), which the MADT overrides to pin 2;
 * - the PIC's INT output goes to the local APIC's LINT0 (ExtINT), the
 *   IO-APIC delivers to the local APIC, and the local APIC drives the CPU's
 *   INTR; EOIs of level-triggered vectors go back to the IO-APIC.
 *
 * Time: one `HostClock`. After every slice of guest instructions the machine
 * advances the devices whose deadline has passed. A vCPU halted with nothing
 * pending sleeps on the host (setTimeout) until the next device deadline, or
 * until `kick()` (host input), so an idle guest costs no host CPU.
 *
 * The machine ends with a fate, as a Xen domain does: power-off (ACPI S5),
 * reboot (a reset line), crash (triple fault, or a fault of the emulator
 * itself, which must never take the host process down), or stopped (by the
 * user).
 */
import { Cpu, Exit } from '../x86/cpu.js';
import { IF } from '../x86/constants.js';
import { GuestMemory, type IoBus } from '../x86/memory.js';
import { HostClock } from './clock.js';
import type { Clock, PortDevice, TimedDevice } from './device.js';
import { AcpiPm } from './acpi/pm.js';
import { buildAcpiTables, SLP_TYP_S5 } from './acpi/tables.js';
import { I8042 } from './i8042.js';
import { IoApic } from './ioapic.js';
import { LocalApic } from './lapic.js';
import { PciBus, pciIntxToGsi } from './pci.js';
import { I440fxHostBridge, Piix3IsaBridge } from './piix.js';
import { Pic8259 } from './pic.js';
import { PostPort, ResetControl, SystemControlPortA } from './sysctl.js';
import { Pit8254 } from './pit.js';
import { Mc146818Rtc } from './rtc.js';
import { COM1, COM2, Uart16550 } from './uart.js';

export type Fate =
  | { kind: 'poweroff' }
  | { kind: 'reboot'; reason: string }
  | { kind: 'crash'; reason: string }
  | { kind: 'halted'; reason: string }
  | { kind: 'stopped'; reason: string };

export interface MachineOptions {
  memoryMiB: number;
  /** COM1 output, a byte at a time. */
  onConsole?: (byte: number) => void;
  /** Bytes written to port 0xE9 (Bochs/QEMU debugcon) or 0x402 (SeaBIOS's log); absent = the ports are not decoded. */
  onDebugcon?: (byte: number) => void;
  /** Real time of the RTC at power-on (ms since the epoch); default: now. */
  rtcBaseMs?: number;
}

/**
 * Guest instructions per `cpu.run()` call. A slice ends at the next device
 * deadline, estimated from the measured instruction rate, so that timer
 * interrupts are raised on time and periodic ticks are not merged; these
 * bound it.
 */
const SLICE_MIN = 2_000;
const SLICE_MAX = 200_000;
/** Longest stretch of guest execution (ms) before the host event loop gets a turn. */
const YIELD_MS = 10;
/** Room past the end of RAM for the BIOS ROM image (mapped just below 4 GiB). */
const ROM_AREA = 256 << 10;
/** Where the firmware tables go: the BIOS area, which Linux's RSDP scan covers (0xE0000-0xFFFFF). */
export const FIRMWARE_TABLES_ADDR = 0xe0000;
export const FIRMWARE_TABLES_SIZE = 0x10000;

export class PcMachine implements IoBus {
  readonly mem: GuestMemory;
  readonly cpu: Cpu;
  readonly clock: HostClock;
  readonly memoryBytes: number;
  readonly pic = new Pic8259();
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  readonly pit: Pit8254;
  readonly rtc: Mc146818Rtc;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  readonly pm: AcpiPm;
  readonly i8042: I8042;
  readonly pci = new PciBus();
  readonly piix3: Piix3IsaBridge;
  readonly post = new PostPort();

  /** Port decode: one slot per I/O port. */
  private readonly ports: (PortDevice | undefined)[] = new Array<PortDevice | undefined>(0x10000);
  private readonly timed: TimedDevice[] = [];
  /** Ports the guest touched that nothing decodes, with counts (for diagnostics). */
  readonly unhandledPorts = new Map<number, number>();

  /** Host bytes for COM1 that its receive FIFO has no room for yet. */
  private consoleQueue: number[] = [];

  /** Measured guest instructions per host nanosecond (moving average), for sizing slices. */
  private rate = 0.02;

  fate: Fate | null = null;
  private wake: (() => void) | null = null;

  constructor(readonly options: MachineOptions) {
    const { memoryMiB } = options;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 4 || memoryMiB > 3072) {
      throw new Error(`memory ${memoryMiB} MiB: must be a whole number from 4 to 3072`);
    }
    this.memoryBytes = memoryMiB << 20;
    this.mem = new GuestMemory(this.memoryBytes, new SharedArrayBuffer(this.memoryBytes + ROM_AREA));
    // The legacy VGA window is not RAM.
    this.mem.unmap(0xa0000, 0x20000);
    this.clock = new HostClock();
    const clock: Clock = this.clock;
    this.cpu = new Cpu(this.mem, this);
    this.cpu.timeNs = () => clock.nowNs();

    // Interrupts: PIC -> LAPIC LINT0 (ExtINT) and IO-APIC -> LAPIC -> CPU INTR.
    const cpu = this.cpu;
    cpu.cpuidPolicy = { ...cpu.cpuidPolicy, apic: true, apicId: 0 };
    this.lapic = new LocalApic({
      id: 0,
      clock,
      apicBase: () => cpu.apicBase,
      setIntr: (level) => {
        cpu.irqLine = level;
      },
      extInt: this.pic,
      onEoi: (vector) => this.ioapic.eoi(vector),
      onNmi: () => {
        cpu.nmiPending = true;
      },
      // No BIOS runs before a direct kernel boot; leave LINT0/LINT1 as one would.
      virtualWire: true,
    });
    cpu.pic = this.lapic;
    cpu.onApicBaseWrite = () => this.lapic.apicBaseChanged();
    this.pic.onOutputChange = (level) => this.lapic.setLint0(level);
    this.ioapic = new IoApic({
      id: 1,
      deliver: (dest, destMode, deliveryMode, vector, level) => {
        if (this.lapic.matchesDestination(dest, destMode === 'logical')) this.lapic.acceptMessage(deliveryMode, vector, level);
      },
    });

    this.pit = new Pit8254(clock, this.isaIrq(0));
    this.rtc = new Mc146818Rtc(this.isaIrq(8), clock, options.rtcBaseMs ?? Date.now());
    this.com1 = new Uart16550(COM1.base, this.isaIrq(COM1.irq), { clock, onTransmit: (b) => options.onConsole?.(b) });
    this.com2 = new Uart16550(COM2.base, this.isaIrq(COM2.irq), { clock });

    this.mapPorts(0x20, 0x21, this.pic);
    this.mapPorts(0xa0, 0xa1, this.pic);
    this.mapPorts(0x4d0, 0x4d1, this.pic);
    this.mapPorts(0x40, 0x43, this.pit);
    this.mapPorts(0x61, 0x61, this.pit);
    this.mapPorts(0x70, 0x71, this.rtc);
    this.mapPorts(COM1.base, COM1.base + 7, this.com1);
    this.mapPorts(COM2.base, COM2.base + 7, this.com2);
    if (options.onDebugcon) {
      const out = options.onDebugcon;
      const debugcon: PortDevice = {
        ioRead: () => 0xe9,
        ioWrite: (_p, size, v) => {
          for (let i = 0; i < size; i++) out((v >>> (8 * i)) & 0xff);
        },
      };
      // 0xE9 as Bochs and QEMU's debugcon; 0x402 is where SeaBIOS writes its log.
      this.mapPorts(0xe9, 0xe9, debugcon);
      this.mapPorts(0x402, 0x402, debugcon);
    }
    const reset = (what: string) => () => this.end({ kind: 'reboot', reason: what });
    this.pm = new AcpiPm({
      clock,
      sci: this.isaIrq(9),
      onSleep: (type) => {
        if (type === SLP_TYP_S5) this.end({ kind: 'poweroff' });
      },
    });
    for (const r of this.pm.portRanges()) this.mapPorts(r.base, r.base + r.length - 1, this.pm);
    this.i8042 = new I8042({ kbdIrq: this.isaIrq(1), auxIrq: this.isaIrq(12), onReset: reset('reset through the i8042') });
    this.mapPorts(0x60, 0x60, this.i8042);
    this.mapPorts(0x64, 0x64, this.i8042);
    this.mapPorts(0x92, 0x92, new SystemControlPortA({ onReset: reset('reset through port 0x92') }));
    this.mapPorts(0x80, 0x80, this.post);
    this.mapPorts(0xcf9, 0xcf9, new ResetControl({ onReset: reset('reset through port 0xcf9') }));
    // PCI configuration mechanism #1; 0xCF9 inside its window is the PIIX3 reset control register.
    this.mapPorts(0xcf8, 0xcf8, this.pci);
    this.mapPorts(0xcfa, 0xcff, this.pci);
    this.piix3 = new Piix3IsaBridge({ setIsaIrq: (irq, level) => this.pirqIrq(irq, level) });
    this.pci.add(0, new I440fxHostBridge());
    this.pci.add(1, this.piix3);
    this.pci.setIntx = (slot, pin, level) => this.piix3.setIntx(slot, pin, level);
    this.pci.setGsi = (gsi, level) => this.ioapic.setIrq(gsi, level);

    this.timed.push(this.pit, this.rtc, this.com1, this.com2, this.pm, this.lapic);
    this.writeCmosMemorySize();
  }

  /**
   * The memory size in CMOS, where a BIOS without firmware configuration
   * reads it (SeaBIOS does): base memory in KiB (0x15/0x16), memory from 1 MiB
   * to 64 MiB in KiB (0x17/0x18 and 0x30/0x31), memory above 16 MiB in
   * 64 KiB units (0x34/0x35).
   */
  private writeCmosMemorySize(): void {
    const kib = this.memoryBytes >>> 10;
    const ext = Math.min(kib - 1024, 0xffff);
    const above16 = Math.min(Math.max(0, (this.memoryBytes - (16 << 20)) >>> 16), 0xffff);
    const nv: [number, number][] = [
      [0x15, 640 & 0xff], [0x16, 640 >>> 8],
      [0x17, ext & 0xff], [0x18, ext >>> 8], [0x30, ext & 0xff], [0x31, ext >>> 8],
      [0x34, above16 & 0xff], [0x35, above16 >>> 8],
    ];
    for (const [i, v] of nv) this.rtc.writeNvram(i, v);
  }

  /**
   * A BIOS ROM (64 KiB to 256 KiB): mapped so that it ends at 4 GiB, where
   * the reset vector is, with its last 128 KiB copied to 0xE0000-0xFFFFF as
   * a PC's chipset shows it there at power-on. The vCPU starts at F000:FFF0.
   */
  loadBios(rom: Uint8Array): void {
    if (rom.length < 0x10000 || rom.length > ROM_AREA || rom.length % 0x10000 !== 0) {
      throw new Error(`BIOS image is ${rom.length} bytes; it must be a multiple of 64 KiB from 64 KiB to ${ROM_AREA >> 10} KiB`);
    }
    this.mem.u8.set(rom, this.memoryBytes);
    this.mem.mapFrames(0x100000000 - rom.length, this.memoryBytes, rom.length);
    const low = rom.subarray(Math.max(0, rom.length - 0x20000));
    this.mem.load(0x100000 - low.length, low);
    this.cpu.reset();
  }

  /** Levels of the ISA IRQ lines from ISA devices, and from PCI interrupts routed by the PIIX3's PIRQ registers. */
  private readonly isaLevel = new Uint8Array(16);
  private readonly pirqLevel = new Uint8Array(16);

  /** The line of ISA IRQ `n`. */
  isaIrq(n: number): { set(level: boolean): void } {
    return {
      set: (level: boolean) => {
        this.isaLevel[n] = level ? 1 : 0;
        this.driveIsaIrq(n);
      },
    };
  }

  private pirqIrq(n: number, level: boolean): void {
    this.pirqLevel[n] = level ? 1 : 0;
    this.driveIsaIrq(n);
  }

  private driveIsaIrq(n: number): void {
    const level = (this.isaLevel[n] | this.pirqLevel[n]) !== 0;
    this.pic.setIrq(n, level);
    // The MADT overrides ISA IRQ 0 to IO-APIC pin 2; the others are identity-mapped.
    this.ioapic.setIrq(n === 0 ? 2 : n, level);
  }

  /**
   * The firmware tables of a direct kernel boot (what hvmloader builds for a
   * Xen HVM guest): ACPI with the MADT, FADT and DSDT of this machine, in the
   * BIOS area. Returns where they are, for the E820 map and boot_params.
   */
  loadFirmwareTables(): { addr: number; size: number; rsdp: number } {
    const t = buildAcpiTables({
      base: FIRMWARE_TABLES_ADDR,
      cpus: 1,
      ioapic: { id: 1 },
      pm: this.pm.ports,
      prt: pciIntxToGsi,
      memoryBytes: this.memoryBytes,
    });
    this.mem.load(FIRMWARE_TABLES_ADDR, t.bytes);
    return { addr: FIRMWARE_TABLES_ADDR, size: FIRMWARE_TABLES_SIZE, rsdp: t.rsdpAddress };
  }

  mapPorts(first: number, last: number, dev: PortDevice): void {
    for (let p = first; p <= last; p++) {
      if (this.ports[p]) throw new Error(`port 0x${p.toString(16)} is decoded twice`);
      this.ports[p] = dev;
    }
  }

  // ------------------------------------------------------------- IoBus

  ioRead(port: number, size: 1 | 2 | 4): number {
    const dev = this.ports[port];
    if (dev) return dev.ioRead(port, size);
    this.unhandled(port);
    return size === 4 ? -1 : (1 << (size * 8)) - 1;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    const dev = this.ports[port];
    if (dev) dev.ioWrite(port, size, value);
    else this.unhandled(port);
  }

  mmioRead(addr: number, size: 1 | 2 | 4): number {
    const page = (addr & ~0xfff) >>> 0;
    if (page === this.lapic.baseAddress()) return this.lapic.mmioRead(addr, size);
    if (page === this.ioapic.base) return this.ioapic.mmioRead(addr, size);
    return size === 4 ? -1 : (1 << (size * 8)) - 1;
  }

  mmioWrite(addr: number, size: 1 | 2 | 4, value: number): void {
    const page = (addr & ~0xfff) >>> 0;
    if (page === this.lapic.baseAddress()) this.lapic.mmioWrite(addr, size, value);
    else if (page === this.ioapic.base) this.ioapic.mmioWrite(addr, size, value);
  }

  private unhandled(port: number): void {
    this.unhandledPorts.set(port, (this.unhandledPorts.get(port) ?? 0) + 1);
  }

  // ------------------------------------------------------------- fates

  /** End the domain (first fate wins) and make the CPU return. */
  end(fate: Fate): void {
    this.fate ??= fate;
    this.cpu.requestStop();
    this.kick();
  }

  /** Bytes typed on the console: COM1 takes them as its FIFO drains, none is dropped. */
  consoleInput(bytes: Iterable<number>): void {
    for (const b of bytes) this.consoleQueue.push(b);
    this.pumpConsole();
    this.kick();
  }

  private pumpConsole(): void {
    if (this.consoleQueue.length === 0) return;
    const room = this.com1.rxSpace();
    if (room === 0) return;
    const taken = this.com1.receive(this.consoleQueue.slice(0, room));
    this.consoleQueue = this.consoleQueue.slice(taken);
  }

  /** Host input arrived (console bytes, a key): wake a sleeping vCPU. */
  kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  // ------------------------------------------------------------- time

  /** Advance every device whose deadline has come. */
  private serviceTimers(): void {
    const now = this.clock.nowNs();
    for (const d of this.timed) if (d.nextDeadlineNs() <= now) d.advance(now);
    this.pumpConsole();
  }

  private nextDeadlineNs(): number {
    let next = Infinity;
    for (const d of this.timed) next = Math.min(next, d.nextDeadlineNs());
    return next;
  }

  /**
   * Run guest code for up to `budget` instructions and bring the devices up
   * to date. Returns the CPU's exit; the fate is set if the domain ended.
   */
  step(budget = this.sliceBudget()): Exit {
    let exit: Exit;
    const t0 = performance.now(), i0 = this.cpu.icount;
    try {
      exit = this.cpu.run(budget);
      const ns = (performance.now() - t0) * 1e6, n = this.cpu.icount - i0;
      if (n >= SLICE_MIN && ns > 0) this.rate = 0.8 * this.rate + 0.2 * (n / ns);
    } catch (e) {
      // A host exception out of the emulator is a bug; the domain crashes, the host carries on.
      const err = e instanceof Error ? e : new Error(String(e));
      this.end({ kind: 'crash', reason: `emulator fault at eip 0x${(this.cpu.eip >>> 0).toString(16)}: ${err.stack ?? err.message}` });
      return Exit.Stop;
    }
    this.serviceTimers();
    if (exit === Exit.Shutdown) {
      this.end({ kind: 'crash', reason: `${this.cpu.shutdownReason} (triple fault) at eip 0x${(this.cpu.eip >>> 0).toString(16)}` });
    }
    return exit;
  }

  /** Instructions until the next device deadline at the measured rate. */
  private sliceBudget(): number {
    const ns = this.nextDeadlineNs() - this.clock.nowNs();
    return Math.max(SLICE_MIN, Math.min(SLICE_MAX, Math.floor(ns * this.rate)));
  }

  /** Run until the domain has a fate. */
  async run(): Promise<Fate> {
    let lastYield = performance.now();
    while (!this.fate) {
      const exit = this.step();
      if (this.fate) break;
      if (exit === Exit.Halt) {
        // serviceTimers may just have raised an interrupt the vCPU can take.
        if (this.cpu.irqLine && this.cpu.flags & IF) continue;
        if (!this.cpu.nmiPending && (this.cpu.flags & IF) === 0) {
          // Only an NMI could wake it, and nothing here raises one.
          this.end({ kind: 'halted', reason: 'the vCPU halted with interrupts disabled' });
          break;
        }
        await this.sleepUntil(this.nextDeadlineNs());
        this.serviceTimers();
        lastYield = performance.now();
      } else if (performance.now() - lastYield >= YIELD_MS) {
        await new Promise<void>((r) => setImmediate(r));
        lastYield = performance.now();
      }
    }
    return this.fate as Fate;
  }

  /** Sleep on the host until the clock reaches `ns`, or `kick()`. */
  private sleepUntil(ns: number): Promise<void> {
    const ms = this.clock.msUntil(ns);
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      this.wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      // With no deadline at all, still look again every second: the timer also keeps the event loop alive.
      if (ms < 1) setImmediate(() => this.kick());
      else timer = setTimeout(() => this.kick(), Math.min(ms, 1000));
    });
  }
}
