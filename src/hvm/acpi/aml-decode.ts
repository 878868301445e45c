/**
 * A decoder for the subset of AML that aml.ts writes (Name, Scope, Device,
 * Method, Return, integers, strings, buffers, packages, name references)
 * and for resource templates. It exists for tests and for debugging dumps of
 * the firmware tables; it is strict: anything else is an error, and every
 * package must end exactly where its PkgLength says.
 */
import {
  BUFFER_OP, BYTE_PREFIX, DEVICE_OP2, DUAL_NAME_PREFIX, DWORD_PREFIX, EXT_OP_PREFIX, METHOD_OP, MULTI_NAME_PREFIX, NAME_OP,
  ONE_OP, ONES_OP, PACKAGE_OP, PARENT_PREFIX_CHAR, QWORD_PREFIX, RES_DWORD_ADDRESS, RES_END_TAG, RES_EXT_IRQ, RES_FIXED_IO,
  RES_IO, RES_IRQ, RES_LARGE, RES_QWORD_ADDRESS, RES_WORD_ADDRESS, RETURN_OP, ROOT_CHAR, SCOPE_OP, STRING_PREFIX,
  VAR_PACKAGE_OP, WORD_PREFIX, ZERO_OP,
} from './aml.js';

export type AmlValue =
  | { kind: 'integer'; value: bigint }
  | { kind: 'string'; value: string }
  | { kind: 'buffer'; bytes: Uint8Array }
  | { kind: 'package'; elements: AmlValue[] }
  | { kind: 'name'; path: string };

export type AmlNode =
  | { kind: 'name'; path: string; value: AmlValue }
  | { kind: 'scope'; path: string; body: AmlNode[] }
  | { kind: 'device'; path: string; body: AmlNode[] }
  | { kind: 'method'; path: string; args: number; serialized: boolean; syncLevel: number; body: AmlNode[] }
  | { kind: 'return'; value: AmlValue };

class Reader {
  constructor(readonly b: Uint8Array, public pos: number, readonly end: number) {}

  fail(what: string): never {
    throw new Error(`AML decode at offset ${this.pos}: ${what}`);
  }

  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end');
    return this.b[this.pos++];
  }

  peek(): number {
    if (this.pos >= this.end) this.fail('unexpected end');
    return this.b[this.pos];
  }

  le(n: number): bigint {
    let v = 0n;
    for (let i = 0; i < n; i++) v |= BigInt(this.byte()) << BigInt(8 * i);
    return v;
  }

  /** A PkgLength; returns the end offset of the package it measures. */
  pkgEnd(): number {
    const start = this.pos;
    const lead = this.byte();
    const follow = lead >> 6;
    let len: number;
    if (follow === 0) len = lead & 0x3f;
    else {
      if (lead & 0x30) this.fail('PkgLength lead byte has bits 5-4 set');
      len = lead & 0x0f;
      for (let i = 0; i < follow; i++) len |= this.byte() << (4 + 8 * i);
    }
    const end = start + len;
    if (end > this.end || end < this.pos) this.fail(`PkgLength ${len} runs past its container`);
    return end;
  }

  seg(): string {
    let s = '';
    for (let i = 0; i < 4; i++) {
      const c = String.fromCharCode(this.byte());
      if (!/[A-Z0-9_]/.test(c) || (i === 0 && /[0-9]/.test(c))) this.fail(`bad NameSeg character ${JSON.stringify(c)}`);
      s += c;
    }
    return s;
  }

  nameString(): string {
    let prefix = '';
    if (this.peek() === ROOT_CHAR) {
      this.pos++;
      prefix = '\\';
    } else {
      while (this.peek() === PARENT_PREFIX_CHAR) {
        this.pos++;
        prefix += '^';
      }
    }
    const c = this.byte();
    let segs: string[];
    if (c === 0) segs = [];
    else if (c === DUAL_NAME_PREFIX) segs = [this.seg(), this.seg()];
    else if (c === MULTI_NAME_PREFIX) {
      const n = this.byte();
      segs = [];
      for (let i = 0; i < n; i++) segs.push(this.seg());
    } else {
      this.pos--;
      segs = [this.seg()];
    }
    return prefix + segs.join('.');
  }
}

function isNameStart(c: number): boolean {
  return c === ROOT_CHAR || c === PARENT_PREFIX_CHAR || c === DUAL_NAME_PREFIX || c === MULTI_NAME_PREFIX || c === 0x5f || (c >= 0x41 && c <= 0x5a);
}

function dataObject(r: Reader, revision: number): AmlValue {
  const op = r.peek();
  if (isNameStart(op)) return { kind: 'name', path: r.nameString() };
  r.pos++;
  switch (op) {
    case ZERO_OP:
      return { kind: 'integer', value: 0n };
    case ONE_OP:
      return { kind: 'integer', value: 1n };
    case ONES_OP:
      return { kind: 'integer', value: revision >= 2 ? 0xffffffffffffffffn : 0xffffffffn };
    case BYTE_PREFIX:
      return { kind: 'integer', value: r.le(1) };
    case WORD_PREFIX:
      return { kind: 'integer', value: r.le(2) };
    case DWORD_PREFIX:
      return { kind: 'integer', value: r.le(4) };
    case QWORD_PREFIX:
      return { kind: 'integer', value: r.le(8) };
    case STRING_PREFIX: {
      let s = '';
      for (let c = r.byte(); c !== 0; c = r.byte()) {
        if (c > 0x7f) r.fail('string character above 0x7F');
        s += String.fromCharCode(c);
      }
      return { kind: 'string', value: s };
    }
    case BUFFER_OP: {
      const end = r.pkgEnd();
      const inner = new Reader(r.b, r.pos, end);
      const size = integerValue(dataObject(inner, revision), 'buffer size');
      const bytes = r.b.slice(inner.pos, end);
      if (bytes.length > size) inner.fail(`buffer holds ${bytes.length} bytes, more than its size ${size}`);
      const out = new Uint8Array(size);
      out.set(bytes);
      r.pos = end;
      return { kind: 'buffer', bytes: out };
    }
    case PACKAGE_OP:
    case VAR_PACKAGE_OP: {
      const end = r.pkgEnd();
      const inner = new Reader(r.b, r.pos, end);
      const count = op === PACKAGE_OP ? inner.byte() : integerValue(dataObject(inner, revision), 'package count');
      const elements: AmlValue[] = [];
      while (inner.pos < end) elements.push(dataObject(inner, revision));
      if (elements.length > count) inner.fail(`package has ${elements.length} elements, more than its count ${count}`);
      // Elements beyond the initialised ones are uninitialised; they are not represented here.
      r.pos = end;
      return { kind: 'package', elements };
    }
    default:
      r.pos--;
      return r.fail(`unsupported data object opcode 0x${op.toString(16)}`);
  }
}

function integerValue(v: AmlValue, what: string): number {
  if (v.kind !== 'integer') throw new Error(`AML decode: ${what} is not an integer`);
  return Number(v.value);
}

function termList(r: Reader, revision: number): AmlNode[] {
  const out: AmlNode[] = [];
  while (r.pos < r.end) {
    const op = r.byte();
    switch (op) {
      case NAME_OP: {
        const path = r.nameString();
        out.push({ kind: 'name', path, value: dataObject(r, revision) });
        break;
      }
      case SCOPE_OP: {
        const end = r.pkgEnd();
        const inner = new Reader(r.b, r.pos, end);
        const path = inner.nameString();
        out.push({ kind: 'scope', path, body: termList(inner, revision) });
        r.pos = end;
        break;
      }
      case EXT_OP_PREFIX: {
        if (r.byte() !== DEVICE_OP2) {
          r.pos--;
          r.fail(`unsupported extended opcode 0x5b 0x${r.peek().toString(16)}`);
        }
        const end = r.pkgEnd();
        const inner = new Reader(r.b, r.pos, end);
        const path = inner.nameString();
        out.push({ kind: 'device', path, body: termList(inner, revision) });
        r.pos = end;
        break;
      }
      case METHOD_OP: {
        const end = r.pkgEnd();
        const inner = new Reader(r.b, r.pos, end);
        const path = inner.nameString();
        const flags = inner.byte();
        out.push({ kind: 'method', path, args: flags & 7, serialized: (flags & 8) !== 0, syncLevel: flags >> 4, body: termList(inner, revision) });
        r.pos = end;
        break;
      }
      case RETURN_OP:
        out.push({ kind: 'return', value: dataObject(r, revision) });
        break;
      default:
        r.pos--;
        r.fail(`unsupported term opcode 0x${op.toString(16)}`);
    }
  }
  return out;
}

/** Decode an AML TermList (e.g. a DSDT's bytes after its 36-byte header). `revision` is the table revision (Ones' width). */
export function decodeAml(bytes: Uint8Array, revision = 2): AmlNode[] {
  return termList(new Reader(bytes, 0, bytes.length), revision);
}

/** The object at `path` (dot-separated 4-character segments, from the root, e.g. "_SB_.PCI0._CRS"). */
export function findAml(nodes: readonly AmlNode[], path: string): AmlNode | undefined {
  const want = path.replace(/^\\/, '').split('.');
  const walk = (list: readonly AmlNode[], scopePath: string[]): AmlNode | undefined => {
    for (const n of list) {
      if (n.kind === 'return') continue;
      const full = resolve(scopePath, n.path);
      if (full.join('.') === want.join('.')) return n;
      if (n.kind === 'scope' || n.kind === 'device') {
        const hit = walk(n.body, full);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  return walk(nodes, []);
}

function resolve(scope: readonly string[], path: string): string[] {
  if (path.startsWith('\\')) return path === '\\' ? [] : path.slice(1).split('.');
  let up = 0;
  while (path[up] === '^') up++;
  const rest = path.slice(up);
  return [...scope.slice(0, scope.length - up), ...(rest === '' ? [] : rest.split('.'))];
}

// ---------------------------------------------------------------- resource templates

export type Resource =
  | { kind: 'irq'; irqs: number[]; flags?: number }
  | { kind: 'io'; decode16: boolean; min: number; max: number; alignment: number; length: number }
  | { kind: 'fixedio'; base: number; length: number }
  | {
      kind: 'address';
      /** 2, 4 or 8 (Word, DWord, QWord). */
      width: number;
      resourceType: number;
      generalFlags: number;
      typeFlags: number;
      granularity: number;
      min: number;
      max: number;
      translation: number;
      length: number;
    }
  | { kind: 'interrupt'; flags: number; gsis: number[] };

/** Parse a resource template (a _CRS buffer); it must end with an End Tag whose checksum is 0 or correct. */
export function decodeResources(bytes: Uint8Array): Resource[] {
  const out: Resource[] = [];
  let p = 0;
  const u16 = (o: number): number => bytes[o] | (bytes[o + 1] << 8);
  const uN = (o: number, n: number): number => {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + bytes[o + i];
    return v;
  };
  for (;;) {
    if (p >= bytes.length) throw new Error('resource template has no End Tag');
    const tag = bytes[p];
    if (tag & RES_LARGE) {
      const type = tag & 0x7f;
      const len = u16(p + 1);
      const d = p + 3;
      if (d + len > bytes.length) throw new Error(`large resource at ${p} runs past the buffer`);
      if (type === RES_WORD_ADDRESS || type === RES_DWORD_ADDRESS || type === RES_QWORD_ADDRESS) {
        const width = type === RES_WORD_ADDRESS ? 2 : type === RES_DWORD_ADDRESS ? 4 : 8;
        if (len < 3 + 5 * width) throw new Error(`address descriptor at ${p} too short`);
        const f = (i: number): number => uN(d + 3 + i * width, width);
        out.push({ kind: 'address', width, resourceType: bytes[d], generalFlags: bytes[d + 1], typeFlags: bytes[d + 2], granularity: f(0), min: f(1), max: f(2), translation: f(3), length: f(4) });
      } else if (type === RES_EXT_IRQ) {
        const n = bytes[d + 1];
        if (len < 2 + 4 * n) throw new Error(`interrupt descriptor at ${p} too short`);
        out.push({ kind: 'interrupt', flags: bytes[d], gsis: Array.from({ length: n }, (_, i) => uN(d + 2 + 4 * i, 4)) });
      } else {
        throw new Error(`unsupported large resource type 0x${type.toString(16)} at ${p}`);
      }
      p = d + len;
      continue;
    }
    const type = tag >> 3;
    const len = tag & 7;
    const d = p + 1;
    if (d + len > bytes.length) throw new Error(`small resource at ${p} runs past the buffer`);
    if (type === RES_END_TAG) {
      if (len !== 1) throw new Error('End Tag must have length 1');
      let sum = 0;
      for (let i = 0; i <= d; i++) sum += bytes[i];
      if (bytes[d] !== 0 && (sum & 0xff) !== 0) throw new Error('resource template checksum is wrong');
      return out;
    }
    if (type === RES_IRQ && (len === 2 || len === 3)) {
      const mask = u16(d);
      const irqs: number[] = [];
      for (let i = 0; i < 16; i++) if (mask & (1 << i)) irqs.push(i);
      out.push(len === 3 ? { kind: 'irq', irqs, flags: bytes[d + 2] } : { kind: 'irq', irqs });
    } else if (type === RES_IO && len === 7) {
      out.push({ kind: 'io', decode16: (bytes[d] & 1) !== 0, min: u16(d + 1), max: u16(d + 3), alignment: bytes[d + 5], length: bytes[d + 6] });
    } else if (type === RES_FIXED_IO && len === 3) {
      out.push({ kind: 'fixedio', base: u16(d), length: bytes[d + 2] });
    } else {
      throw new Error(`unsupported small resource type 0x${type.toString(16)} length ${len} at ${p}`);
    }
    p = d + len;
  }
}
