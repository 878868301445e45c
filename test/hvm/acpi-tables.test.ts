/**
 * The ACPI tables (src/hvm/acpi/tables.ts), read back the way a kernel reads
 * them: the blob is placed in a model of the first MiB of guest memory, the
 * RSDP is found by scanning 0xE0000-0xFFFFF on 16-byte boundaries, and every
 * other table is reached through the pointers, with signatures, lengths and
 * checksums checked. Then the FADT, MADT and DSDT contents are compared with
 * what was asked for (the DSDT through the strict AML decoder).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeAml, decodeResources, findAml, type AmlNode, type AmlValue, type Resource } from '../../src/hvm/acpi/aml-decode.js';
import { eisaId } from '../../src/hvm/acpi/aml.js';
import {
  ACPI_GPE0_BLK_ADDRESS_V0, ACPI_GPE0_BLK_ADDRESS_V1, ACPI_PM1A_CNT_BLK_ADDRESS_V0, ACPI_PM1A_CNT_BLK_ADDRESS_V1, ACPI_PM1A_EVT_BLK_ADDRESS_V0,
  ACPI_PM1A_EVT_BLK_ADDRESS_V1, ACPI_PM_TMR_BLK_ADDRESS_V0, ACPI_PM_TMR_BLK_ADDRESS_V1,
} from '../../src/hvm/acpi/pm.js';
import { buildAcpiTables, buildDsdt, FADT, SLP_TYP_S0, SLP_TYP_S5, type AcpiTablesOptions } from '../../src/hvm/acpi/tables.js';

const MiB = 0x100000;
/** Xen's PCI INTx to GSI swizzle (hvm_pci_intx_gsi), as a platform would pass it. */
const xenPrt = (slot: number, pin: number): number => ((((slot << 2) + (slot >> 3) + pin) & 31) + 16);

function opts(over: Partial<AcpiTablesOptions> = {}): AcpiTablesOptions {
  return { base: 0xe0000, cpus: 2, ioapic: { id: 2 }, prt: xenPrt, memoryBytes: 256 * MiB + 4096, ...over };
}

/** The first MiB of guest memory with the blob copied in. */
function lowMemory(o: AcpiTablesOptions): { mem: Uint8Array; t: ReturnType<typeof buildAcpiTables> } {
  const t = buildAcpiTables(o);
  const mem = new Uint8Array(MiB);
  mem.fill(0xa5); // nothing else in the scan window may look like an RSDP
  mem.set(t.bytes, o.base);
  return { mem, t };
}

const u8 = (m: Uint8Array, a: number): number => m[a];
const u16 = (m: Uint8Array, a: number): number => m[a] | (m[a + 1] << 8);
const u32 = (m: Uint8Array, a: number): number => (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
const u64 = (m: Uint8Array, a: number): number => u32(m, a) + u32(m, a + 4) * 2 ** 32;
const str = (m: Uint8Array, a: number, n: number): string => String.fromCharCode(...m.subarray(a, a + n));
const sum = (m: Uint8Array, a: number, n: number): number => m.subarray(a, a + n).reduce((s, x) => s + x, 0) & 0xff;

/** Linux's acpi_find_root_pointer over 0xE0000-0xFFFFF: signature and the ACPI 1.0 checksum, then the extended one. */
function scanRsdp(mem: Uint8Array): number[] {
  const hits: number[] = [];
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (str(mem, a, 8) !== 'RSD PTR ' || sum(mem, a, 20) !== 0) continue;
    if (u8(mem, a + 15) >= 2 && sum(mem, a, u32(mem, a + 20)) !== 0) continue;
    hits.push(a);
  }
  return hits;
}

/** A table at `a`: checks signature, length and checksum; returns its length. */
function checkTable(mem: Uint8Array, a: number, sig: string): number {
  assert.equal(str(mem, a, 4), sig, `signature at 0x${a.toString(16)}`);
  const len = u32(mem, a + 4);
  assert.ok(len >= 36 && a + len <= MiB, `${sig} length ${len}`);
  assert.equal(sum(mem, a, len), 0, `${sig} checksum`);
  assert.equal(str(mem, a + 10, 6), 'TYPEVI', `${sig} OEM ID`);
  return len;
}

function dsdtNodes(mem: Uint8Array, t: ReturnType<typeof buildAcpiTables>): AmlNode[] {
  const d = t.tables.DSDT;
  assert.equal(u8(mem, d.address + 8), 2, 'DSDT revision 2 (64-bit integers)');
  return decodeAml(mem.subarray(d.address + 36, d.address + d.length), 2);
}

function value(nodes: readonly AmlNode[], path: string): AmlValue {
  const n = findAml(nodes, path);
  assert.ok(n?.kind === 'name', `${path} is a Name`);
  return n.value;
}

function int(v: AmlValue): number {
  assert.equal(v.kind, 'integer');
  return Number((v as { value: bigint }).value);
}

function crs(nodes: readonly AmlNode[], path: string): Resource[] {
  const v = value(nodes, `${path}._CRS`);
  assert.equal(v.kind, 'buffer');
  return decodeResources((v as { bytes: Uint8Array }).bytes);
}

test('the RSDP is where the legacy scan finds it, revision 2 with both checksums', () => {
  for (const base of [0xe0000, 0xf0000, 0xe0010, 0xfe000]) {
    const { mem, t } = lowMemory(opts({ base }));
    assert.equal(t.rsdpAddress, base);
    assert.equal(t.length, t.bytes.length);
    assert.deepEqual(scanRsdp(mem), [base]);
    const r = base;
    assert.equal(u8(mem, r + 15), 2, 'revision');
    assert.equal(str(mem, r + 9, 6), 'TYPEVI');
    assert.equal(u32(mem, r + 20), 36, 'length');
    assert.equal(sum(mem, r, 20), 0, 'ACPI 1.0 checksum (byte 8) over the first 20 bytes');
    assert.deepEqual([...mem.subarray(r + 33, r + 36)], [0, 0, 0], 'reserved bytes after the extended checksum (byte 32)');
    const rsdt = u32(mem, r + 16);
    const xsdt = u64(mem, r + 24);
    for (const a of [rsdt, xsdt]) assert.ok(a >= base && a < base + t.length, 'RSDT/XSDT inside the blob');
    assert.equal(rsdt, t.tables.RSDT.address);
    assert.equal(xsdt, t.tables.XSDT.address);
    // Corrupting either checksummed part makes the scan miss it.
    const bad = mem.slice();
    bad[r + 19] ^= 1; // inside the first 20 bytes
    assert.deepEqual(scanRsdp(bad), []);
    const bad2 = mem.slice();
    bad2[r + 30] ^= 1; // XSDT address: only the extended checksum covers it
    assert.deepEqual(scanRsdp(bad2), []);
  }
});

test('RSDT and XSDT list the same FADT and MADT; every table has its signature, length and checksum', () => {
  const { mem, t } = lowMemory(opts({ base: 0xe0010 }));
  const rsdt = t.tables.RSDT.address;
  const xsdt = t.tables.XSDT.address;
  const rsdtLen = checkTable(mem, rsdt, 'RSDT');
  const xsdtLen = checkTable(mem, xsdt, 'XSDT');
  const fromRsdt = Array.from({ length: (rsdtLen - 36) / 4 }, (_, i) => u32(mem, rsdt + 36 + 4 * i));
  const fromXsdt = Array.from({ length: (xsdtLen - 36) / 8 }, (_, i) => u64(mem, xsdt + 36 + 8 * i));
  assert.deepEqual(fromRsdt, fromXsdt);
  assert.deepEqual(fromRsdt.map((a) => str(mem, a, 4)).sort(), ['APIC', 'FACP']);
  for (const a of fromRsdt) {
    assert.ok(a >= t.rsdpAddress && a < t.rsdpAddress + t.length);
    const sig = str(mem, a, 4);
    assert.equal(checkTable(mem, a, sig), t.tables[sig].length);
    assert.equal(a, t.tables[sig].address);
  }
  const fadt = t.tables.FACP.address;
  const facs = u32(mem, fadt + FADT.FIRMWARE_CTRL);
  const dsdt = u32(mem, fadt + FADT.DSDT);
  assert.equal(u64(mem, fadt + FADT.X_FIRMWARE_CTRL), facs);
  assert.equal(u64(mem, fadt + FADT.X_DSDT), dsdt);
  assert.equal(dsdt, t.tables.DSDT.address);
  checkTable(mem, dsdt, 'DSDT');
  // The FACS has no checksum; it must be 64-byte aligned.
  assert.equal(facs, t.tables.FACS.address);
  assert.equal(facs % 64, 0);
  assert.equal(str(mem, facs, 4), 'FACS');
  assert.equal(u32(mem, facs + 4), 64);
  assert.ok(u8(mem, facs + 32) >= 1, 'FACS version');
  // Tables do not overlap and all lie inside the blob.
  const spans = Object.values(t.tables).sort((a, b) => a.address - b.address);
  for (let i = 0; i < spans.length; i++) {
    assert.ok(spans[i].address + spans[i].length <= (spans[i + 1]?.address ?? t.rsdpAddress + t.length));
  }
});

test('FADT: revision, PM blocks (legacy and X_ alike), SCI, ACPI mode, boot architecture, flags, reset register', () => {
  const { mem, t } = lowMemory(opts());
  const f = t.tables.FACP.address;
  assert.ok(u8(mem, f + 8) >= 3, 'revision 3 or later, so X_ fields are used');
  assert.ok(u32(mem, f + 4) >= 244);
  assert.equal(u16(mem, f + FADT.SCI_INT), 9);
  assert.equal(u32(mem, f + FADT.SMI_CMD), 0, 'no SMI command port: always in ACPI mode');
  assert.equal(u8(mem, f + FADT.ACPI_ENABLE), 0);
  assert.equal(u8(mem, f + FADT.ACPI_DISABLE), 0);
  const blocks: [number, number, number, number, number][] = [
    // legacy field, length field, X_ field, address, length
    [FADT.PM1A_EVT_BLK, FADT.PM1_EVT_LEN, FADT.X_PM1A_EVT_BLK, ACPI_PM1A_EVT_BLK_ADDRESS_V1, 4],
    [FADT.PM1A_CNT_BLK, FADT.PM1_CNT_LEN, FADT.X_PM1A_CNT_BLK, ACPI_PM1A_CNT_BLK_ADDRESS_V1, 2],
    [FADT.PM_TMR_BLK, FADT.PM_TMR_LEN, FADT.X_PM_TMR_BLK, ACPI_PM_TMR_BLK_ADDRESS_V1, 4],
    [FADT.GPE0_BLK, FADT.GPE0_BLK_LEN, FADT.X_GPE0_BLK, ACPI_GPE0_BLK_ADDRESS_V1, 4],
  ];
  assert.deepEqual([ACPI_PM1A_EVT_BLK_ADDRESS_V1, ACPI_PM1A_CNT_BLK_ADDRESS_V1, ACPI_PM_TMR_BLK_ADDRESS_V1, ACPI_GPE0_BLK_ADDRESS_V1], [0xb000, 0xb004, 0xb008, 0xafe0]);
  for (const [legacy, len, x, addr, n] of blocks) {
    assert.equal(u32(mem, f + legacy), addr);
    assert.equal(u8(mem, f + len), n);
    assert.equal(u8(mem, f + x), 1, 'system I/O space');
    assert.equal(u8(mem, f + x + 1), 8 * n, 'bit width = 8 * length');
    assert.equal(u8(mem, f + x + 2), 0, 'bit offset');
    assert.equal(u64(mem, f + x + 4), addr);
  }
  // No PM1b, PM2 or GPE1 blocks.
  for (const off of [FADT.PM1B_EVT_BLK, FADT.PM1B_CNT_BLK, FADT.PM2_CNT_BLK, FADT.GPE1_BLK]) assert.equal(u32(mem, f + off), 0);
  for (const off of [FADT.X_PM1B_EVT_BLK, FADT.X_PM1B_CNT_BLK, FADT.X_PM2_CNT_BLK, FADT.X_GPE1_BLK]) assert.equal(u64(mem, f + off + 4), 0);
  assert.ok(u16(mem, f + FADT.P_LVL2_LAT) > 100, 'no C2');
  assert.ok(u16(mem, f + FADT.P_LVL3_LAT) > 1000, 'no C3');
  assert.equal(u8(mem, f + FADT.CENTURY), 0x32);
  assert.equal(u16(mem, f + FADT.IAPC_BOOT_ARCH), 0x3, 'LEGACY_DEVICES | 8042');
  const flags = u32(mem, f + FADT.FLAGS);
  const bit = (n: number): boolean => (flags & (1 << n)) !== 0;
  assert.ok(bit(0), 'WBINVD');
  assert.ok(bit(2), 'PROC_C1');
  assert.ok(!bit(4), 'PWR_BUTTON clear: the fixed power button exists');
  assert.ok(bit(5), 'SLP_BUTTON: no fixed sleep button');
  assert.ok(bit(8), 'TMR_VAL_EXT: 32-bit PM timer');
  assert.ok(bit(10), 'RESET_REG_SUP');
  assert.ok(!bit(20), 'not hardware-reduced');
  // RESET_REG: system I/O, 8 bits, byte access, port 0xCF9; value 6.
  assert.deepEqual([...mem.subarray(f + FADT.RESET_REG, f + FADT.RESET_REG + 4)], [1, 8, 0, 1]);
  assert.equal(u64(mem, f + FADT.RESET_REG + 4), 0xcf9);
  assert.equal(u8(mem, f + FADT.RESET_VALUE), 0x06);
});

test('FADT follows a custom PM layout; no GPE0 block means zero GPE0 fields', () => {
  const pm = { evtBlk: ACPI_PM1A_EVT_BLK_ADDRESS_V0, cntBlk: ACPI_PM1A_CNT_BLK_ADDRESS_V0, tmrBlk: ACPI_PM_TMR_BLK_ADDRESS_V0, gpe0Blk: ACPI_GPE0_BLK_ADDRESS_V0, gpe0Len: 8 };
  let { mem, t } = lowMemory(opts({ pm, sciIrq: 10 }));
  let f = t.tables.FACP.address;
  assert.equal(u32(mem, f + FADT.PM1A_EVT_BLK), 0x1f40);
  assert.equal(u32(mem, f + FADT.PM1A_CNT_BLK), 0x1f44);
  assert.equal(u32(mem, f + FADT.PM_TMR_BLK), 0x1f48);
  assert.equal(u32(mem, f + FADT.GPE0_BLK), 0x1f68);
  assert.equal(u8(mem, f + FADT.GPE0_BLK_LEN), 8);
  assert.equal(u64(mem, f + FADT.X_GPE0_BLK + 4), 0x1f68);
  assert.equal(u8(mem, f + FADT.X_GPE0_BLK + 1), 64);
  assert.equal(u16(mem, f + FADT.SCI_INT), 10);
  ({ mem, t } = lowMemory(opts({ pm: { gpe0Len: 0 } })));
  f = t.tables.FACP.address;
  assert.equal(u32(mem, f + FADT.GPE0_BLK), 0);
  assert.equal(u8(mem, f + FADT.GPE0_BLK_LEN), 0);
  assert.equal(u64(mem, f + FADT.X_GPE0_BLK + 4), 0);
  assert.throws(() => buildAcpiTables(opts({ pm: { gpe0Len: 3 } })), /even/);
  assert.throws(() => buildAcpiTables(opts({ pm: { cntBlk: 0xb002 } })), /overlaps/);
});

interface MadtEntry {
  type: number;
  bytes: number[];
}

function madt(mem: Uint8Array, t: ReturnType<typeof buildAcpiTables>): { lapic: number; flags: number; entries: MadtEntry[] } {
  const m = t.tables.APIC.address;
  const len = checkTable(mem, m, 'APIC');
  const entries: MadtEntry[] = [];
  for (let p = m + 44; p < m + len;) {
    const l = u8(mem, p + 1);
    assert.ok(l >= 2 && p + l <= m + len, 'entry length');
    entries.push({ type: u8(mem, p), bytes: [...mem.subarray(p, p + l)] });
    p += l;
  }
  return { lapic: u32(mem, m + 36), flags: u32(mem, m + 40), entries };
}

test('MADT: local APICs, the IO-APIC, interrupt source overrides and the LINT1 NMI parse back to what was asked', () => {
  const { mem, t } = lowMemory(opts({ cpus: 4, ioapic: { id: 8, base: 0xfec00000, gsiBase: 0 } }));
  const { lapic, flags, entries } = madt(mem, t);
  assert.equal(lapic, 0xfee00000);
  assert.equal(flags & 1, 1, 'PCAT_COMPAT');
  const lapics = entries.filter((e) => e.type === 0).map((e) => e.bytes);
  assert.deepEqual(lapics, [0, 1, 2, 3].map((i) => [0, 8, i, i, 1, 0, 0, 0]), 'UID = APIC ID = i, enabled');
  const ioapics = entries.filter((e) => e.type === 1).map((e) => e.bytes);
  assert.deepEqual(ioapics, [[1, 12, 8, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0]]);
  const overrides = entries.filter((e) => e.type === 2).map((e) => ({ bus: e.bytes[2], irq: e.bytes[3], gsi: u32(Uint8Array.from(e.bytes), 4), flags: u16(Uint8Array.from(e.bytes), 8) }));
  assert.deepEqual(overrides, [
    { bus: 0, irq: 0, gsi: 2, flags: 0x5 }, // edge, active high
    { bus: 0, irq: 9, gsi: 9, flags: 0xd }, // level, active high
  ]);
  const nmis = entries.filter((e) => e.type === 4).map((e) => e.bytes);
  assert.deepEqual(nmis, [[4, 6, 0xff, 0x05, 0x00, 1]], 'all processors, LINT1');
  assert.equal(entries.length, 4 + 1 + 2 + 1);

  // Other LAPIC base, IO-APIC base and GSI base, another SCI IRQ.
  const other = lowMemory(opts({ cpus: 1, lapicBase: 0xfee10000, ioapic: { id: 1, base: 0xfec10000, gsiBase: 24 }, sciIrq: 11 }));
  const m2 = madt(other.mem, other.t);
  assert.equal(m2.lapic, 0xfee10000);
  assert.deepEqual(m2.entries.filter((e) => e.type === 1).map((e) => e.bytes), [[1, 12, 1, 0, 0x00, 0x00, 0xc1, 0xfe, 24, 0, 0, 0]]);
  assert.deepEqual(m2.entries.filter((e) => e.type === 2).map((e) => [e.bytes[3], e.bytes[4]]), [[0, 26], [11, 35]]);
});

test('DSDT: \\_S5 and \\_S0 packages carry the SLP_TYP values the PM device recognises; \\_PIC takes one argument', () => {
  const { mem, t } = lowMemory(opts());
  const nodes = dsdtNodes(mem, t);
  assert.equal(SLP_TYP_S5, 0);
  assert.equal(SLP_TYP_S0, 5);
  for (const [path, typ] of [['\\_S5_', SLP_TYP_S5], ['\\_S0_', SLP_TYP_S0]] as const) {
    const v = value(nodes, path);
    assert.equal(v.kind, 'package');
    const el = (v as { elements: AmlValue[] }).elements;
    assert.ok(el.length >= 2);
    assert.equal(int(el[0]), typ, `${path} PM1a SLP_TYP`);
    assert.equal(int(el[1]), typ, `${path} PM1b SLP_TYP`);
  }
  const pic = findAml(nodes, '_PIC');
  assert.ok(pic?.kind === 'method');
  assert.equal(pic.args, 1);
  assert.deepEqual(pic.body, []);
});

test('DSDT: the PCI root bridge, its windows, and a static _PRT built from prt()', () => {
  const { mem, t } = lowMemory(opts({ memoryBytes: 256 * MiB + 4096 }));
  const nodes = dsdtNodes(mem, t);
  const pci = '_SB_.PCI0';
  assert.equal(int(value(nodes, `${pci}._HID`)), eisaId('PNP0A03'));
  assert.equal(int(value(nodes, `${pci}._ADR`)), 0);
  assert.equal(int(value(nodes, `${pci}._UID`)), 0);
  assert.equal(int(value(nodes, `${pci}._BBN`)), 0);
  const win = (min: number, max: number, resourceType: number, width: number, typeFlags: number): Resource =>
    ({ kind: 'address', width, resourceType, generalFlags: 0x0c, typeFlags, granularity: 0, min, max, translation: 0, length: max - min + 1 });
  assert.deepEqual(crs(nodes, pci), [
    win(0, 0xff, 2, 2, 0),
    win(0, 0xcf7, 1, 2, 3),
    { kind: 'io', decode16: true, min: 0xcf8, max: 0xcf8, alignment: 1, length: 8 },
    win(0xd00, 0xffff, 1, 2, 3),
    win(0xa0000, 0xbffff, 0, 4, 3),
    win(0x10100000, 0xfebfffff, 0, 4, 3), // RAM end rounded up to 1 MiB
  ]);

  const prt = value(nodes, `${pci}._PRT`);
  assert.equal(prt.kind, 'package');
  const rows = (prt as { elements: AmlValue[] }).elements.map((e) => {
    assert.equal(e.kind, 'package');
    return (e as { elements: AmlValue[] }).elements.map(int);
  });
  const want: number[][] = [];
  for (let slot = 1; slot < 32; slot++) for (let pin = 0; pin < 4; pin++) want.push([(slot << 16) | 0xffff, pin, 0, xenPrt(slot, pin)]);
  assert.deepEqual(rows, want);
  assert.equal(rows.length, 124);

  // The window starts where asked, and disappears when RAM reaches the IO-APIC.
  const at = (o: Partial<AcpiTablesOptions>): Resource[] => {
    const x = lowMemory(opts(o));
    return crs(dsdtNodes(x.mem, x.t), pci);
  };
  assert.deepEqual(at({ memoryBytes: 512 * MiB, pciMemBase: 0xe0000000 }).at(-1), win(0xe0000000, 0xfebfffff, 0, 4, 3));
  assert.deepEqual(at({ memoryBytes: 0xfec00000 }).at(-1), win(0xa0000, 0xbffff, 0, 4, 3));
  assert.throws(() => buildAcpiTables(opts({ prt: () => -1 })), /prt/);
});

test('DSDT: the ISA bridge and its legacy devices, motherboard resources, processor devices', () => {
  const { mem, t } = lowMemory(opts({ cpus: 3, ioapic: { id: 3 } }));
  const nodes = dsdtNodes(mem, t);
  const isa = '_SB_.PCI0.ISA_';
  assert.equal(int(value(nodes, `${isa}._ADR`)), 0x00010000);
  const io = (min: number, length: number): Resource => ({ kind: 'io', decode16: true, min, max: min, alignment: 1, length });
  const irqs = (...n: number[]): Resource => ({ kind: 'irq', irqs: n });
  const devices: [string, string, Resource[], number?][] = [
    ['RTC_', 'PNP0B00', [io(0x70, 2), irqs(8)]],
    ['KBD_', 'PNP0303', [io(0x60, 1), io(0x64, 1), irqs(1)]],
    ['MOU_', 'PNP0F13', [irqs(12)]],
    ['COM1', 'PNP0501', [io(0x3f8, 8), irqs(4)], 1],
    ['COM2', 'PNP0501', [io(0x2f8, 8), irqs(3)], 2],
    ['PIC_', 'PNP0000', [io(0x20, 2), io(0xa0, 2), irqs(2)]],
    ['TMR_', 'PNP0100', [io(0x40, 4), irqs(0)]],
  ];
  for (const [n, hid, res, uid] of devices) {
    assert.equal(int(value(nodes, `${isa}.${n}._HID`)), eisaId(hid), `${n} _HID`);
    assert.deepEqual(crs(nodes, `${isa}.${n}`), res, `${n} _CRS`);
    if (uid !== undefined) assert.equal(int(value(nodes, `${isa}.${n}._UID`)), uid);
  }
  const isaDev = findAml(nodes, isa);
  assert.ok(isaDev?.kind === 'device');
  assert.equal(isaDev.body.filter((n) => n.kind === 'device').length, devices.length, 'no other ISA devices (no HPET)');

  assert.equal(int(value(nodes, '_SB_.PCI0.SYSR._HID')), eisaId('PNP0C02'));
  assert.deepEqual(crs(nodes, '_SB_.PCI0.SYSR'), [io(0xb000, 4), io(0xb004, 2), io(0xb008, 4), io(0xafe0, 4)]);

  for (let i = 0; i < 3; i++) {
    const cpu = `_SB_.CP0${i}`;
    assert.deepEqual(value(nodes, `${cpu}._HID`), { kind: 'string', value: 'ACPI0007' });
    assert.equal(int(value(nodes, `${cpu}._UID`)), i, 'matches the MADT processor UID');
  }
  assert.equal(findAml(nodes, '_SB_.CP03'), undefined);
});

test('options are validated', () => {
  assert.throws(() => buildAcpiTables(opts({ base: 0xe0008 })), /aligned/);
  assert.throws(() => buildAcpiTables(opts({ base: 0xd0000 })), /base/);
  assert.throws(() => buildAcpiTables(opts({ base: 0xfff00 })), /run past/);
  assert.throws(() => buildAcpiTables(opts({ cpus: 0 })), /cpus/);
  assert.throws(() => buildAcpiTables(opts({ cpus: 255, ioapic: { id: 0xfe } })), /cpus/);
  assert.throws(() => buildAcpiTables(opts({ cpus: 4, ioapic: { id: 3 } })), /clashes/);
  assert.throws(() => buildAcpiTables(opts({ sciIrq: 2 })), /cascade/);
  assert.throws(() => buildAcpiTables(opts({ sciIrq: 16 })), /SCI/);
  assert.throws(() => buildAcpiTables(opts({ memoryBytes: 64 * MiB, pciMemBase: 32 * MiB })), /window/);
  // Many CPUs still fit the BIOS area.
  const { mem, t } = lowMemory(opts({ cpus: 254, ioapic: { id: 0xfe }, base: 0xf0000 }));
  assert.equal(madt(mem, t).entries.filter((e) => e.type === 0).length, 254);
  assert.equal(findAml(dsdtNodes(mem, t), '_SB_.CPFD')?.kind, 'device');
});

const iasl = spawnSync('iasl', ['-v'], { encoding: 'utf8' });
const haveIasl = !iasl.error && iasl.status === 0;

test('iasl disassembles the DSDT without errors', { skip: haveIasl ? false : 'iasl (acpica-tools) is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'typevisor-dsdt-'));
  try {
    const dsdt = buildDsdt({ cpus: 2, pm: { evtBlk: 0xb000, cntBlk: 0xb004, tmrBlk: 0xb008, gpe0Blk: 0xafe0, gpe0Len: 4 }, prt: xenPrt, pciMemBase: 0x10000000 });
    writeFileSync(join(dir, 'dsdt.aml'), dsdt);
    const r = spawnSync('iasl', ['-d', join(dir, 'dsdt.aml')], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const dsl = readFileSync(join(dir, 'dsdt.dsl'), 'utf8');
    for (const s of ['Name (_S5, Package', 'Method (_PIC, 1', 'Device (PCI0)', 'EisaId ("PNP0A03")', 'WordBusNumber', 'Name (_PRT', 'Device (COM2)', 'IRQNoFlags']) {
      assert.ok(dsl.includes(s), `disassembly contains ${s}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
