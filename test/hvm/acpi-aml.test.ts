/**
 * The AML encoder (src/hvm/acpi/aml.ts): byte-exact encodings worked out
 * from the ACPI 6.x AML grammar (chapter 20) and resource descriptor formats
 * (section 6.4), then round trips through the strict decoder in
 * aml-decode.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buffer, byteConst, concat, device, dwordConst, dwordIo, dwordMemory, eisaId, encodePkgLength, endTag, fixedIo, integer, interrupt,
  io, irq, irqNoFlags, method, name, namePath, nameSeg, ONE, ONES, pkg, qwordConst, qwordMemory, resourceTemplate, ret, scope, string,
  withPkgLength, wordBusNumber, wordConst, wordIo, ZERO,
} from '../../src/hvm/acpi/aml.js';
import { decodeAml, decodeResources, findAml, type AmlNode, type AmlValue } from '../../src/hvm/acpi/aml-decode.js';

const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

test('PkgLength: one byte up to 63, then 2, 3 and 4 bytes with the low nibble in the lead byte', () => {
  assert.deepEqual(encodePkgLength(0), b(0x00));
  assert.deepEqual(encodePkgLength(63), b(0x3f));
  assert.deepEqual(encodePkgLength(64), b(0x40, 0x04));
  assert.deepEqual(encodePkgLength(0x123), b(0x43, 0x12));
  assert.deepEqual(encodePkgLength(0xfff), b(0x4f, 0xff));
  assert.deepEqual(encodePkgLength(0x1000), b(0x80, 0x00, 0x01));
  assert.deepEqual(encodePkgLength(0xfffff), b(0x8f, 0xff, 0xff));
  assert.deepEqual(encodePkgLength(0x100000), b(0xc0, 0x00, 0x00, 0x01));
  assert.deepEqual(encodePkgLength(0xfffffff), b(0xcf, 0xff, 0xff, 0xff));
  assert.throws(() => encodePkgLength(0x10000000));
  assert.throws(() => encodePkgLength(-1));
});

test('withPkgLength counts the PkgLength bytes themselves', () => {
  assert.deepEqual(withPkgLength(new Uint8Array(0)), b(0x01));
  assert.deepEqual(withPkgLength(new Uint8Array(62)).subarray(0, 1), b(0x3f));
  assert.equal(withPkgLength(new Uint8Array(62)).length, 63);
  // 63 bytes of contents: 64 with one byte does not fit, so two bytes: 65.
  assert.deepEqual(withPkgLength(new Uint8Array(63)).subarray(0, 2), b(0x41, 0x04));
  assert.deepEqual(withPkgLength(new Uint8Array(4093)).subarray(0, 2), b(0x4f, 0xff));
  assert.deepEqual(withPkgLength(new Uint8Array(4094)).subarray(0, 3), b(0x81, 0x00, 0x01));
  assert.equal(withPkgLength(new Uint8Array(4094)).length, 4097);
});

test('names: NameSeg padding, root and parent prefixes, dual and multi name prefixes, NullName', () => {
  assert.deepEqual(nameSeg('_SB'), b(...ascii('_SB_')));
  assert.deepEqual(nameSeg('PCI0'), b(...ascii('PCI0')));
  assert.deepEqual(namePath('_S5'), b(...ascii('_S5_')));
  assert.deepEqual(namePath('\\_PIC'), b(0x5c, ...ascii('_PIC')));
  assert.deepEqual(namePath('\\_SB.PCI0'), b(0x5c, 0x2e, ...ascii('_SB_PCI0')));
  assert.deepEqual(namePath('^^FOO'), b(0x5e, 0x5e, ...ascii('FOO_')));
  assert.deepEqual(namePath('\\_SB.PCI0.ISA'), b(0x5c, 0x2f, 3, ...ascii('_SB_PCI0ISA_')));
  assert.deepEqual(namePath('\\'), b(0x5c, 0x00));
  assert.deepEqual(namePath('^'), b(0x5e, 0x00));
  for (const bad of ['1ABC', 'abcd', 'TOOLONG', 'A-B', '\\_SB..X', 'ABC.']) assert.throws(() => namePath(bad), Error, bad);
});

test('integers: Zero, One, Ones and the shortest prefixed constant', () => {
  assert.deepEqual(integer(0), b(0x00));
  assert.deepEqual(integer(1), b(0x01));
  assert.deepEqual(ONES, b(0xff));
  assert.deepEqual(integer(2), b(0x0a, 0x02));
  assert.deepEqual(integer(0xff), b(0x0a, 0xff));
  assert.deepEqual(integer(0x100), b(0x0b, 0x00, 0x01));
  assert.deepEqual(integer(0x1ffff), b(0x0c, 0xff, 0xff, 0x01, 0x00));
  assert.deepEqual(integer(0xfee00000), b(0x0c, 0x00, 0x00, 0xe0, 0xfe));
  assert.deepEqual(integer(0x100000000), b(0x0e, 0, 0, 0, 0, 1, 0, 0, 0));
  assert.deepEqual(integer(0xffffffffffffffffn), b(0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  assert.deepEqual(byteConst(0), b(0x0a, 0x00));
  assert.deepEqual(wordConst(1), b(0x0b, 0x01, 0x00));
  assert.deepEqual(dwordConst(0x12345678), b(0x0c, 0x78, 0x56, 0x34, 0x12));
  assert.deepEqual(qwordConst(1), b(0x0e, 1, 0, 0, 0, 0, 0, 0, 0));
  assert.throws(() => byteConst(0x100));
  assert.throws(() => integer(-1));
  assert.throws(() => integer(1.5));
  assert.throws(() => integer(0x10000000000000000n));
});

test('strings, buffers, packages', () => {
  assert.deepEqual(string('ACPI0007'), b(0x0d, ...ascii('ACPI0007'), 0x00));
  assert.deepEqual(string(''), b(0x0d, 0x00));
  assert.throws(() => string('é'));
  assert.throws(() => string('a\0b'));
  assert.deepEqual(buffer([1, 2, 3]), b(0x11, 0x06, 0x0a, 0x03, 1, 2, 3));
  assert.deepEqual(buffer([]), b(0x11, 0x02, 0x00));
  assert.deepEqual(pkg(ZERO, ONE), b(0x12, 0x04, 0x02, 0x00, 0x01));
  assert.deepEqual(pkg(), b(0x12, 0x02, 0x00));
  // \_S5 as firmware writes it: Package(4) {0x05, 0x05, Zero, Zero}.
  assert.deepEqual(pkg(integer(5), integer(5), ZERO, ZERO), b(0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00));
  // A package element may be a name reference.
  assert.deepEqual(pkg(namePath('LNKA')), b(0x12, 0x06, 0x01, ...ascii('LNKA')));
  // Over 255 elements: VarPackageOp with the count as a term.
  const big = pkg(...new Array<Uint8Array>(300).fill(ZERO));
  assert.deepEqual(big.subarray(0, 6), b(0x13, 0x41, 0x13, 0x0b, 0x2c, 0x01));
  assert.equal(big.length, 1 + 2 + 3 + 300);
});

test('Name, Scope, Device, Method and Return', () => {
  assert.deepEqual(name('_UID', ONE), b(0x08, ...ascii('_UID'), 0x01));
  assert.deepEqual(scope('\\_SB'), b(0x10, 0x06, 0x5c, ...ascii('_SB_')));
  assert.deepEqual(device('PCI0', name('_ADR', ZERO)), b(0x5b, 0x82, 0x0b, ...ascii('PCI0'), 0x08, ...ascii('_ADR'), 0x00));
  // Method (\_PIC, 1, NotSerialized) {}
  assert.deepEqual(method('\\_PIC', { args: 1 }), b(0x14, 0x07, 0x5c, ...ascii('_PIC'), 0x01));
  // Method (_STA, 0, Serialized) { Return (0x0F) }
  assert.deepEqual(method('_STA', { serialized: true }, ret(integer(0x0f))), b(0x14, 0x09, ...ascii('_STA'), 0x08, 0xa4, 0x0a, 0x0f));
  // Method (_CRS, 2, Serialized, 3) { Return (BUF0) }
  assert.deepEqual(method('_CRS', { args: 2, serialized: true, syncLevel: 3 }, ret(namePath('BUF0'))), b(0x14, 0x0b, ...ascii('_CRS'), 0x3a, 0xa4, ...ascii('BUF0')));
  assert.throws(() => method('_X', { args: 8 }));
  assert.throws(() => method('_X', { syncLevel: 16 }));
});

test('EISAID compresses the vendor letters and stores the bytes big-endian', () => {
  assert.equal(eisaId('PNP0A03'), 0x030ad041);
  assert.equal(eisaId('PNP0B00'), 0x000bd041);
  assert.equal(eisaId('PNP0303'), 0x0303d041);
  assert.equal(eisaId('PNP0501'), 0x0105d041);
  assert.equal(eisaId('PNP0F13'), 0x130fd041);
  // 'A' = 1, 'Z' = 26: AZA = 00001 11010 00001 = 0x0741; bytes 07 41 12 34.
  assert.equal(eisaId('AZA1234'), 0x34124107);
  assert.throws(() => eisaId('pnp0a03'));
  assert.throws(() => eisaId('PNP0A0'));
});

test('small resource descriptors and the End Tag', () => {
  assert.deepEqual(irqNoFlags(4), b(0x22, 0x10, 0x00));
  assert.deepEqual(irqNoFlags(1, 12), b(0x22, 0x02, 0x10));
  assert.deepEqual(irqNoFlags(8), b(0x22, 0x00, 0x01));
  assert.deepEqual(irq({ irqs: [5], edge: false, activeLow: true, shared: true }), b(0x23, 0x20, 0x00, 0x18));
  assert.deepEqual(irq({ irqs: [3] }), b(0x23, 0x08, 0x00, 0x01));
  assert.deepEqual(io(0x3f8, 0x3f8, 1, 8), b(0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08));
  assert.deepEqual(io(0x60, 0x60, 0, 1, false), b(0x47, 0x00, 0x60, 0x00, 0x60, 0x00, 0x00, 0x01));
  assert.deepEqual(fixedIo(0x60, 1), b(0x4b, 0x60, 0x00, 0x01));
  assert.deepEqual(endTag(), b(0x79, 0x00));
  assert.throws(() => irqNoFlags(16));
  assert.throws(() => io(0x100, 0xff, 1, 1));
  assert.throws(() => fixedIo(0x400, 1));
});

test('large resource descriptors: address spaces and extended interrupts', () => {
  // WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
  assert.deepEqual(wordBusNumber({ min: 0, max: 0xff, producer: true }),
    b(0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01));
  // WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300)
  assert.deepEqual(wordIo({ min: 0x0d00, max: 0xffff, producer: true }),
    b(0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xff, 0x00, 0x00, 0x00, 0xf3));
  // A consumer with MinNotFixed, subtractive decode, ISA-only ranges.
  assert.deepEqual(wordIo({ min: 0x100, max: 0x1ff, length: 0x10, minFixed: false, maxFixed: false, subtractive: true, range: 'isa' }).subarray(3, 6), b(0x01, 0x03, 0x02));
  // DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, 0xA0000, 0xBFFFF, 0, 0x20000)
  assert.deepEqual(dwordMemory({ min: 0xa0000, max: 0xbffff, producer: true }),
    b(0x87, 0x17, 0x00, 0x00, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x00, 0x0a, 0x00, 0xff, 0xff, 0x0b, 0x00, 0, 0, 0, 0, 0x00, 0x00, 0x02, 0x00));
  assert.equal(dwordMemory({ min: 0, max: 0xfff, caching: 'prefetchable', readWrite: false })[5], 0x06);
  assert.equal(dwordMemory({ min: 0, max: 0xfff, caching: 'noncacheable' })[5], 0x01);
  assert.deepEqual(dwordIo({ min: 0x1000, max: 0x1fff, producer: true }).subarray(0, 6), b(0x87, 0x17, 0x00, 0x01, 0x0c, 0x03));
  const q = qwordMemory({ min: 0x100000000n, max: 0x1ffffffffn, producer: true });
  assert.deepEqual(q.subarray(0, 6), b(0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03));
  assert.equal(q.length, 3 + 43);
  // Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) {9}
  assert.deepEqual(interrupt({ gsis: [9] }), b(0x89, 0x06, 0x00, 0x01, 0x01, 0x09, 0x00, 0x00, 0x00));
  // Interrupt (ResourceConsumer, Edge, ActiveLow, Shared) {16, 0x12345678}
  assert.deepEqual(interrupt({ gsis: [16, 0x12345678], edge: true, activeLow: true, shared: true }),
    b(0x89, 0x0a, 0x00, 0x0f, 0x02, 0x10, 0, 0, 0, 0x78, 0x56, 0x34, 0x12));
  assert.throws(() => wordIo({ min: 0, max: 0x10000 }));
  assert.throws(() => dwordMemory({ min: 2, max: 1 }));
  assert.throws(() => interrupt({ gsis: [] }));
});

test('ResourceTemplate is a Buffer of the descriptors and an End Tag', () => {
  assert.deepEqual(resourceTemplate(irqNoFlags(4)), b(0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00));
  const tpl = resourceTemplate(
    wordBusNumber({ min: 0, max: 0xff, producer: true }),
    io(0xcf8, 0xcf8, 1, 8),
    fixedIo(0x20, 2),
    irq({ irqs: [9], edge: false, activeLow: true, shared: true }),
    dwordMemory({ min: 0xe0000000, max: 0xfebfffff, producer: true }),
    interrupt({ gsis: [20, 21], edge: true }),
  );
  const nodes = decodeAml(name('_CRS', tpl));
  const n = nodes[0];
  assert.ok(n.kind === 'name' && n.value.kind === 'buffer');
  assert.deepEqual(decodeResources(n.value.bytes), [
    { kind: 'address', width: 2, resourceType: 2, generalFlags: 0x0c, typeFlags: 0, granularity: 0, min: 0, max: 0xff, translation: 0, length: 0x100 },
    { kind: 'io', decode16: true, min: 0xcf8, max: 0xcf8, alignment: 1, length: 8 },
    { kind: 'fixedio', base: 0x20, length: 2 },
    { kind: 'irq', irqs: [9], flags: 0x18 },
    { kind: 'address', width: 4, resourceType: 0, generalFlags: 0x0c, typeFlags: 0x03, granularity: 0, min: 0xe0000000, max: 0xfebfffff, translation: 0, length: 0x1ec00000 },
    { kind: 'interrupt', flags: 0x03, gsis: [20, 21] },
  ]);
  // The decoder holds templates to their End Tag and checksum.
  assert.throws(() => decodeResources(b(0x22, 0x10, 0x00)), /End Tag/);
  assert.throws(() => decodeResources(b(0x22, 0x10, 0x00, 0x79, 0x01)), /checksum/);
  assert.deepEqual(decodeResources(b(0x22, 0x10, 0x00, 0x79, -(0x22 + 0x10 + 0x79) & 0xff)), [{ kind: 'irq', irqs: [4] }]);
});

test('round trip: a small namespace decodes back to what was built', () => {
  const aml = concat(
    name('\\_S5', pkg(ZERO, ZERO, ZERO, ZERO)),
    method('\\_PIC', { args: 1 }),
    scope('\\_SB',
      device('PCI0',
        name('_HID', integer(eisaId('PNP0A03'))),
        name('_STR', string('root bridge')),
        name('_PRT', pkg(pkg(integer(0x1ffff), ZERO, ZERO, integer(16)))),
        method('_STA', { serialized: true }, ret(integer(0x0f))),
        method('_CRS', {}, ret(namePath('^CRS0'))),
        device('ISA', name('_ADR', integer(0x10000)), name('BIG', integer(0x123456789n)), name('ALL', ONES)),
      ),
    ),
  );
  const nodes = decodeAml(aml);
  const expected: AmlNode[] = [
    { kind: 'name', path: '\\_S5_', value: { kind: 'package', elements: Array.from({ length: 4 }, (): AmlValue => ({ kind: 'integer', value: 0n })) } },
    { kind: 'method', path: '\\_PIC', args: 1, serialized: false, syncLevel: 0, body: [] },
    { kind: 'scope', path: '\\_SB_', body: [
      { kind: 'device', path: 'PCI0', body: [
        { kind: 'name', path: '_HID', value: { kind: 'integer', value: 0x030ad041n } },
        { kind: 'name', path: '_STR', value: { kind: 'string', value: 'root bridge' } },
        { kind: 'name', path: '_PRT', value: { kind: 'package', elements: [{ kind: 'package', elements: [
          { kind: 'integer', value: 0x1ffffn }, { kind: 'integer', value: 0n }, { kind: 'integer', value: 0n }, { kind: 'integer', value: 16n },
        ] }] } },
        { kind: 'method', path: '_STA', args: 0, serialized: true, syncLevel: 0, body: [{ kind: 'return', value: { kind: 'integer', value: 15n } }] },
        { kind: 'method', path: '_CRS', args: 0, serialized: false, syncLevel: 0, body: [{ kind: 'return', value: { kind: 'name', path: '^CRS0' } }] },
        { kind: 'device', path: 'ISA_', body: [
          { kind: 'name', path: '_ADR', value: { kind: 'integer', value: 0x10000n } },
          { kind: 'name', path: 'BIG_', value: { kind: 'integer', value: 0x123456789n } },
          { kind: 'name', path: 'ALL_', value: { kind: 'integer', value: 0xffffffffffffffffn } },
        ] },
      ] },
    ] },
  ];
  assert.deepEqual(nodes, expected);
  assert.equal(findAml(nodes, '_SB_.PCI0.ISA_._ADR')?.kind, 'name');
  assert.equal(findAml(nodes, '\\_S5_')?.kind, 'name');
  assert.equal(findAml(nodes, '_SB_.PCI0.NOPE'), undefined);
  // A truncated package is an error, not a silent misparse.
  assert.throws(() => decodeAml(aml.subarray(0, aml.length - 1)));
});

test('long bodies use multi-byte PkgLengths that the decoder follows', () => {
  const names = Array.from({ length: 500 }, (_, i) => name(`N${i.toString(16).toUpperCase().padStart(3, '0')}`, integer(i * 1000)));
  const aml = scope('\\_SB', device('BIG', ...names));
  assert.equal(aml[1] >> 6, 2, 'a 3-byte PkgLength');
  const nodes = decodeAml(aml);
  const dev = findAml(nodes, '_SB_.BIG_');
  assert.ok(dev?.kind === 'device');
  assert.equal(dev.body.length, 500);
  assert.deepEqual(findAml(nodes, '_SB_.BIG_.N1F3'), { kind: 'name', path: 'N1F3', value: { kind: 'integer', value: 499000n } });
});
