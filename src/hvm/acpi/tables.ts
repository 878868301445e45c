/**
 * The platform's ACPI firmware tables, built at domain creation as Xen's
 * hvmloader builds them with tools/libacpi (here without any BIOS: the blob
 * is copied into guest memory and the kernel finds it by the legacy RSDP
 * scan of 0xE0000-0xFFFFF or through boot_params.acpi_rsdp_addr).
 *
 * Layout of the blob, from `base` (16-byte aligned; the whole blob must lie
 * in 0xE0000-0xFFFFF, where the RSDP scan looks on 16-byte boundaries):
 *   RSDP (36 bytes, at `base`), FACS (64-byte aligned), RSDT, XSDT, FADT,
 *   MADT, DSDT, each 16-byte aligned.
 *
 * - RSDP revision 2 with both the RSDT and the XSDT address and both
 *   checksums. RSDT and XSDT list the FADT and the MADT; the FADT points at
 *   the FACS and the DSDT (32-bit and X_ fields alike).
 * - FADT revision 4 (244 bytes, ACPI 3.0 layout): PM1a event/control, PM
 *   timer and GPE0 blocks in system I/O space, legacy and X_ fields equal;
 *   SCI_INT; SMI_CMD = 0, so the hardware is always in ACPI mode (PM1_CNT
 *   SCI_EN reads 1); no C2/C3 (P_LVL2_LAT 101, P_LVL3_LAT 1001); CENTURY =
 *   CMOS 0x32; IAPC_BOOT_ARCH LEGACY_DEVICES | 8042; flags WBINVD, PROC_C1,
 *   SLP_BUTTON (no fixed sleep button; the fixed power button exists),
 *   FIX_RTC (no RTC wake status in PM1), TMR_VAL_EXT (32-bit PM timer),
 *   RESET_REG_SUP with RESET_REG = byte at I/O port 0xCF9, value 0x06.
 * - FACS: 64 bytes, version 2, no waking vector (there is no S3).
 * - MADT: LAPIC base, PCAT_COMPAT; a Processor Local APIC per CPU (ACPI
 *   processor UID = APIC ID = 0..cpus-1, enabled); the IO-APIC; interrupt
 *   source overrides ISA IRQ 0 -> GSI base + 2 (edge, active high) and the
 *   SCI's ISA IRQ n -> GSI base + n (level, active high); a Local APIC NMI on LINT1 for
 *   all processors (UID 0xFF, edge, active high).
 * - DSDT (revision 2: 64-bit integers): \_S0 and \_S5 (the SLP_TYP values
 *   pm.ts recognises), \_PIC (takes the mode, does nothing: routing is the
 *   same in both modes as far as the tables go), processor devices
 *   \_SB.CPnn (ACPI0007, _UID = the MADT processor UID), and \_SB.PCI0:
 *   the host bridge (PNP0A03, _ADR 0, _UID 0, _BBN 0) with its _CRS windows
 *   (bus 0-255, I/O 0-0xCF7 and 0xD00-0xFFFF, the config ports 0xCF8-0xCFF,
 *   memory 0xA0000-0xBFFFF and from the end of RAM (rounded up to 1 MiB) to
 *   0xFEBFFFFF), a static _PRT for slots 1-31, INTA-INTD, giving GSIs
 *   (APIC mode only: PIC-mode routing through PCI interrupt link devices is
 *   not built, so a guest without an IO-APIC gets no PCI interrupts from
 *   ACPI), a motherboard resources device (PNP0C02) claiming the PM ports,
 *   and the PIIX3 ISA bridge ISA_ (_ADR 0x00010000) with the legacy devices:
 *   RTC (PNP0B00), keyboard controller (PNP0303), PS/2 mouse (PNP0F13),
 *   COM1 and COM2 (PNP0501), PIC (PNP0000), PIT (PNP0100).
 * - Every table's checksum makes its bytes sum to 0 (mod 256).
 */
import {
  concat, device, dwordMemory, eisaId, integer, io, irqNoFlags, method, name, pkg, resourceTemplate,
  scope, string, wordBusNumber, wordIo, ZERO, type Aml,
} from './aml.js';
import { PM1_CNT_LEN, PM1_EVT_LEN, PM_TMR_LEN, resolvePmPorts, SCI_IRQ, SLP_TYP_S0, SLP_TYP_S5, type AcpiPmPorts } from './pm.js';

export { SLP_TYP_S0, SLP_TYP_S5 } from './pm.js';

export const OEM_ID = 'TYPEVI';
export const OEM_TABLE_ID = 'TYPEVSR ';
export const OEM_REVISION = 1;
export const CREATOR_ID = 'TYPV';
export const CREATOR_REVISION = 1;

export const RSDP_SIGNATURE = 'RSD PTR ';
export const RSDP_LENGTH = 36;
/** Where the legacy RSDP scan looks (ACPI 6.x section 5.2.5.1). */
export const RSDP_SCAN_START = 0xe0000;
export const RSDP_SCAN_END = 0x100000;
export const TABLE_HEADER_LENGTH = 36;
export const FADT_REVISION = 4;
export const FADT_LENGTH = 244;
export const FACS_LENGTH = 64;
export const DSDT_REVISION = 2;

/** I/O port and value of the reset register (the platform's 0xCF9 reset control). */
export const RESET_REG_PORT = 0xcf9;
export const RESET_VALUE = 0x06;
/** Century register in CMOS (FADT CENTURY). */
export const CMOS_CENTURY = 0x32;

/** FADT flags. */
export const FADT_WBINVD = 1 << 0;
export const FADT_PROC_C1 = 1 << 2;
export const FADT_PWR_BUTTON = 1 << 4;
export const FADT_SLP_BUTTON = 1 << 5;
export const FADT_FIX_RTC = 1 << 6;
export const FADT_TMR_VAL_EXT = 1 << 8;
export const FADT_RESET_REG_SUP = 1 << 10;
/** IAPC_BOOT_ARCH. */
export const IAPC_LEGACY_DEVICES = 1 << 0;
export const IAPC_8042 = 1 << 1;

/** FADT field offsets (ACPI 6.x table 5.9). */
export const FADT = {
  FIRMWARE_CTRL: 36,
  DSDT: 40,
  PREFERRED_PM_PROFILE: 45,
  SCI_INT: 46,
  SMI_CMD: 48,
  ACPI_ENABLE: 52,
  ACPI_DISABLE: 53,
  PM1A_EVT_BLK: 56,
  PM1B_EVT_BLK: 60,
  PM1A_CNT_BLK: 64,
  PM1B_CNT_BLK: 68,
  PM2_CNT_BLK: 72,
  PM_TMR_BLK: 76,
  GPE0_BLK: 80,
  GPE1_BLK: 84,
  PM1_EVT_LEN: 88,
  PM1_CNT_LEN: 89,
  PM2_CNT_LEN: 90,
  PM_TMR_LEN: 91,
  GPE0_BLK_LEN: 92,
  GPE1_BLK_LEN: 93,
  P_LVL2_LAT: 96,
  P_LVL3_LAT: 98,
  CENTURY: 108,
  IAPC_BOOT_ARCH: 109,
  FLAGS: 112,
  RESET_REG: 116,
  RESET_VALUE: 128,
  MINOR_VERSION: 131,
  X_FIRMWARE_CTRL: 132,
  X_DSDT: 140,
  X_PM1A_EVT_BLK: 148,
  X_PM1B_EVT_BLK: 160,
  X_PM1A_CNT_BLK: 172,
  X_PM1B_CNT_BLK: 184,
  X_PM2_CNT_BLK: 196,
  X_PM_TMR_BLK: 208,
  X_GPE0_BLK: 220,
  X_GPE1_BLK: 232,
} as const;

/** Generic Address Structure address spaces and access sizes. */
export const GAS_SYSTEM_IO = 1;
export const GAS_ACCESS_BYTE = 1;
export const GAS_ACCESS_WORD = 2;
export const GAS_ACCESS_DWORD = 3;

/** MADT structure types and flags. */
export const MADT_LOCAL_APIC = 0;
export const MADT_IO_APIC = 1;
export const MADT_INT_SRC_OVR = 2;
export const MADT_LOCAL_APIC_NMI = 4;
export const MADT_PCAT_COMPAT = 1;
export const MADT_LAPIC_ENABLED = 1;
/** MPS INTI flags: polarity bits 1-0, trigger mode bits 3-2. */
export const MPS_ACTIVE_HIGH = 0x1;
export const MPS_ACTIVE_LOW = 0x3;
export const MPS_EDGE = 0x1 << 2;
export const MPS_LEVEL = 0x3 << 2;
export const MADT_REVISION = 4;

/** PCI hole top: the IO-APIC's page is the first thing above the windows. */
export const PCI_MEM_END = 0xfebfffff;

export interface AcpiTablesOptions {
  /** Guest-physical address of the blob (16-byte aligned; blob within 0xE0000-0xFFFFF). */
  base: number;
  /** Number of CPUs: local APIC IDs and ACPI processor UIDs 0..cpus-1 (1 to 254: the IO-APIC needs an ID of its own below 0xFF). */
  cpus: number;
  /** Local APIC base. Default 0xFEE00000. */
  lapicBase?: number;
  ioapic: { id: number; base?: number; gsiBase?: number };
  /** PM register blocks; default pm.ts's DEFAULT_PM_PORTS (Xen layout version 1). */
  pm?: Partial<AcpiPmPorts>;
  /** The SCI's ISA IRQ (also its GSI). Default 9. */
  sciIrq?: number;
  /** GSI of PCI device `slot`'s interrupt pin `pin` (0 = INTA .. 3 = INTD). */
  prt: (slot: number, pin: number) => number;
  /** RAM size: the PCI memory window starts above it. */
  memoryBytes: number;
  /** Start of the PCI memory window below 4 GiB. Default: memoryBytes rounded up to 1 MiB. */
  pciMemBase?: number;
}

export interface AcpiTableLocation {
  address: number;
  length: number;
}

export interface AcpiTables {
  /** The blob to copy to `base`. */
  bytes: Uint8Array;
  /** Address of the RSDP (= base): for boot_params.acpi_rsdp_addr. */
  rsdpAddress: number;
  length: number;
  /** Where each table went, by signature ("RSD PTR ", "FACS", "RSDT", "XSDT", "FACP", "APIC", "DSDT"). */
  tables: Record<string, AcpiTableLocation>;
}

// ---------------------------------------------------------------- helpers

/** The byte that makes `bytes` sum to 0 once stored in place of a 0. */
export function checksumByte(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i];
  return -sum & 0xff;
}

function ascii(dst: Uint8Array, at: number, s: string, len: number): void {
  if (s.length !== len) throw new Error(`ACPI: "${s}" must be ${len} characters`);
  for (let i = 0; i < len; i++) dst[at + i] = s.charCodeAt(i);
}

/** A complete table: 36-byte header (signature, length, revision, checksum, OEM fields) and body. */
export function acpiTable(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const t = new Uint8Array(TABLE_HEADER_LENGTH + body.length);
  const v = new DataView(t.buffer);
  ascii(t, 0, signature, 4);
  v.setUint32(4, t.length, true);
  t[8] = revision;
  ascii(t, 10, OEM_ID, 6);
  ascii(t, 16, OEM_TABLE_ID, 8);
  v.setUint32(24, OEM_REVISION, true);
  ascii(t, 28, CREATOR_ID, 4);
  v.setUint32(32, CREATOR_REVISION, true);
  t.set(body, TABLE_HEADER_LENGTH);
  t[9] = checksumByte(t);
  return t;
}

function setGas(v: DataView, at: number, space: number, bitWidth: number, accessSize: number, address: number): void {
  v.setUint8(at, space);
  v.setUint8(at + 1, bitWidth);
  v.setUint8(at + 2, 0);
  v.setUint8(at + 3, accessSize);
  v.setBigUint64(at + 4, BigInt(address), true);
}

function checkInt(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`ACPI tables: ${what} ${v} must be an integer from ${lo} to ${hi}`);
}

const hex = (n: number): string => `0x${n.toString(16)}`;

// ---------------------------------------------------------------- DSDT

export interface DsdtOptions {
  cpus: number;
  pm: AcpiPmPorts;
  prt: (slot: number, pin: number) => number;
  /** PCI memory window above RAM: [pciMemBase, PCI_MEM_END], absent if pciMemBase > PCI_MEM_END. */
  pciMemBase: number;
}

/** Two-hex-digit name for processor `i` ("CP00".."CPFD"). */
export function cpuDeviceName(i: number): string {
  return `CP${i.toString(16).toUpperCase().padStart(2, '0')}`;
}

function hid(id: string): Aml {
  return name('_HID', integer(eisaId(id)));
}

/** The DSDT's definition block contents (the AML after the table header). */
export function buildDsdtAml(o: DsdtOptions): Aml {
  const terms: Aml[] = [];
  terms.push(name('\\_S0', pkg(integer(SLP_TYP_S0), integer(SLP_TYP_S0), ZERO, ZERO)));
  terms.push(name('\\_S5', pkg(integer(SLP_TYP_S5), integer(SLP_TYP_S5), ZERO, ZERO)));
  terms.push(method('\\_PIC', { args: 1 }));

  const cpus: Aml[] = [];
  for (let i = 0; i < o.cpus; i++) cpus.push(device(cpuDeviceName(i), name('_HID', string('ACPI0007')), name('_UID', integer(i))));

  const windows: Aml[] = [
    wordBusNumber({ min: 0, max: 0xff, producer: true }),
    wordIo({ min: 0, max: 0x0cf7, producer: true }),
    io(0x0cf8, 0x0cf8, 1, 8),
    wordIo({ min: 0x0d00, max: 0xffff, producer: true }),
    dwordMemory({ min: 0xa0000, max: 0xbffff, producer: true }),
  ];
  if (o.pciMemBase <= PCI_MEM_END) windows.push(dwordMemory({ min: o.pciMemBase, max: PCI_MEM_END, producer: true }));

  const routes: Aml[] = [];
  for (let slot = 1; slot < 32; slot++) {
    for (let pin = 0; pin < 4; pin++) {
      const gsi = o.prt(slot, pin);
      checkInt(`prt(${slot}, ${pin})`, gsi, 0, 0xffffffff);
      routes.push(pkg(integer(((slot << 16) | 0xffff) >>> 0), integer(pin), ZERO, integer(gsi)));
    }
  }

  const pmIo: Aml[] = [io(o.pm.evtBlk, o.pm.evtBlk, 1, PM1_EVT_LEN), io(o.pm.cntBlk, o.pm.cntBlk, 1, PM1_CNT_LEN), io(o.pm.tmrBlk, o.pm.tmrBlk, 1, PM_TMR_LEN)];
  if (o.pm.gpe0Len > 0) pmIo.push(io(o.pm.gpe0Blk, o.pm.gpe0Blk, 1, o.pm.gpe0Len));

  const isa = device(
    'ISA',
    name('_ADR', integer(0x00010000)),
    device('RTC', hid('PNP0B00'), name('_CRS', resourceTemplate(io(0x70, 0x70, 1, 2), irqNoFlags(8)))),
    device('KBD', hid('PNP0303'), name('_CRS', resourceTemplate(io(0x60, 0x60, 1, 1), io(0x64, 0x64, 1, 1), irqNoFlags(1)))),
    device('MOU', hid('PNP0F13'), name('_CRS', resourceTemplate(irqNoFlags(12)))),
    device('COM1', hid('PNP0501'), name('_UID', integer(1)), name('_CRS', resourceTemplate(io(0x3f8, 0x3f8, 1, 8), irqNoFlags(4)))),
    device('COM2', hid('PNP0501'), name('_UID', integer(2)), name('_CRS', resourceTemplate(io(0x2f8, 0x2f8, 1, 8), irqNoFlags(3)))),
    device('PIC', hid('PNP0000'), name('_CRS', resourceTemplate(io(0x20, 0x20, 1, 2), io(0xa0, 0xa0, 1, 2), irqNoFlags(2)))),
    device('TMR', hid('PNP0100'), name('_CRS', resourceTemplate(io(0x40, 0x40, 1, 4), irqNoFlags(0)))),
  );

  const pci0 = device(
    'PCI0',
    hid('PNP0A03'),
    name('_ADR', ZERO),
    name('_UID', ZERO),
    name('_BBN', ZERO),
    name('_CRS', resourceTemplate(...windows)),
    name('_PRT', pkg(...routes)),
    device('SYSR', hid('PNP0C02'), name('_UID', integer(1)), name('_CRS', resourceTemplate(...pmIo))),
    isa,
  );
  terms.push(scope('\\_SB', ...cpus, pci0));
  return concat(...terms);
}

/** The DSDT as a complete table. */
export function buildDsdt(o: DsdtOptions): Uint8Array {
  return acpiTable('DSDT', DSDT_REVISION, buildDsdtAml(o));
}

// ---------------------------------------------------------------- the blob

export function buildAcpiTables(opts: AcpiTablesOptions): AcpiTables {
  const base = opts.base;
  checkInt('base', base, RSDP_SCAN_START, RSDP_SCAN_END - RSDP_LENGTH);
  if (base % 16 !== 0) throw new Error(`ACPI tables: base ${hex(base)} must be 16-byte aligned (the RSDP scan steps by 16)`);
  checkInt('cpus', opts.cpus, 1, 254);
  const lapicBase = opts.lapicBase ?? 0xfee00000;
  checkInt('local APIC base', lapicBase, 0, 0xffffffff);
  const ioapicId = opts.ioapic.id;
  const ioapicBase = opts.ioapic.base ?? 0xfec00000;
  const gsiBase = opts.ioapic.gsiBase ?? 0;
  checkInt('IO-APIC id', ioapicId, 0, 0xfe);
  if (ioapicId < opts.cpus) throw new Error(`ACPI tables: IO-APIC id ${ioapicId} clashes with a local APIC id (0..${opts.cpus - 1}); use ${opts.cpus} or above`);
  checkInt('IO-APIC base', ioapicBase, 0, 0xffffffff);
  checkInt('IO-APIC GSI base', gsiBase, 0, 0xffffffff);
  const sciIrq = opts.sciIrq ?? SCI_IRQ;
  checkInt('SCI IRQ', sciIrq, 1, 15);
  if (sciIrq === 2) throw new Error('ACPI tables: the SCI cannot be ISA IRQ 2 (the cascade)');
  checkInt('memory size', opts.memoryBytes, 1, 0x100000000);
  const pciMemBase = opts.pciMemBase ?? Math.ceil(opts.memoryBytes / 0x100000) * 0x100000;
  checkInt('PCI memory window base', pciMemBase, opts.memoryBytes, 0x100000000);
  const pm = resolvePmPorts(opts.pm);

  // Layout: offsets from base.
  const align = (off: number, to: number): number => Math.ceil((base + off) / to) * to - base;
  const dsdt = buildDsdt({ cpus: opts.cpus, pm, prt: opts.prt, pciMemBase });
  const madtBody = buildMadtBody(opts.cpus, lapicBase, ioapicId, ioapicBase, gsiBase, sciIrq);
  const N_TABLES = 2; // FADT, MADT in RSDT/XSDT
  const offRsdp = 0;
  const offFacs = align(RSDP_LENGTH, 64);
  const offRsdt = align(offFacs + FACS_LENGTH, 16);
  const offXsdt = align(offRsdt + TABLE_HEADER_LENGTH + 4 * N_TABLES, 16);
  const offFadt = align(offXsdt + TABLE_HEADER_LENGTH + 8 * N_TABLES, 16);
  const offMadt = align(offFadt + FADT_LENGTH, 16);
  const offDsdt = align(offMadt + TABLE_HEADER_LENGTH + madtBody.length, 16);
  const length = offDsdt + dsdt.length;
  if (base + length > RSDP_SCAN_END) throw new Error(`ACPI tables: ${length} bytes at ${hex(base)} run past ${hex(RSDP_SCAN_END)}`);
  const addr = (off: number): number => base + off;

  const blob = new Uint8Array(length);
  const tables: Record<string, AcpiTableLocation> = {};
  const place = (sig: string, off: number, bytes: Uint8Array): void => {
    blob.set(bytes, off);
    tables[sig] = { address: addr(off), length: bytes.length };
  };

  // FACS.
  const facs = new Uint8Array(FACS_LENGTH);
  ascii(facs, 0, 'FACS', 4);
  new DataView(facs.buffer).setUint32(4, FACS_LENGTH, true);
  facs[32] = 2; // version
  place('FACS', offFacs, facs);

  place('DSDT', offDsdt, dsdt);
  place('APIC', offMadt, acpiTable('APIC', MADT_REVISION, madtBody));
  place('FACP', offFadt, buildFadt(addr(offFacs), addr(offDsdt), pm, sciIrq));

  const entries = [addr(offFadt), addr(offMadt)];
  const rsdtBody = new Uint8Array(4 * entries.length);
  const xsdtBody = new Uint8Array(8 * entries.length);
  entries.forEach((a, i) => {
    new DataView(rsdtBody.buffer).setUint32(4 * i, a, true);
    new DataView(xsdtBody.buffer).setBigUint64(8 * i, BigInt(a), true);
  });
  place('RSDT', offRsdt, acpiTable('RSDT', 1, rsdtBody));
  place('XSDT', offXsdt, acpiTable('XSDT', 1, xsdtBody));

  // RSDP.
  const rsdp = new Uint8Array(RSDP_LENGTH);
  const rv = new DataView(rsdp.buffer);
  ascii(rsdp, 0, RSDP_SIGNATURE, 8);
  ascii(rsdp, 9, OEM_ID, 6);
  rsdp[15] = 2;
  rv.setUint32(16, addr(offRsdt), true);
  rv.setUint32(20, RSDP_LENGTH, true);
  rv.setBigUint64(24, BigInt(addr(offXsdt)), true);
  rsdp[8] = checksumByte(rsdp, 0, 20);
  rsdp[32] = checksumByte(rsdp, 0, RSDP_LENGTH);
  place(RSDP_SIGNATURE, offRsdp, rsdp);

  return { bytes: blob, rsdpAddress: addr(offRsdp), length, tables };
}

function buildFadt(facs: number, dsdt: number, pm: AcpiPmPorts, sciIrq: number): Uint8Array {
  const t = new Uint8Array(FADT_LENGTH - TABLE_HEADER_LENGTH);
  const body = new DataView(t.buffer);
  // Offsets below are table offsets; the body starts after the header.
  const H = TABLE_HEADER_LENGTH;
  body.setUint32(FADT.FIRMWARE_CTRL - H, facs, true);
  body.setUint32(FADT.DSDT - H, dsdt, true);
  body.setUint8(FADT.PREFERRED_PM_PROFILE - H, 0); // unspecified
  body.setUint16(FADT.SCI_INT - H, sciIrq, true);
  // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE = 0: always in ACPI mode.
  body.setUint32(FADT.PM1A_EVT_BLK - H, pm.evtBlk, true);
  body.setUint32(FADT.PM1A_CNT_BLK - H, pm.cntBlk, true);
  body.setUint32(FADT.PM_TMR_BLK - H, pm.tmrBlk, true);
  body.setUint32(FADT.GPE0_BLK - H, pm.gpe0Len > 0 ? pm.gpe0Blk : 0, true);
  body.setUint8(FADT.PM1_EVT_LEN - H, PM1_EVT_LEN);
  body.setUint8(FADT.PM1_CNT_LEN - H, PM1_CNT_LEN);
  body.setUint8(FADT.PM_TMR_LEN - H, PM_TMR_LEN);
  body.setUint8(FADT.GPE0_BLK_LEN - H, pm.gpe0Len);
  body.setUint16(FADT.P_LVL2_LAT - H, 101, true); // > 100: no C2
  body.setUint16(FADT.P_LVL3_LAT - H, 1001, true); // > 1000: no C3
  body.setUint8(FADT.CENTURY - H, CMOS_CENTURY);
  body.setUint16(FADT.IAPC_BOOT_ARCH - H, IAPC_LEGACY_DEVICES | IAPC_8042, true);
  body.setUint32(FADT.FLAGS - H, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_FIX_RTC | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP, true);
  setGas(body, FADT.RESET_REG - H, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, RESET_REG_PORT);
  body.setUint8(FADT.RESET_VALUE - H, RESET_VALUE);
  body.setBigUint64(FADT.X_FIRMWARE_CTRL - H, BigInt(facs), true);
  body.setBigUint64(FADT.X_DSDT - H, BigInt(dsdt), true);
  setGas(body, FADT.X_PM1A_EVT_BLK - H, GAS_SYSTEM_IO, 8 * PM1_EVT_LEN, GAS_ACCESS_WORD, pm.evtBlk);
  setGas(body, FADT.X_PM1A_CNT_BLK - H, GAS_SYSTEM_IO, 8 * PM1_CNT_LEN, GAS_ACCESS_WORD, pm.cntBlk);
  setGas(body, FADT.X_PM_TMR_BLK - H, GAS_SYSTEM_IO, 8 * PM_TMR_LEN, GAS_ACCESS_DWORD, pm.tmrBlk);
  if (pm.gpe0Len > 0) setGas(body, FADT.X_GPE0_BLK - H, GAS_SYSTEM_IO, 8 * pm.gpe0Len, GAS_ACCESS_BYTE, pm.gpe0Blk);
  return acpiTable('FACP', FADT_REVISION, t);
}

function buildMadtBody(cpus: number, lapicBase: number, ioapicId: number, ioapicBase: number, gsiBase: number, sciIrq: number): Uint8Array {
  const parts: number[] = [];
  const u16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
  const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  parts.push(...u32(lapicBase), ...u32(MADT_PCAT_COMPAT));
  for (let i = 0; i < cpus; i++) parts.push(MADT_LOCAL_APIC, 8, i, i, ...u32(MADT_LAPIC_ENABLED));
  parts.push(MADT_IO_APIC, 12, ioapicId, 0, ...u32(ioapicBase), ...u32(gsiBase));
  // ISA IRQ 0 (the PIT) is wired to IO-APIC pin 2; the SCI is a level-triggered, active-high line.
  parts.push(MADT_INT_SRC_OVR, 10, 0, 0, ...u32(gsiBase + 2), ...u16(MPS_EDGE | MPS_ACTIVE_HIGH));
  parts.push(MADT_INT_SRC_OVR, 10, 0, sciIrq, ...u32(gsiBase + sciIrq), ...u16(MPS_LEVEL | MPS_ACTIVE_HIGH));
  parts.push(MADT_LOCAL_APIC_NMI, 6, 0xff, ...u16(MPS_EDGE | MPS_ACTIVE_HIGH), 1);
  return Uint8Array.from(parts);
}
