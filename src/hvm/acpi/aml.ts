/**
 * A small ACPI Machine Language (AML) encoder: just enough of the grammar of
 * ACPI 6.x chapter 20 to build a DSDT from code, as a firmware's ASL compiler
 * output would look, without shipping compiled tables.
 *
 * Every function returns the encoded bytes of one AML term or data object
 * (`Aml`, a Uint8Array); containers take their contents as further `Aml`
 * values and add the opcode and PkgLength around them.
 *
 * Covered:
 * - PkgLength (1 to 4 bytes; the length counts the PkgLength bytes too).
 * - NameSeg and NameString: `\` (root) and `^` (parent) prefixes, one segment,
 *   DualNamePrefix (2 segments), MultiNamePrefix (3 to 255), NullName. Short
 *   segments are padded with `_` as ASL does ("PCI" is "PCI_").
 * - Integers: ZeroOp, OneOp, OnesOp, BytePrefix, WordPrefix, DWordPrefix,
 *   QWordPrefix (the shortest encoding for a value, or an explicit width).
 * - String, Buffer, Package (VarPackage beyond 255 elements), Name, Scope,
 *   Device, Method (argument count, SerializeFlag, SyncLevel), Return.
 * - EISAID compression ("PNP0A03" is 0x030AD041).
 * - Resource descriptors for _CRS (ACPI 6.x section 6.4): IRQ (with and
 *   without flags), IO, FixedIO, Word/DWord/QWord address space descriptors
 *   (bus number, I/O, memory), Extended Interrupt, and the End Tag; a
 *   ResourceTemplate is a Buffer of descriptors ending in the End Tag with a
 *   checksum byte of 0 ("the template is treated as correctly summed").
 *
 * Not covered: operators with run-time semantics beyond Return (no Store,
 * If, fields or operation regions): the tables describe a fixed platform.
 */

export type Aml = Uint8Array;

// ---------------------------------------------------------------- opcodes

export const ZERO_OP = 0x00;
export const ONE_OP = 0x01;
export const NAME_OP = 0x08;
export const BYTE_PREFIX = 0x0a;
export const WORD_PREFIX = 0x0b;
export const DWORD_PREFIX = 0x0c;
export const STRING_PREFIX = 0x0d;
export const QWORD_PREFIX = 0x0e;
export const SCOPE_OP = 0x10;
export const BUFFER_OP = 0x11;
export const PACKAGE_OP = 0x12;
export const VAR_PACKAGE_OP = 0x13;
export const METHOD_OP = 0x14;
export const DUAL_NAME_PREFIX = 0x2e;
export const MULTI_NAME_PREFIX = 0x2f;
export const EXT_OP_PREFIX = 0x5b;
/** Second byte of DeviceOp (0x5B 0x82). */
export const DEVICE_OP2 = 0x82;
export const ROOT_CHAR = 0x5c;
export const PARENT_PREFIX_CHAR = 0x5e;
export const RETURN_OP = 0xa4;
export const ONES_OP = 0xff;

// ---------------------------------------------------------------- basics

/** The bytes of all parts, in order. */
export function concat(...parts: readonly Aml[]): Aml {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function checkInt(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`AML: ${what} ${v} is not an integer in [${lo}, ${hi}]`);
}

/** Largest package length: 28 bits. */
export const PKG_LENGTH_MAX = 0x0fffffff;

/**
 * The PkgLength encoding of a package whose PkgLength field and contents
 * together are `total` bytes. One byte holds up to 63 (bits 5-0); otherwise
 * bits 7-6 of the lead byte count the bytes that follow, its bits 3-0 are the
 * low nibble and each following byte the next 8 bits.
 */
export function encodePkgLength(total: number): Aml {
  checkInt('PkgLength', total, 0, PKG_LENGTH_MAX);
  if (total <= 0x3f) return Uint8Array.of(total);
  const follow = total <= 0xfff ? 1 : total <= 0xfffff ? 2 : 3;
  const out = new Uint8Array(1 + follow);
  out[0] = (follow << 6) | (total & 0x0f);
  for (let i = 0; i < follow; i++) out[1 + i] = (total >>> (4 + 8 * i)) & 0xff;
  return out;
}

/** PkgLength followed by `contents`, the PkgLength counting itself. */
export function withPkgLength(contents: Aml): Aml {
  const n = contents.length;
  const size = n + 1 <= 0x3f ? 1 : n + 2 <= 0xfff ? 2 : n + 3 <= 0xfffff ? 3 : 4;
  if (n + size > PKG_LENGTH_MAX) throw new Error(`AML: package of ${n} bytes is too long for PkgLength`);
  return concat(encodePkgLength(n + size), contents);
}

// ---------------------------------------------------------------- names

const LEAD_CHAR = /^[A-Z_]$/;
const NAME_CHAR = /^[A-Z0-9_]$/;

/** A 4-character NameSeg; shorter names are padded with '_' ("ISA" is "ISA_"). */
export function nameSeg(seg: string): Aml {
  if (seg.length < 1 || seg.length > 4) throw new Error(`AML: name segment "${seg}" must have 1 to 4 characters`);
  const s = seg.padEnd(4, '_');
  if (!LEAD_CHAR.test(s[0]) || ![...s.slice(1)].every((c) => NAME_CHAR.test(c))) {
    throw new Error(`AML: bad name segment "${seg}" (A-Z or _ first, then A-Z, 0-9 or _)`);
  }
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * A NameString from ASL notation: optional `\` or `^`s, then dot-separated
 * segments, e.g. "\\_SB.PCI0", "^^CP00", "_S5", or "\\" alone (the root).
 */
export function namePath(path: string): Aml {
  let i = 0;
  const prefix: number[] = [];
  if (path.startsWith('\\')) {
    prefix.push(ROOT_CHAR);
    i = 1;
  } else {
    while (path[i] === '^') {
      prefix.push(PARENT_PREFIX_CHAR);
      i++;
    }
  }
  const rest = path.slice(i);
  const segs = rest === '' ? [] : rest.split('.').map(nameSeg);
  let body: Aml;
  if (segs.length === 0) body = Uint8Array.of(0); // NullName
  else if (segs.length === 1) body = segs[0];
  else if (segs.length === 2) body = concat(Uint8Array.of(DUAL_NAME_PREFIX), ...segs);
  else if (segs.length <= 255) body = concat(Uint8Array.of(MULTI_NAME_PREFIX, segs.length), ...segs);
  else throw new Error(`AML: name "${path}" has more than 255 segments`);
  return concat(Uint8Array.from(prefix), body);
}

// ---------------------------------------------------------------- data objects

export const ZERO: Aml = Uint8Array.of(ZERO_OP);
export const ONE: Aml = Uint8Array.of(ONE_OP);
/** All ones: 0xFFFFFFFFFFFFFFFF in a revision 2 table, 0xFFFFFFFF in revision 1. */
export const ONES: Aml = Uint8Array.of(ONES_OP);

function fixedInt(prefix: number, bytes: number, v: number | bigint, max: bigint): Aml {
  const b = BigInt(v);
  if (b < 0n || b > max || (typeof v === 'number' && !Number.isInteger(v))) {
    throw new Error(`AML: ${String(v)} does not fit ${bytes} bytes`);
  }
  const out = new Uint8Array(1 + bytes);
  out[0] = prefix;
  for (let i = 0; i < bytes; i++) out[1 + i] = Number((b >> BigInt(8 * i)) & 0xffn);
  return out;
}

export function byteConst(v: number): Aml {
  return fixedInt(BYTE_PREFIX, 1, v, 0xffn);
}
export function wordConst(v: number): Aml {
  return fixedInt(WORD_PREFIX, 2, v, 0xffffn);
}
export function dwordConst(v: number): Aml {
  return fixedInt(DWORD_PREFIX, 4, v, 0xffffffffn);
}
export function qwordConst(v: number | bigint): Aml {
  return fixedInt(QWORD_PREFIX, 8, v, 0xffffffffffffffffn);
}

/** An integer in its shortest encoding (0 and 1 as ZeroOp and OneOp). */
export function integer(v: number | bigint): Aml {
  if (typeof v === 'number' && (!Number.isSafeInteger(v) || v < 0)) throw new Error(`AML: ${v} is not a non-negative integer`);
  const b = BigInt(v);
  if (b < 0n || b > 0xffffffffffffffffn) throw new Error(`AML: ${String(v)} does not fit 64 bits`);
  if (b === 0n) return ZERO;
  if (b === 1n) return ONE;
  if (b <= 0xffn) return byteConst(Number(b));
  if (b <= 0xffffn) return wordConst(Number(b));
  if (b <= 0xffffffffn) return dwordConst(Number(b));
  return qwordConst(b);
}

/** A String: ASCII characters 0x01-0x7F, NUL-terminated. */
export function string(s: string): Aml {
  const out = new Uint8Array(s.length + 2);
  out[0] = STRING_PREFIX;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 1 || c > 0x7f) throw new Error(`AML: string ${JSON.stringify(s)} has a character outside 0x01-0x7F`);
    out[1 + i] = c;
  }
  return out;
}

/** Buffer(n) { bytes }: the size is encoded as an integer term. */
export function buffer(bytes: ArrayLike<number>): Aml {
  const data = Uint8Array.from(bytes);
  return concat(Uint8Array.of(BUFFER_OP), withPkgLength(concat(integer(data.length), data)));
}

/**
 * Package(n) { elements }: elements are data objects or name references
 * (`namePath`). More than 255 elements use VarPackageOp, whose count is a
 * term (an integer here).
 */
export function pkg(...elements: readonly Aml[]): Aml {
  if (elements.length <= 255) return concat(Uint8Array.of(PACKAGE_OP), withPkgLength(concat(Uint8Array.of(elements.length), ...elements)));
  return concat(Uint8Array.of(VAR_PACKAGE_OP), withPkgLength(concat(integer(elements.length), ...elements)));
}

// ---------------------------------------------------------------- named objects and terms

/** Name(path, value). */
export function name(path: string, value: Aml): Aml {
  return concat(Uint8Array.of(NAME_OP), namePath(path), value);
}

/** Scope(path) { terms }. */
export function scope(path: string, ...terms: readonly Aml[]): Aml {
  return concat(Uint8Array.of(SCOPE_OP), withPkgLength(concat(namePath(path), ...terms)));
}

/** Device(path) { terms }. */
export function device(path: string, ...terms: readonly Aml[]): Aml {
  return concat(Uint8Array.of(EXT_OP_PREFIX, DEVICE_OP2), withPkgLength(concat(namePath(path), ...terms)));
}

export interface MethodOptions {
  /** Number of arguments, 0-7. Default 0. */
  args?: number;
  /** Serialized (one execution at a time) or NotSerialized (default). */
  serialized?: boolean;
  /** SyncLevel 0-15. Default 0. */
  syncLevel?: number;
}

/** Method(path, args, [Not]Serialized, syncLevel) { terms }. */
export function method(path: string, opts: MethodOptions, ...terms: readonly Aml[]): Aml {
  const args = opts.args ?? 0;
  const sync = opts.syncLevel ?? 0;
  checkInt('method argument count', args, 0, 7);
  checkInt('method SyncLevel', sync, 0, 15);
  const flags = args | (opts.serialized ? 0x08 : 0) | (sync << 4);
  return concat(Uint8Array.of(METHOD_OP), withPkgLength(concat(namePath(path), Uint8Array.of(flags), ...terms)));
}

/** Return(value): a data object, or a name reference made with `namePath`. */
export function ret(value: Aml): Aml {
  return concat(Uint8Array.of(RETURN_OP), value);
}

// ---------------------------------------------------------------- EISA IDs

/**
 * EISAID("PNP0A03"): three upper-case letters compressed to 5 bits each
 * ('A' = 1) and four hex digits of product number, stored big-endian in the
 * four bytes of a DWord, i.e. the returned value is that byte sequence read
 * little-endian ("PNP0A03" is bytes 41 D0 0A 03, value 0x030AD041).
 */
export function eisaId(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new Error(`AML: EISA ID "${id}" must be 3 letters A-Z and 4 upper-case hex digits`);
  const c = (i: number): number => id.charCodeAt(i) - 0x40;
  const vendor = (c(0) << 10) | (c(1) << 5) | c(2);
  const product = parseInt(id.slice(3), 16);
  return ((vendor >>> 8) | ((vendor & 0xff) << 8) | ((product >>> 8) << 16) | ((product & 0xff) << 24)) >>> 0;
}

// ---------------------------------------------------------------- resource descriptors (ACPI 6.x section 6.4)

export const RES_IRQ = 0x04;
export const RES_IO = 0x08;
export const RES_FIXED_IO = 0x09;
export const RES_END_TAG = 0x0f;
export const RES_LARGE = 0x80;
export const RES_DWORD_ADDRESS = 0x07;
export const RES_WORD_ADDRESS = 0x08;
export const RES_EXT_IRQ = 0x09;
export const RES_QWORD_ADDRESS = 0x0a;

/** Address space resource types. */
export const ADDR_MEMORY = 0;
export const ADDR_IO = 1;
export const ADDR_BUS = 2;

function smallDesc(type: number, body: readonly number[]): Aml {
  return Uint8Array.of((type << 3) | body.length, ...body);
}

function largeDesc(type: number, body: readonly number[]): Aml {
  return Uint8Array.of(RES_LARGE | type, body.length & 0xff, body.length >>> 8, ...body);
}

function le(v: number | bigint, bytes: number): number[] {
  const b = BigInt(v);
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Number((b >> BigInt(8 * i)) & 0xffn));
  return out;
}

function irqMask(irqs: readonly number[]): number {
  let mask = 0;
  for (const irq of irqs) {
    checkInt('ISA IRQ', irq, 0, 15);
    mask |= 1 << irq;
  }
  return mask;
}

/** IRQNoFlags() {irqs}: ISA IRQs, edge-triggered active-high, exclusive. */
export function irqNoFlags(...irqs: readonly number[]): Aml {
  const m = irqMask(irqs);
  return smallDesc(RES_IRQ, [m & 0xff, m >>> 8]);
}

export interface IrqOptions {
  irqs: readonly number[];
  /** Edge (default) or level triggered. */
  edge?: boolean;
  /** Active low (default false: active high). */
  activeLow?: boolean;
  shared?: boolean;
  wake?: boolean;
}

/** IRQ(Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) {irqs}: the 3-byte form. */
export function irq(o: IrqOptions): Aml {
  const m = irqMask(o.irqs);
  const flags = ((o.edge ?? true) ? 0x01 : 0) | (o.activeLow ? 0x08 : 0) | (o.shared ? 0x10 : 0) | (o.wake ? 0x20 : 0);
  return smallDesc(RES_IRQ, [m & 0xff, m >>> 8, flags]);
}

/** IO(Decode16|Decode10, min, max, alignment, length). */
export function io(min: number, max: number, alignment: number, length: number, decode16 = true): Aml {
  checkInt('IO minimum', min, 0, 0xffff);
  checkInt('IO maximum', max, min, 0xffff);
  checkInt('IO alignment', alignment, 0, 0xff);
  checkInt('IO length', length, 0, 0xff);
  return smallDesc(RES_IO, [decode16 ? 1 : 0, ...le(min, 2), ...le(max, 2), alignment, length]);
}

/** FixedIO(base, length): a 10-bit decoded ISA range. */
export function fixedIo(base: number, length: number): Aml {
  checkInt('FixedIO base', base, 0, 0x3ff);
  checkInt('FixedIO length', length, 0, 0xff);
  return smallDesc(RES_FIXED_IO, [...le(base, 2), length]);
}

export interface AddressOptions {
  min: number | bigint;
  max: number | bigint;
  /** Default max - min + 1. */
  length?: number | bigint;
  granularity?: number | bigint;
  translation?: number | bigint;
  /** ResourceProducer (a bridge's window) or ResourceConsumer (default). */
  producer?: boolean;
  /** SubDecode (default PosDecode). */
  subtractive?: boolean;
  /** MinFixed / MaxFixed: default true. */
  minFixed?: boolean;
  maxFixed?: boolean;
}

export type IoRange = 'nonisa' | 'isa' | 'entire';
export type MemoryCaching = 'noncacheable' | 'cacheable' | 'writecombining' | 'prefetchable';

function generalFlags(o: AddressOptions): number {
  return (o.producer ? 0 : 0x01) | (o.subtractive ? 0x02 : 0) | ((o.minFixed ?? true) ? 0x04 : 0) | ((o.maxFixed ?? true) ? 0x08 : 0);
}

function addressDesc(type: number, bytes: 2 | 4 | 8, resourceType: number, typeFlags: number, o: AddressOptions): Aml {
  const limit = (1n << BigInt(8 * bytes)) - 1n;
  const min = BigInt(o.min);
  const max = BigInt(o.max);
  const length = o.length === undefined ? max - min + 1n : BigInt(o.length);
  const gran = BigInt(o.granularity ?? 0);
  const tra = BigInt(o.translation ?? 0);
  for (const [what, v] of [['minimum', min], ['maximum', max], ['length', length], ['granularity', gran], ['translation', tra]] as const) {
    if (v < 0n || v > limit) throw new Error(`AML: address descriptor ${what} ${v} does not fit ${bytes} bytes`);
  }
  if (max < min) throw new Error(`AML: address descriptor maximum ${max} below minimum ${min}`);
  const body = [resourceType, generalFlags(o), typeFlags, ...le(gran, bytes), ...le(min, bytes), ...le(max, bytes), ...le(tra, bytes), ...le(length, bytes)];
  return largeDesc(type, body);
}

function ioFlags(range: IoRange = 'entire'): number {
  return range === 'nonisa' ? 1 : range === 'isa' ? 2 : 3;
}

function memFlags(caching: MemoryCaching = 'cacheable', readWrite = true): number {
  const c = { noncacheable: 0, cacheable: 1, writecombining: 2, prefetchable: 3 }[caching];
  return (readWrite ? 1 : 0) | (c << 1);
}

/** WordBusNumber(...): a bus number range. */
export function wordBusNumber(o: AddressOptions): Aml {
  return addressDesc(RES_WORD_ADDRESS, 2, ADDR_BUS, 0, o);
}

/** WordIO(..., range): a 16-bit I/O port range. */
export function wordIo(o: AddressOptions & { range?: IoRange }): Aml {
  return addressDesc(RES_WORD_ADDRESS, 2, ADDR_IO, ioFlags(o.range), o);
}

/** DWordIO(..., range). */
export function dwordIo(o: AddressOptions & { range?: IoRange }): Aml {
  return addressDesc(RES_DWORD_ADDRESS, 4, ADDR_IO, ioFlags(o.range), o);
}

/** DWordMemory(..., caching, ReadWrite|ReadOnly): a 32-bit memory range. */
export function dwordMemory(o: AddressOptions & { caching?: MemoryCaching; readWrite?: boolean }): Aml {
  return addressDesc(RES_DWORD_ADDRESS, 4, ADDR_MEMORY, memFlags(o.caching, o.readWrite), o);
}

/** QWordMemory(..., caching, ReadWrite|ReadOnly): a 64-bit memory range. */
export function qwordMemory(o: AddressOptions & { caching?: MemoryCaching; readWrite?: boolean }): Aml {
  return addressDesc(RES_QWORD_ADDRESS, 8, ADDR_MEMORY, memFlags(o.caching, o.readWrite), o);
}

export interface InterruptOptions {
  /** Global system interrupts (or other interrupt numbers of the consumer's controller). */
  gsis: readonly number[];
  /** ResourceConsumer (default true). */
  consumer?: boolean;
  /** Edge (default false: level). */
  edge?: boolean;
  /** ActiveLow (default false: active high). */
  activeLow?: boolean;
  shared?: boolean;
  wake?: boolean;
}

/** Interrupt(ResourceConsumer, Level|Edge, ActiveHigh|ActiveLow, Exclusive|Shared) {gsis}. */
export function interrupt(o: InterruptOptions): Aml {
  if (o.gsis.length < 1 || o.gsis.length > 255) throw new Error('AML: Interrupt() needs 1 to 255 interrupt numbers');
  const flags = ((o.consumer ?? true) ? 0x01 : 0) | (o.edge ? 0x02 : 0) | (o.activeLow ? 0x04 : 0) | (o.shared ? 0x08 : 0) | (o.wake ? 0x10 : 0);
  const body = [flags, o.gsis.length];
  for (const g of o.gsis) {
    checkInt('interrupt number', g, 0, 0xffffffff);
    body.push(...le(g, 4));
  }
  return largeDesc(RES_EXT_IRQ, body);
}

/** The End Tag, with checksum byte 0 (the template counts as correctly summed). */
export function endTag(): Aml {
  return smallDesc(RES_END_TAG, [0]);
}

/** ResourceTemplate() { descriptors }: a Buffer of the descriptors and the End Tag. */
export function resourceTemplate(...descriptors: readonly Aml[]): Aml {
  return buffer(concat(...descriptors, endTag()));
}
