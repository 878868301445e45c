/**
 * The two chipset functions on PCI bus 0 of an i440FX/PIIX3 board:
 *
 * `I440fxHostBridge` (00:00.0, 8086:1237 rev 2, class 06:00:00 host bridge),
 * the 82441FX PCI and memory controller. Its memory-controller registers are
 * stored and read back but do not change how memory decodes here:
 * PMCCFG..DRAMT (0x50-0x58), DRB0-7 (0x60-0x67), FDHC (0x68), MTT/CLT
 * (0x70-0x71), ERRCMD (0x90) and ERRSTS (0x91, write 1 to clear). The PAM
 * registers 0x59-0x5F (read/write enables for the BIOS and option-ROM
 * shadow segments: PAM0 bits 5:4 for 0xF0000-0xFFFFF, PAMn for n = 1-6 bits
 * 1:0 / 5:4 for the low / high 16 KiB of 0xC0000 + (n-1) * 32 KiB) report
 * every change through `onPamChange(pam, value)`, and `pamRegions()` decodes
 * them, for BIOS shadowing later. SMRAM (0x72) is stored with its lock:
 * C_BASE_SEG (bits 2:0) is fixed at 010 (0xA0000); once D_LCK (bit 4) is
 * written 1, D_OPEN clears and D_OPEN, D_LCK and G_SMRAME become read-only
 * until reset; changes are reported through `onSmramChange`.
 *
 * `Piix3IsaBridge` (00:01.0, 8086:7000, class 06:01:00 ISA bridge, header
 * type 0x80: the PIIX3 is multi-function, IDE and USB live at 01.1/01.2),
 * the 82371SB PCI-to-ISA bridge. Registers kept (writable, with their reset
 * values): IORT 0x4C (0x4D), XBCS 0x4E-0x4F (0x0003), PIRQRC[A:D] 0x60-0x63
 * (0x80), TOM 0x69 (0x02), MSTAT 0x6A-0x6B, MBIRQ0/1 0x70-0x71 (0x80), MBDMA
 * 0x76-0x77 (0x0C), PCSC 0x78-0x79 (0x0002), APICBASE 0x80, DLC 0x82 (Linux
 * sets its passive-release bit), SMI registers 0xA0-0xAE. Their side effects
 * (ISA decode, DMA, SMI, APIC relocation) are not modelled, except PIRQ
 * routing.
 *
 * PIRQ routing (PIC mode). The board wires INTx pin `pin` (0 = INTA) of the
 * device in `slot` to PIRQ[(slot + pin) & 3] (`pciIntxToPirq`), the same
 * rotation as the IO-APIC wiring `pciIntxToGsi` (GSI 16 + ((slot + pin) & 7)).
 * PIRQRC[n] (0x60 + n) steers PIRQ n to ISA IRQ bits 3:0 when bit 7 is clear;
 * IRQs 0-2, 8 and 13 are reserved values and route nowhere. An ISA IRQ driven
 * through the router is the wired-OR of every asserted PIRQ steered to it
 * (level-triggered: the OS marks it in the ELCR). The machine feeds the PCI
 * bus's per-slot/pin levels into `setIntx` and receives ISA IRQ levels through
 * `setIsaIrq`; re-steering a PIRQ while it is asserted drops the old IRQ and
 * raises the new one. In APIC mode the same PCI levels reach the IO-APIC
 * directly (PciBus.setGsi) and the router is normally left disabled.
 */
import {
  PCI_STATUS_DEVSEL_MEDIUM,
  PCI_STATUS_FAST_BACK,
  PCI_COMMAND_IO,
  PCI_COMMAND_MASTER,
  PCI_COMMAND_MEMORY,
  PCI_COMMAND_PARITY,
  PCI_COMMAND_SERR,
  PCI_COMMAND_SPECIAL,
  PCI_CACHE_LINE_SIZE,
  PCI_COMMAND,
  PCI_LATENCY_TIMER,
  PCI_HEADER_TYPE_MULTI_FUNCTION,
  PCI_INTERRUPT_LINE,
  PciFunction,
} from './pci.js';

export const INTEL_VENDOR_ID = 0x8086;

// ------------------------------------------------------------------ i440FX

export const I440FX_DEVICE_ID = 0x1237;
export const I440FX_PAM0 = 0x59;
export const I440FX_PAM_COUNT = 7;
export const I440FX_SMRAM = 0x72;

const SMRAM_D_OPEN = 0x40;
const SMRAM_D_CLS = 0x20;
const SMRAM_D_LCK = 0x10;
const SMRAM_G_SMRAME = 0x08;
const SMRAM_C_BASE_SEG = 0x02; // 010: SMRAM at 0xA0000
const SMRAM_WRITABLE = SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME;

/** One shadowable segment and what its PAM field allows. */
export interface PamRegion {
  base: number;
  size: number;
  /** Reads go to DRAM (else to PCI/ROM). */
  readDram: boolean;
  /** Writes go to DRAM (else to PCI/ROM). */
  writeDram: boolean;
}

export interface I440fxOptions {
  /** PAM register `pam` (0-6, config offset 0x59 + pam) now holds `value`. */
  onPamChange?: (pam: number, value: number) => void;
  /** SMRAM (0x72) now holds `value`. */
  onSmramChange?: (value: number) => void;
}

/** The segments PAM register `pam` controls: [low nibble, high nibble]; PAM0's low nibble controls nothing. */
export function pamSegments(pam: number): { low: { base: number; size: number } | null; high: { base: number; size: number } } {
  if (pam === 0) return { low: null, high: { base: 0xf0000, size: 0x10000 } };
  const base = 0xc0000 + (pam - 1) * 0x8000;
  return { low: { base, size: 0x4000 }, high: { base: base + 0x4000, size: 0x4000 } };
}

export class I440fxHostBridge extends PciFunction {
  onPamChange: (pam: number, value: number) => void;
  onSmramChange: (value: number) => void;
  private readonly reported = new Uint8Array(I440FX_PAM_COUNT + 1); // PAM0-6, then SMRAM

  constructor(options: I440fxOptions = {}) {
    super({
      vendorId: INTEL_VENDOR_ID,
      deviceId: I440FX_DEVICE_ID,
      classCode: 0x060000,
      revision: 0x02,
      command: PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
      status: PCI_STATUS_DEVSEL_MEDIUM | PCI_STATUS_FAST_BACK,
    });
    this.onPamChange = options.onPamChange ?? (() => {});
    this.onSmramChange = options.onSmramChange ?? (() => {});
    // Memory and bus-master enables are hard-wired on; parity and SERR# responses are writable.
    this.setWritable(PCI_COMMAND, 2, PCI_COMMAND_PARITY | PCI_COMMAND_SERR);
    this.setWritable(PCI_CACHE_LINE_SIZE, 1, 0);
    this.setWritable(PCI_LATENCY_TIMER, 1, 0xf8);
    this.setWritable(PCI_INTERRUPT_LINE, 1, 0);
    this.setWritable(0x50, 2, 0xffff); // PMCCFG
    this.wmask.fill(0xff, 0x52, 0x59); // DETURBO, DBC, AXC, DRAMR, DRAMC, DRAMT
    this.setConfig8(0x57, 0x01); // DRAMC
    this.setConfig8(0x58, 0x10); // DRAMT
    this.setWritable(I440FX_PAM0, 1, 0x30);
    for (let pam = 1; pam < I440FX_PAM_COUNT; pam++) this.setWritable(I440FX_PAM0 + pam, 1, 0x33);
    for (let row = 0; row < 8; row++) {
      this.setWritable(0x60 + row, 1, 0xff); // DRB
      this.setConfig8(0x60 + row, 0x01);
    }
    this.setWritable(0x68, 1, 0xc0); // FDHC
    this.setWritable(0x70, 2, 0xfff8); // MTT (bits 7:3), CLT
    this.setConfig8(0x70, 0x20);
    this.setConfig8(0x71, 0x10);
    this.setConfig8(I440FX_SMRAM, SMRAM_C_BASE_SEG);
    this.setWritable(I440FX_SMRAM, 1, SMRAM_WRITABLE);
    this.setWritable(0x90, 1, 0xff); // ERRCMD
    this.setWriteOneToClear(0x91, 1, 0xff); // ERRSTS
    this.reported.set(this.currentReportable());
  }

  /** PAM register `pam` (0-6). */
  pam(pam: number): number {
    return this.getConfig8(I440FX_PAM0 + pam);
  }

  /** The SMRAM control register. */
  get smram(): number {
    return this.getConfig8(I440FX_SMRAM);
  }

  /** The 13 shadowable segments, low addresses first, with their current PAM attributes. */
  pamRegions(): PamRegion[] {
    const regions: PamRegion[] = [];
    for (let pam = 1; pam < I440FX_PAM_COUNT; pam++) {
      const v = this.pam(pam);
      const seg = pamSegments(pam);
      if (seg.low) regions.push({ ...seg.low, readDram: (v & 0x01) !== 0, writeDram: (v & 0x02) !== 0 });
      regions.push({ ...seg.high, readDram: (v & 0x10) !== 0, writeDram: (v & 0x20) !== 0 });
    }
    const v0 = this.pam(0);
    regions.push({ ...pamSegments(0).high, readDram: (v0 & 0x10) !== 0, writeDram: (v0 & 0x20) !== 0 });
    return regions;
  }

  private currentReportable(): Uint8Array {
    const now = new Uint8Array(I440FX_PAM_COUNT + 1);
    for (let pam = 0; pam < I440FX_PAM_COUNT; pam++) now[pam] = this.pam(pam);
    now[I440FX_PAM_COUNT] = this.smram;
    return now;
  }

  private applySmramLock(): void {
    if (this.smram & SMRAM_D_LCK) {
      this.setConfig8(I440FX_SMRAM, this.smram & ~SMRAM_D_OPEN);
      this.setWritable(I440FX_SMRAM, 1, SMRAM_D_CLS);
    } else {
      this.setWritable(I440FX_SMRAM, 1, SMRAM_WRITABLE);
    }
  }

  private report(): void {
    const now = this.currentReportable();
    for (let pam = 0; pam < I440FX_PAM_COUNT; pam++) {
      if (now[pam] !== this.reported[pam]) {
        this.reported[pam] = now[pam];
        this.onPamChange(pam, now[pam]);
      }
    }
    if (now[I440FX_PAM_COUNT] !== this.reported[I440FX_PAM_COUNT]) {
      this.reported[I440FX_PAM_COUNT] = now[I440FX_PAM_COUNT];
      this.onSmramChange(now[I440FX_PAM_COUNT]);
    }
  }

  protected override configWritten(offset: number, size: number): void {
    if (offset <= I440FX_SMRAM && offset + size > I440FX_SMRAM) this.applySmramLock();
    this.report();
  }

  protected override configReloaded(): void {
    this.applySmramLock();
    this.report();
  }
}

// ------------------------------------------------------------------ PIIX3

export const PIIX3_DEVICE_ID = 0x7000;
export const PIIX3_PIRQRC = 0x60;
export const PIIX3_XBCS = 0x4e;
export const PIIX3_TOM = 0x69;
export const PIIX3_APICBASE = 0x80;
export const PIIX3_DLC = 0x82;

const PIRQ_DISABLE = 0x80;
/** ISA IRQs a PIRQ can be steered to (0-2, 8 and 13 are reserved values). */
const ROUTABLE_IRQS = 0xdef8;

/** The PIRQ line (0-3 = PIRQA-D) that INTx pin `pin` (0 = INTA) of `slot` is wired to. */
export function pciIntxToPirq(slot: number, pin: number): number {
  return (slot + pin) & 3;
}

export interface Piix3Options {
  /** The level of ISA IRQ `irq` as driven by the PIRQ router changed. */
  setIsaIrq?: (irq: number, level: boolean) => void;
}

export class Piix3IsaBridge extends PciFunction {
  setIsaIrq: (irq: number, level: boolean) => void;
  /** Per PIRQ: the asserted slot/pin inputs (slot * 4 + pin). */
  private readonly pirqInputs: Set<number>[] = [new Set(), new Set(), new Set(), new Set()];
  /** Bit n: ISA IRQ n is driven high by the router. */
  private isaLevels = 0;

  constructor(options: Piix3Options = {}) {
    super({
      vendorId: INTEL_VENDOR_ID,
      deviceId: PIIX3_DEVICE_ID,
      classCode: 0x060100,
      revision: 0x00,
      headerType: PCI_HEADER_TYPE_MULTI_FUNCTION,
      command: PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER,
      status: PCI_STATUS_DEVSEL_MEDIUM,
    });
    this.setIsaIrq = options.setIsaIrq ?? (() => {});
    // I/O, memory and bus master are hard-wired on; special cycles and SERR# are writable.
    this.setWritable(PCI_COMMAND, 2, PCI_COMMAND_SPECIAL | PCI_COMMAND_SERR);
    this.setWritable(PCI_CACHE_LINE_SIZE, 1, 0);
    this.setWritable(PCI_LATENCY_TIMER, 1, 0);
    this.setWritable(PCI_INTERRUPT_LINE, 1, 0);
    const reg = (offset: number, size: number, value: number, mask: number) => {
      for (let i = 0; i < size; i++) this.setConfig8(offset + i, (value >>> (8 * i)) & 0xff);
      this.setWritable(offset, size, mask);
    };
    reg(0x4c, 1, 0x4d, 0xff); // IORT
    reg(PIIX3_XBCS, 2, 0x0003, 0x03ff);
    for (let n = 0; n < 4; n++) reg(PIIX3_PIRQRC + n, 1, PIRQ_DISABLE, 0x8f);
    reg(PIIX3_TOM, 1, 0x02, 0xfe);
    reg(0x6a, 2, 0x0000, 0x00ff); // MSTAT
    reg(0x70, 1, 0x80, 0xef); // MBIRQ0
    reg(0x71, 1, 0x80, 0xef); // MBIRQ1
    reg(0x76, 1, 0x0c, 0x8f); // MBDMA0
    reg(0x77, 1, 0x0c, 0x8f); // MBDMA1
    reg(0x78, 2, 0x0002, 0xffff); // PCSC
    reg(PIIX3_APICBASE, 1, 0x00, 0x3f);
    reg(PIIX3_DLC, 1, 0x00, 0x0f);
    reg(0xa0, 1, 0x08, 0xff); // SMICNTL
    reg(0xa2, 2, 0x0000, 0xffff); // SMIEN
    reg(0xa4, 4, 0x00000000, 0xffffffff); // SEE
    reg(0xa8, 1, 0x0f, 0xff); // FTMR
    reg(0xaa, 2, 0x0000, 0xffff); // SMIREQ
    reg(0xac, 1, 0x00, 0xff); // CTLTMR
    reg(0xae, 1, 0x00, 0xff); // CTHTMR
  }

  /** The ISA IRQ PIRQ `n` (0-3) is steered to, or null (disabled or a reserved value). */
  pirqToIsaIrq(n: number): number | null {
    const v = this.getConfig8(PIIX3_PIRQRC + (n & 3));
    if (v & PIRQ_DISABLE) return null;
    const irq = v & 0x0f;
    return (ROUTABLE_IRQS >> irq) & 1 ? irq : null;
  }

  /** A PCI INTx level from the bus (`PciBus.setIntx`). */
  setIntx(slot: number, pin: number, level: boolean): void {
    const inputs = this.pirqInputs[pciIntxToPirq(slot, pin)];
    const key = slot * 4 + pin;
    if (level) inputs.add(key);
    else inputs.delete(key);
    this.updateIsa();
  }

  /** Whether PIRQ `n` is asserted. */
  pirqLevel(n: number): boolean {
    return this.pirqInputs[n & 3].size > 0;
  }

  /** Whether the router drives ISA IRQ `irq` high. */
  isaIrqLevel(irq: number): boolean {
    return ((this.isaLevels >> irq) & 1) !== 0;
  }

  private updateIsa(): void {
    let levels = 0;
    for (let n = 0; n < 4; n++) {
      const irq = this.pirqToIsaIrq(n);
      if (irq !== null && this.pirqInputs[n].size > 0) levels |= 1 << irq;
    }
    const changed = levels ^ this.isaLevels;
    this.isaLevels = levels;
    // Lower before raising, so a PIRQ moving between IRQs never shows on both.
    for (let irq = 0; irq < 16; irq++) if ((changed & ~levels) & (1 << irq)) this.setIsaIrq(irq, false);
    for (let irq = 0; irq < 16; irq++) if ((changed & levels) & (1 << irq)) this.setIsaIrq(irq, true);
  }

  protected override configWritten(offset: number, size: number): void {
    if (offset < PIIX3_PIRQRC + 4 && offset + size > PIIX3_PIRQRC) this.updateIsa();
  }

  protected override configReloaded(): void {
    this.updateIsa();
  }
}
