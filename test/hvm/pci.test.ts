import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PCI_COMMAND,
  PCI_COMMAND_INTX_DISABLE,
  PCI_COMMAND_IO,
  PCI_COMMAND_MEMORY,
  PCI_STATUS,
  PCI_STATUS_INTERRUPT,
  PciBus,
  PciFunction,
  pciIntxToGsi,
  type PciBarChange,
  type PciBusState,
} from '../../src/hvm/pci.js';
import { I440fxHostBridge, Piix3IsaBridge, pamSegments, pciIntxToPirq } from '../../src/hvm/piix.js';

/** A NIC-like test device: an I/O BAR, a prefetchable memory BAR, INTA. */
class TestDevice extends PciFunction {
  readonly mapped: { index: number; base: number | null; old: number | null }[] = [];
  readonly commands: [number, number][] = [];
  constructor(pin = 1, deviceId = 0x1234) {
    super({ vendorId: 0x10ec, deviceId, classCode: 0x020000, revision: 0x20, interruptPin: pin, subsystemVendorId: 0x1af4, subsystemId: 0x1100 });
    this.defineBar(0, { kind: 'io', size: 32 });
    this.defineBar(1, { kind: 'mem', size: 4096, prefetchable: true });
  }
  protected override barMapped(index: number, base: number | null, old: number | null): void {
    this.mapped.push({ index, base, old });
  }
  protected override commandChanged(old: number, now: number): void {
    this.commands.push([old, now]);
  }
}

/** The machine's wiring: PCI bus, the two chipset functions, interrupt outputs recorded. */
function machine() {
  const bus = new PciBus();
  const isa: [number, boolean][] = [];
  const gsi: [number, boolean][] = [];
  const intx: [number, number, boolean][] = [];
  const bars: PciBarChange[] = [];
  const pams: [number, number][] = [];
  const host = new I440fxHostBridge({ onPamChange: (n, v) => pams.push([n, v]) });
  const piix3 = new Piix3IsaBridge({ setIsaIrq: (irq, level) => isa.push([irq, level]) });
  bus.setIntx = (slot, pin, level) => {
    intx.push([slot, pin, level]);
    piix3.setIntx(slot, pin, level);
  };
  bus.setGsi = (g, level) => gsi.push([g, level]);
  bus.onBarChange = (c) => bars.push(c);
  bus.add(0, host);
  bus.add(1, piix3);
  const outl = (port: number, v: number) => bus.ioWrite(port, 4, v);
  const outw = (port: number, v: number) => bus.ioWrite(port, 2, v);
  const outb = (port: number, v: number) => bus.ioWrite(port, 1, v);
  const inl = (port: number) => bus.ioRead(port, 4);
  const inw = (port: number) => bus.ioRead(port, 2);
  const inb = (port: number) => bus.ioRead(port, 1);
  /** Linux's PCI_CONF1_ADDRESS. */
  const addr = (b: number, devfn: number, reg: number) => (0x80000000 | (b << 16) | (devfn << 8) | (reg & 0xfc)) >>> 0;
  /** pci_conf1_read / pci_conf1_write for bus 0. */
  const read = (devfn: number, reg: number, len: 1 | 2 | 4) => {
    outl(0xcf8, addr(0, devfn, reg));
    return len === 1 ? inb(0xcfc + (reg & 3)) : len === 2 ? inw(0xcfc + (reg & 2)) : inl(0xcfc);
  };
  const write = (devfn: number, reg: number, len: 1 | 2 | 4, v: number) => {
    outl(0xcf8, addr(0, devfn, reg));
    if (len === 1) outb(0xcfc + (reg & 3), v);
    else if (len === 2) outw(0xcfc + (reg & 2), v);
    else outl(0xcfc, v);
  };
  return { bus, host, piix3, isa, gsi, intx, bars, pams, outl, outb, inl, inb, inw, addr, read, write };
}

const devfn = (slot: number, fn = 0) => (slot << 3) | fn;

test("Linux's pci_check_type1 and pci_sanity_check conclude type 1 works", () => {
  const { outb, outl, inl, read } = machine();
  // pci_check_type1().
  outb(0xcfb, 0x01);
  const tmp = inl(0xcf8);
  outl(0xcf8, 0x80000000);
  assert.equal(inl(0xcf8), 0x80000000);
  // pci_sanity_check(): some devfn on bus 0 is a host bridge (or VGA, or Intel/Compaq).
  let found = -1;
  for (let d = 0; d < 0x100 && found < 0; d++) {
    const cls = read(d, 0x0a, 2);
    if (cls === 0x0600 || cls === 0x0300) found = d;
  }
  assert.equal(found, 0, 'the i440FX at 00:00.0');
  outl(0xcf8, tmp);
  assert.equal(inl(0xcf8), tmp);
});

test('CONFIG_ADDRESS: only dword accesses at 0xCF8 latch; reserved bits read 0', () => {
  const m = machine();
  m.outl(0xcf8, 0x80001234);
  assert.equal(m.inl(0xcf8), 0x80001234);
  // Linux's type-2 probe writes bytes here: they must not disturb the latch.
  m.outb(0xcf8, 0x00);
  m.outb(0xcfa, 0x00);
  m.outb(0xcfb, 0x00);
  m.bus.ioWrite(0xcfa, 2, 0);
  assert.equal(m.inl(0xcf8), 0x80001234);
  assert.equal(m.inb(0xcf8), 0xff, 'byte reads are not CONFIG_ADDRESS');
  assert.equal(m.inw(0xcfa), 0xffff);
  m.outl(0xcf8, 0xffffffff);
  assert.equal(m.inl(0xcf8), 0x80fffffc, 'bits 30:24 and 1:0 are reserved');
  assert.equal(m.bus.address, 0x80fffffc);
});

test('IDs, class codes and header types of the i440FX and PIIX3; empty slots read all ones', () => {
  const { read, outl, inl } = machine();
  assert.equal(read(devfn(0), 0x00, 4), 0x12378086);
  assert.equal(read(devfn(0), 0x08, 4), 0x06000002, 'class 06:00:00, revision 2');
  assert.equal(read(devfn(0), 0x0e, 1), 0x00);
  assert.equal(read(devfn(1), 0x00, 4), 0x70008086);
  assert.equal(read(devfn(1), 0x08, 4) >>> 8, 0x060100);
  assert.equal(read(devfn(1), 0x0e, 1), 0x80, 'the PIIX3 is multi-function');
  assert.equal(read(devfn(1), 0x04, 2), 0x0007);
  assert.equal(read(devfn(1), 0x06, 2), 0x0200);
  assert.equal(read(devfn(0), 0x06, 2), 0x0280);
  // Nothing at 00:02.0, 00:01.1, or on bus 1; dword, word and byte reads all float high.
  assert.equal(read(devfn(2), 0x00, 4), 0xffffffff);
  assert.equal(read(devfn(2), 0x02, 2), 0xffff);
  assert.equal(read(devfn(1, 1), 0x00, 2), 0xffff);
  assert.equal(read(devfn(31, 7), 0x0e, 1), 0xff);
  outl(0xcf8, 0x80010000);
  assert.equal(inl(0xcfc), 0xffffffff);
  // With the enable bit clear the data port is not configuration space.
  outl(0xcf8, 0x00000000);
  assert.equal(inl(0xcfc), 0xffffffff);
});

test('read-only fields survive writes; byte and word accesses reach the right bytes', () => {
  const { read, write, bus } = machine();
  bus.add(3, new TestDevice());
  const d = devfn(3);
  write(d, 0x00, 4, 0xffffffff);
  write(d, 0x08, 4, 0xffffffff);
  write(d, 0x2c, 4, 0);
  write(d, 0x3c, 4, 0xffffffff);
  assert.equal(read(d, 0x00, 4), 0x123410ec);
  assert.equal(read(d, 0x08, 4), 0x02000020);
  assert.equal(read(d, 0x2c, 4), 0x11001af4);
  // Interrupt line is writable, pin/min_gnt/max_lat are not.
  assert.equal(read(d, 0x3c, 4), 0x000001ff);
  // Byte and word reads at each offset of the dword.
  assert.equal(read(d, 0x00, 1), 0xec);
  assert.equal(read(d, 0x01, 1), 0x10);
  assert.equal(read(d, 0x02, 1), 0x34);
  assert.equal(read(d, 0x03, 1), 0x12);
  assert.equal(read(d, 0x02, 2), 0x1234);
  // Byte writes: latency timer (0x0D) and cache line size (0x0C) independently.
  write(d, 0x0d, 1, 0x40);
  write(d, 0x0c, 1, 0x10);
  assert.equal(read(d, 0x0c, 2), 0x4010);
  write(d, 0x3c, 1, 0x0b);
  assert.equal(read(d, 0x3c, 2), 0x010b);
  // Registers beyond the header are read-only zero by default.
  write(d, 0x40, 4, 0xdeadbeef);
  assert.equal(read(d, 0x40, 4), 0);
  // An access running past 0xCFF covers only the bytes up to it.
  bus.ioWrite(0xcf8, 4, 0x80001800 | 0x0c);
  assert.equal(bus.ioRead(0xcff, 2), 0xff00);
  // Direct access for the machine.
  assert.equal(bus.configRead(3, 0, 0x0c, 2), 0x4010);
  bus.configWrite(3, 0, 0x0d, 1, 0x80);
  assert.equal(bus.configRead(3, 0, 0x0d, 1), 0x80);
  assert.equal(bus.configRead(9, 0, 0x00, 4), 0xffffffff);
});

test('COMMAND writable bits and STATUS write-1-to-clear', () => {
  const { read, write, bus } = machine();
  const dev = new TestDevice();
  bus.add(3, dev);
  const d = devfn(3);
  write(d, 0x04, 2, 0xffff);
  assert.equal(read(d, 0x04, 2), 0x0547);
  assert.deepEqual(dev.commands, [[0, 0x0547]]);
  write(d, 0x04, 2, 0);
  // Device-set error bits clear when written with 1; other bits ignore writes.
  dev.setConfig16(PCI_STATUS, 0xf900 | 0x0200);
  write(d, 0x06, 2, 0x2000 | 0x0200);
  assert.equal(read(d, 0x06, 2), 0xd900 | 0x0200);
  write(d, 0x06, 2, 0xffff);
  assert.equal(read(d, 0x06, 2), 0x0200);
  // A dword write to COMMAND/STATUS does both.
  dev.setConfig16(PCI_STATUS, 0x8000);
  write(d, 0x04, 4, 0x80000001);
  assert.equal(read(d, 0x04, 4), 0x00000001);
  // The chipset's COMMAND enables are hard-wired.
  write(devfn(1), 0x04, 2, 0);
  assert.equal(read(devfn(1), 0x04, 2), 0x0007);
  write(devfn(0), 0x04, 2, 0);
  assert.equal(read(devfn(0), 0x04, 2), 0x0006);
});

test('BAR sizing, programming and decode changes reported to the device and the machine', () => {
  const { read, write, bus, bars } = machine();
  const dev = new TestDevice();
  bus.add(3, dev);
  const d = devfn(3);
  assert.equal(read(d, 0x10, 4), 0x00000001, 'I/O BAR type bit');
  assert.equal(read(d, 0x14, 4), 0x00000008, 'prefetchable 32-bit memory BAR');
  // Linux's __pci_read_base: decode off, write all ones, read the size mask, restore.
  for (const [reg, sizeMask] of [[0x10, 0x0000ffe1], [0x14, 0xfffff008], [0x18, 0], [0x1c, 0], [0x20, 0], [0x24, 0], [0x30, 0]]) {
    const orig = read(d, reg, 4);
    write(d, reg, 4, 0xffffffff);
    assert.equal(read(d, reg, 4), sizeMask, `BAR at 0x${reg.toString(16)}`);
    write(d, reg, 4, orig);
  }
  assert.equal(bars.length, 0, 'nothing decodes while COMMAND has the spaces off');
  // Assign and enable.
  write(d, 0x10, 4, 0xc001);
  write(d, 0x14, 4, 0xfebf0000);
  assert.equal(read(d, 0x10, 4), 0xc001);
  assert.equal(read(d, 0x14, 4), 0xfebf0008);
  assert.equal(dev.barAddress(0), 0xc000);
  assert.equal(dev.barBase(0), null);
  write(d, 0x04, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
  assert.deepEqual(
    bars.map((c) => [c.slot, c.func, c.bar, c.kind, c.size, c.oldBase, c.newBase]),
    [
      [3, 0, 0, 'io', 32, null, 0xc000],
      [3, 0, 1, 'mem', 4096, null, 0xfebf0000],
    ],
  );
  assert.equal(bars[0].fn, dev);
  assert.equal(dev.barBase(0), 0xc000);
  assert.equal(dev.barBase(1), 0xfebf0000);
  // Moving a decoding BAR; sub-size address bits are ignored.
  write(d, 0x10, 4, 0xd01f);
  assert.equal(dev.barBase(0), 0xd000);
  assert.deepEqual(dev.mapped.at(-1), { index: 0, base: 0xd000, old: 0xc000 });
  // Sizing with decode on: the all-ones pattern does not decode.
  write(d, 0x14, 4, 0xffffffff);
  assert.equal(dev.barBase(1), null);
  write(d, 0x14, 4, 0xfebf0000);
  assert.equal(dev.barBase(1), 0xfebf0000);
  // Turning memory decode off unmaps only the memory BAR.
  const before = bars.length;
  write(d, 0x04, 2, PCI_COMMAND_IO);
  assert.deepEqual(bars.slice(before).map((c) => [c.bar, c.oldBase, c.newBase]), [[1, 0xfebf0000, null]]);
  assert.equal(dev.barBase(0), 0xd000);
  // Rewriting the same value reports nothing.
  const n = bars.length;
  write(d, 0x10, 4, 0xd001);
  write(d, 0x04, 2, PCI_COMMAND_IO);
  assert.equal(bars.length, n);
  // Bad BAR declarations.
  assert.throws(() => dev.defineBar(2, { kind: 'io', size: 24 }), /size/);
  assert.throws(() => dev.defineBar(2, { kind: 'io', size: 512 }), /size/);
  assert.throws(() => dev.defineBar(2, { kind: 'mem', size: 8 }), /size/);
  assert.throws(() => dev.defineBar(6, { kind: 'mem', size: 16 }), /BAR index/);
});

test('INTx: wired-OR per slot and per IO-APIC input, INTx disable, interrupt status', () => {
  const { bus, intx, gsi, read, write } = machine();
  assert.equal(pciIntxToGsi(0, 0), 16);
  assert.equal(pciIntxToGsi(3, 1), 20);
  assert.equal(pciIntxToGsi(7, 1), 16);
  assert.equal(pciIntxToGsi(31, 3), 18);
  // Two functions of slot 4 share INTA; slot 3's INTB also lands on GSI 20.
  const a = new TestDevice(1);
  const b = new TestDevice(1, 0x5678);
  const c = new TestDevice(2, 0x9abc);
  bus.add(4, a, 0);
  bus.add(4, b, 3);
  bus.add(3, c);
  assert.equal(read(devfn(4), 0x0e, 1), 0x80, 'function 0 of a multi-function slot');
  assert.equal(read(devfn(3), 0x0e, 1), 0x00);
  assert.equal(read(devfn(4, 3), 0x00, 4), 0x567810ec);
  a.setIrq(true);
  assert.deepEqual(intx, [[4, 0, true]]);
  assert.deepEqual(gsi, [[20, true]]);
  assert.ok(read(devfn(4), 0x06, 2) & PCI_STATUS_INTERRUPT);
  b.setIrq(true);
  a.setIrq(false);
  assert.deepEqual(intx, [[4, 0, true]], 'still asserted by function 3');
  c.setIrq(true);
  assert.deepEqual(intx, [[4, 0, true], [3, 1, true]]);
  assert.deepEqual(gsi, [[20, true]], 'GSI 20 was already high');
  b.setIrq(false);
  assert.deepEqual(gsi, [[20, true]], 'slot 3 INTB holds GSI 20');
  assert.equal(bus.intxLevel(4, 0), false);
  assert.equal(bus.intxLevel(3, 1), true);
  // INTx disable holds the pin low but the status bit still shows the request.
  write(devfn(3), 0x04, 2, PCI_COMMAND_INTX_DISABLE);
  assert.deepEqual(gsi.at(-1), [20, false]);
  assert.equal(bus.gsiLevel(20), false);
  assert.ok(read(devfn(3), 0x06, 2) & PCI_STATUS_INTERRUPT);
  assert.equal(c.intxRequested, true);
  assert.equal(c.intxAsserted, false);
  write(devfn(3), 0x04, 2, 0);
  assert.deepEqual(gsi.at(-1), [20, true]);
  c.setIrq(false);
  assert.equal(read(devfn(3), 0x06, 2) & PCI_STATUS_INTERRUPT, 0);
  assert.deepEqual(intx.at(-1), [3, 1, false]);
  // A function without an interrupt pin never drives anything.
  const quiet = new TestDevice(0, 0x1111);
  bus.add(5, quiet);
  const count = intx.length;
  quiet.setIrq(true);
  assert.equal(intx.length, count);
  // Placement errors.
  assert.throws(() => bus.add(5, new TestDevice()), /taken/);
  assert.throws(() => bus.add(32, new TestDevice()), /slot/);
  assert.throws(() => bus.add(6, quiet), /already/);
});

test('PIIX3 PIRQ routing in PIC mode', () => {
  const { bus, piix3, isa, write, read } = machine();
  const p = devfn(1);
  // Reset values: all four routes disabled.
  assert.equal(read(p, 0x60, 4), 0x80808080);
  for (let n = 0; n < 4; n++) assert.equal(piix3.pirqToIsaIrq(n), null);
  // Slot 3 INTB goes to PIRQ (3 + 1) & 3 = A.
  assert.equal(pciIntxToPirq(3, 1), 0);
  const dev = new TestDevice(2);
  bus.add(3, dev);
  dev.setIrq(true);
  assert.equal(piix3.pirqLevel(0), true);
  assert.deepEqual(isa, [], 'PIRQA is not routed yet');
  // Linux's pirq_piix_set: a byte write to 0x60 + n.
  write(p, 0x60, 1, 0x0b);
  assert.equal(piix3.pirqToIsaIrq(0), 11);
  assert.deepEqual(isa, [[11, true]]);
  assert.equal(piix3.isaIrqLevel(11), true);
  // Re-steering while asserted: the old IRQ drops, the new one rises.
  write(p, 0x60, 1, 0x0a);
  assert.deepEqual(isa, [[11, true], [11, false], [10, true]]);
  // Another PIRQ on the same IRQ: the IRQ is their wired-OR.
  const other = new TestDevice(1, 0x4444);
  bus.add(6, other); // slot 6 INTA -> PIRQ C
  write(p, 0x62, 1, 0x0a);
  other.setIrq(true);
  dev.setIrq(false);
  assert.equal(piix3.isaIrqLevel(10), true, 'PIRQC still drives IRQ 10');
  assert.deepEqual(isa.at(-1), [10, true]);
  other.setIrq(false);
  assert.deepEqual(isa.at(-1), [10, false]);
  // Disabling a route and reserved IRQ numbers.
  other.setIrq(true);
  write(p, 0x62, 1, 0x8a);
  assert.deepEqual(isa.at(-1), [10, false]);
  assert.equal(piix3.pirqToIsaIrq(2), null);
  for (const reserved of [0, 1, 2, 8, 13]) {
    write(p, 0x63, 1, reserved);
    assert.equal(piix3.pirqToIsaIrq(3), null, `IRQ ${reserved} is reserved`);
  }
  write(p, 0x63, 1, 0x0f);
  assert.equal(piix3.pirqToIsaIrq(3), 15);
  // Bits 6:4 are reserved.
  write(p, 0x61, 1, 0x7f);
  assert.equal(read(p, 0x61, 1), 0x0f);
  // Two PIRQs on different IRQs are independent: PIRQA -> 11, PIRQB -> 9.
  other.setIrq(false);
  write(p, 0x60, 1, 0x0b);
  write(p, 0x61, 1, 0x09);
  const onB = new TestDevice(1, 0x5555);
  bus.add(5, onB); // slot 5 INTA -> PIRQ B
  dev.setIrq(true);
  onB.setIrq(true);
  assert.equal(piix3.isaIrqLevel(11), true);
  assert.equal(piix3.isaIrqLevel(9), true);
  onB.setIrq(false);
  assert.equal(piix3.isaIrqLevel(11), true);
  assert.equal(piix3.isaIrqLevel(9), false);
  assert.deepEqual(isa.at(-1), [9, false]);
});

test('PIIX3 registers: reset values and what is writable', () => {
  const { read, write } = machine();
  const p = devfn(1);
  assert.equal(read(p, 0x4c, 1), 0x4d);
  assert.equal(read(p, 0x4e, 2), 0x0003, 'XBCS');
  assert.equal(read(p, 0x69, 1), 0x02, 'TOM');
  assert.equal(read(p, 0x80, 1), 0x00, 'APICBASE');
  assert.equal(read(p, 0x82, 1), 0x00, 'DLC');
  assert.equal(read(p, 0x76, 2), 0x0c0c);
  assert.equal(read(p, 0xa0, 1), 0x08);
  // quirk_passive_release: set DLC bit 1.
  write(p, 0x82, 1, read(p, 0x82, 1) | 0x02);
  assert.equal(read(p, 0x82, 1), 0x02);
  write(p, 0x69, 1, 0xff);
  assert.equal(read(p, 0x69, 1), 0xfe, 'TOM bit 0 is reserved');
  write(p, 0x80, 1, 0xff);
  assert.equal(read(p, 0x80, 1), 0x3f);
  write(p, 0x4e, 2, 0xffff);
  assert.equal(read(p, 0x4e, 2), 0x03ff);
  // No BARs, no interrupt pin.
  assert.equal(read(p, 0x10, 4), 0);
  assert.equal(read(p, 0x3d, 1), 0);
});

test('i440FX PAM and SMRAM registers are stored and reported', () => {
  const { host, pams, read, write } = machine();
  const h = devfn(0);
  assert.equal(read(h, 0x59, 4) & 0xffffff00, 0, 'PAM0-2 clear at reset');
  assert.equal(read(h, 0x72, 1), 0x02, 'SMRAM C_BASE_SEG = 010');
  write(h, 0x59, 1, 0xff);
  assert.equal(read(h, 0x59, 1), 0x30, 'PAM0 controls only the F segment');
  write(h, 0x5a, 2, 0xffff);
  assert.equal(read(h, 0x5a, 2), 0x3333);
  assert.deepEqual(pams, [[0, 0x30], [1, 0x33], [2, 0x33]]);
  write(h, 0x5a, 1, 0x33);
  assert.equal(pams.length, 3, 'an unchanged value is not reported');
  write(h, 0x5f, 1, 0x10);
  assert.deepEqual(pams.at(-1), [6, 0x10]);
  assert.deepEqual(pamSegments(6), { low: { base: 0xe8000, size: 0x4000 }, high: { base: 0xec000, size: 0x4000 } });
  const regions = host.pamRegions();
  assert.equal(regions.length, 13);
  assert.deepEqual(regions[0], { base: 0xc0000, size: 0x4000, readDram: true, writeDram: true });
  assert.deepEqual(regions[11], { base: 0xec000, size: 0x4000, readDram: true, writeDram: false });
  assert.deepEqual(regions[12], { base: 0xf0000, size: 0x10000, readDram: true, writeDram: true });
  // SMRAM: open, then lock; D_OPEN clears and the locked bits stay put.
  write(h, 0x72, 1, 0x4a);
  assert.equal(read(h, 0x72, 1), 0x4a);
  write(h, 0x72, 1, 0x1a);
  assert.equal(host.smram, 0x1a);
  write(h, 0x72, 1, 0x40 | 0x20);
  assert.equal(read(h, 0x72, 1), 0x3a, 'only D_CLS is writable once locked');
  // Other memory-controller registers keep what is written; ERRSTS clears on 1.
  write(h, 0x60, 1, 0x10);
  assert.equal(read(h, 0x60, 1), 0x10);
  host.setConfig8(0x91, 0x11);
  write(h, 0x91, 1, 0x01);
  assert.equal(read(h, 0x91, 1), 0x10);
  // Reset unlocks SMRAM and clears the PAMs (reported).
  host.reset();
  assert.equal(host.smram, 0x02);
  write(h, 0x72, 1, 0x48);
  assert.equal(read(h, 0x72, 1), 0x4a);
  assert.deepEqual(pams.at(-1), [6, 0x00]);
});

test('save/restore of the bus: configuration, BAR decode and INTx come back', () => {
  const m = machine();
  const dev = new TestDevice(1);
  m.bus.add(2, dev);
  m.write(devfn(2), 0x10, 4, 0xc101);
  m.write(devfn(2), 0x04, 2, PCI_COMMAND_IO);
  m.write(devfn(1), 0x60 + pciIntxToPirq(2, 0), 1, 0x05);
  m.write(devfn(0), 0x5f, 1, 0x11);
  dev.setIrq(true);
  m.outl(0xcf8, 0x80001000);
  const saved = JSON.parse(JSON.stringify(m.bus.save())) as PciBusState;

  const m2 = machine();
  const dev2 = new TestDevice(1);
  m2.bus.add(2, dev2);
  m2.bus.restore(saved);
  assert.equal(m2.inl(0xcf8), 0x80001000);
  assert.equal(m2.inl(0xcfc), 0x123410ec);
  assert.deepEqual(m2.bars.map((c) => [c.bar, c.oldBase, c.newBase]), [[0, null, 0xc100]]);
  assert.deepEqual(m2.intx, [[2, 0, true]]);
  assert.deepEqual(m2.gsi, [[pciIntxToGsi(2, 0), true]]);
  assert.deepEqual(m2.isa, [[5, true]], 'the PIIX3 re-derives its routing');
  assert.deepEqual(m2.pams, [[6, 0x11]]);
  assert.equal(dev2.getConfig16(PCI_COMMAND), PCI_COMMAND_IO);
  assert.deepEqual(m2.bus.save(), saved);

  const bad = (patch: (s: PciBusState) => void, what: RegExp) => {
    const s = JSON.parse(JSON.stringify(saved)) as PciBusState;
    patch(s);
    const before = JSON.stringify(m2.bus.save());
    assert.throws(() => m2.bus.restore(s), what);
    assert.equal(JSON.stringify(m2.bus.save()), before, 'a rejected record changes nothing');
  };
  bad((s) => (s.device = 'pic' as 'pci-bus'), /device is/);
  bad((s) => (s.configAddress = 3), /configAddress/);
  bad((s) => s.functions.pop(), /missing/);
  bad((s) => (s.functions[0].slot = 9), /no such function/);
  bad((s) => (s.functions[1].config[0] = 0x87), /IDs/);
  bad((s) => (s.functions[2].config = s.functions[2].config.slice(0, 64)), /config/);
  bad((s) => s.functions.push({ ...s.functions[0] }), /twice/);
});

test('bus reset returns every function to its power-on configuration', () => {
  const m = machine();
  const dev = new TestDevice(1);
  m.bus.add(2, dev);
  m.write(devfn(2), 0x10, 4, 0xc101);
  m.write(devfn(2), 0x04, 2, PCI_COMMAND_IO);
  m.write(devfn(1), 0x60, 1, 0x0b);
  m.outl(0xcf8, 0x80000000);
  m.bus.reset();
  assert.equal(m.inl(0xcf8), 0);
  assert.equal(dev.barBase(0), null);
  assert.deepEqual(m.bars.at(-1), { ...m.bars.at(-1), bar: 0, oldBase: 0xc100, newBase: null });
  assert.equal(m.read(devfn(2), 0x10, 4), 0x00000001);
  assert.equal(m.read(devfn(1), 0x60, 1), 0x80);
  assert.equal(m.read(devfn(1), 0x0e, 1), 0x80);
});
