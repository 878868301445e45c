/**
 * Binary format of the differential x86 fixtures in test/fixtures/x86/*.bin.gz,
 * written by scripts/gen-x86-fixtures.ts from runs on a real processor and
 * replayed by test/x86/differential.test.ts. test/fixtures/x86/README.md
 * describes it for humans; this module is the definition.
 *
 * Everything is little-endian; `varuint` is unsigned LEB128. A file is gzip of:
 *
 *   magic "TVX86FX1", varuint nameLen, name, u32 seed, u16 ulps, varuint count, cases…
 *
 * `ulps` is 0 for exact groups; otherwise x87 register values may differ by up
 * to that many units in the last place of the 64-bit significand.
 *
 * A case:
 *   u8 flags               bit 0: x87 image present, bit 1: ended in an exception,
 *                          bit 2: some registers are only partly defined
 *   varuint len, asm text  (Intel syntax, for messages)
 *   varuint len, code
 *   u8 mask, u32 × n       input registers that differ from DEFAULT_REGS
 *   u32 eflags             input EFLAGS (bit 1 and IF set, as user mode has them)
 *   runs data, runs stack  input areas (the rest is zero)
 *   [bit 0] runs fpu       input FRSTOR image (vs all zero)
 *   [bit 1] u8 vector, varuint eip offset from CODE_BASE (else EIP = end of code)
 *   u8 mask, u32 × n       output registers that differ from the input
 *   [bit 2] u8 mask, u32 × n  compare masks of partly defined registers
 *   u32 eflags, u32 eflagsMask
 *   runs data, runs stack  output bytes that differ from the input
 *   [bit 0] runs fpu, u16 fswMask  output image bytes that differ from the input
 *                          image; which status word bits are defined
 *
 * runs: varuint count, then per run varuint gap (from the end of the previous
 * run), varuint length, bytes.
 */

export const FIXTURE_MAGIC = 'TVX86FX1';
export const AREA_SIZE = 4096;
export const FPU_IMAGE_SIZE = 108;

/** EAX ECX EDX EBX ESP EBP ESI EDI of a case before it sets its own. */
export const DEFAULT_REGS: readonly number[] = [
  0x8a3f29c1, 0x1b7e0d52, 0xe45c9a37, 0x6d02f4b8, 0x002ff800, 0x93c6e15a, 0x27ad8b04, 0xf1583e6d,
];

export interface Run {
  offset: number;
  bytes: Uint8Array;
}

export interface FixtureExpect {
  /** Exception vector, or null if the code ran to its end. */
  exception: number | null;
  /** EIP - CODE_BASE when the case stopped. */
  eip: number;
  regs: number[];
  /** Per register, the bits that are architecturally defined. */
  regMask: number[];
  eflags: number;
  eflagsMask: number;
  /** Bytes of the data and stack areas that changed. */
  data: Run[];
  stack: Run[];
  /** The whole FNSAVE image after the case (x87 cases). */
  fpu?: Uint8Array;
  /** Defined bits of the x87 status word. */
  fswMask: number;
}

export interface FixtureCase {
  asm: string;
  code: Uint8Array;
  regs: number[];
  eflags: number;
  /** Data area at DATA_BASE, stack area at STACK_TOP - 4096; bytes not in a run are zero. */
  data: Run[];
  stack: Run[];
  /** 108-byte FRSTOR image, for x87 cases. */
  fpu?: Uint8Array;
  expect: FixtureExpect;
}

export interface FixtureFile {
  group: string;
  seed: number;
  ulps: number;
  cases: FixtureCase[];
}

const F_FPU = 1;
const F_EXCEPTION = 2;
const F_REGMASK = 4;

class Writer {
  private buf = new Uint8Array(1 << 16);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v & 0xff;
  }

  u16(v: number): void {
    this.u8(v);
    this.u8(v >>> 8);
  }

  u32(v: number): void {
    this.u16(v);
    this.u16(v >>> 16);
  }

  varuint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`varuint ${v}`);
    while (v >= 0x80) {
      this.u8((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.u8(v);
  }

  bytes(b: ArrayLike<number>): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  text(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.varuint(b.length);
    this.bytes(b);
  }

  runs(runs: readonly Run[]): void {
    this.varuint(runs.length);
    let end = 0;
    for (const r of runs) {
      if (r.offset < end) throw new RangeError('runs must be sorted and disjoint');
      this.varuint(r.offset - end);
      this.varuint(r.bytes.length);
      this.bytes(r.bytes);
      end = r.offset + r.bytes.length;
    }
  }

  /** Registers (8) whose value differs from `base`: u8 mask, then the values. */
  regsVs(regs: readonly number[], base: readonly number[]): void {
    let mask = 0;
    for (let i = 0; i < 8; i++) if (regs[i] >>> 0 !== base[i] >>> 0) mask |= 1 << i;
    this.u8(mask);
    for (let i = 0; i < 8; i++) if (mask & (1 << i)) this.u32(regs[i]);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new RangeError('fixture truncated');
    return this.buf[this.pos++];
  }

  u16(): number {
    return this.u8() | (this.u8() << 8);
  }

  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }

  varuint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
    }
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new RangeError('fixture truncated');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  text(): string {
    return Buffer.from(this.bytes(this.varuint())).toString('utf8');
  }

  runs(): Run[] {
    const n = this.varuint();
    const out: Run[] = [];
    let end = 0;
    for (let i = 0; i < n; i++) {
      const offset = end + this.varuint();
      const bytes = this.bytes(this.varuint());
      out.push({ offset, bytes });
      end = offset + bytes.length;
    }
    return out;
  }

  regsVs(base: readonly number[]): number[] {
    const mask = this.u8();
    const regs = base.map((v) => v >>> 0);
    for (let i = 0; i < 8; i++) if (mask & (1 << i)) regs[i] = this.u32();
    return regs;
  }
}

/** Copies `base` and writes the runs over it. */
export function applyRuns(base: Uint8Array, runs: readonly Run[]): Uint8Array {
  const out = base.slice();
  for (const r of runs) out.set(r.bytes, r.offset);
  return out;
}

/** Runs where `now` differs from `base`; runs closer than `join` bytes are merged. */
export function diffRuns(base: Uint8Array, now: Uint8Array, join = 1): Run[] {
  const runs: Run[] = [];
  let i = 0;
  while (i < now.length) {
    if (base[i] === now[i]) {
      i++;
      continue;
    }
    let j = i + 1;
    let last = i;
    while (j < now.length && j - last <= join) {
      if (base[j] !== now[j]) last = j;
      j++;
    }
    runs.push({ offset: i, bytes: now.slice(i, last + 1) });
    i = last + 1;
  }
  return runs;
}

export function encodeFixture(f: FixtureFile): Uint8Array {
  const w = new Writer();
  w.bytes(Buffer.from(FIXTURE_MAGIC, 'ascii'));
  w.text(f.group);
  w.u32(f.seed);
  w.u16(f.ulps);
  w.varuint(f.cases.length);
  for (const c of f.cases) {
    const e = c.expect;
    const partial = e.regMask.some((m) => m >>> 0 !== 0xffffffff);
    let flags = 0;
    if (c.fpu) flags |= F_FPU;
    if (e.exception !== null) flags |= F_EXCEPTION;
    if (partial) flags |= F_REGMASK;
    w.u8(flags);
    w.text(c.asm);
    w.varuint(c.code.length);
    w.bytes(c.code);
    w.regsVs(c.regs, DEFAULT_REGS);
    w.u32(c.eflags);
    w.runs(c.data);
    w.runs(c.stack);
    if (c.fpu) w.runs(diffRuns(new Uint8Array(FPU_IMAGE_SIZE), c.fpu));
    if (e.exception !== null) {
      w.u8(e.exception);
      w.varuint(e.eip);
    } else if (e.eip !== c.code.length) {
      throw new Error(`${c.asm}: EIP must be the end of the code when no exception happened`);
    }
    w.regsVs(e.regs, c.regs);
    if (partial) w.regsVs(e.regMask, [-1, -1, -1, -1, -1, -1, -1, -1]);
    w.u32(e.eflags);
    w.u32(e.eflagsMask);
    w.runs(e.data);
    w.runs(e.stack);
    if (c.fpu) {
      if (!e.fpu) throw new Error(`${c.asm}: x87 case without an expected image`);
      w.runs(diffRuns(c.fpu, e.fpu));
      w.u16(e.fswMask);
    }
  }
  return w.finish();
}

export function decodeFixture(buf: Uint8Array): FixtureFile {
  const r = new Reader(buf);
  const magic = Buffer.from(r.bytes(FIXTURE_MAGIC.length)).toString('ascii');
  if (magic !== FIXTURE_MAGIC) throw new Error(`not an x86 fixture (magic ${JSON.stringify(magic)})`);
  const group = r.text();
  const seed = r.u32();
  const ulps = r.u16();
  const count = r.varuint();
  const cases: FixtureCase[] = [];
  const zeroImage = new Uint8Array(FPU_IMAGE_SIZE);
  for (let i = 0; i < count; i++) {
    const flags = r.u8();
    const asm = r.text();
    const code = r.bytes(r.varuint());
    const regs = r.regsVs(DEFAULT_REGS);
    const eflags = r.u32();
    const data = r.runs();
    const stack = r.runs();
    const fpu = flags & F_FPU ? applyRuns(zeroImage, r.runs()) : undefined;
    let exception: number | null = null;
    let eip = code.length;
    if (flags & F_EXCEPTION) {
      exception = r.u8();
      eip = r.varuint();
    }
    const outRegs = r.regsVs(regs);
    const regMask = flags & F_REGMASK ? r.regsVs([-1, -1, -1, -1, -1, -1, -1, -1]) : new Array<number>(8).fill(0xffffffff);
    const outEflags = r.u32();
    const eflagsMask = r.u32();
    const outData = r.runs();
    const outStack = r.runs();
    let outFpu: Uint8Array | undefined;
    let fswMask = 0;
    if (fpu) {
      outFpu = applyRuns(fpu, r.runs());
      fswMask = r.u16();
    }
    cases.push({
      asm,
      code,
      regs,
      eflags,
      data,
      stack,
      fpu,
      expect: {
        exception,
        eip,
        regs: outRegs,
        regMask,
        eflags: outEflags,
        eflagsMask,
        data: outData,
        stack: outStack,
        fpu: outFpu,
        fswMask,
      },
    });
  }
  if (!r.done) throw new Error(`${group}: trailing bytes after ${count} cases`);
  return { group, seed, ulps, cases };
}
