/**
 * A tiny FpuHost over a Uint8Array for the FPU tests, plus helpers to run instructions and to load
 * and read 80-bit values as hex strings (sign/exponent first, 20 digits).
 */
import { Fpu, FpuHost } from '../../src/x86/fpu.js';
import { f80, fromBytes, fromHex, fromNumber, toBytes, toHex } from '../../src/x86/fpu-float80.js';

export class MathFault extends Error {}
export class UndefinedOpcode extends Error {}
export class PageFault extends Error {}

export class TestHost implements FpuHost {
  mem = new Uint8Array(0x10000);
  opsize32 = true;
  realMode = false;
  insnCs = 0x1b;
  insnEip = 0x1000;
  dataSel = 0x23;
  dataOffset = 0;
  eflags = 0x2;
  ax = 0;
  mathFaults = 0;
  /** When true, mathFault() throws (CR0.NE = 1, #MF); otherwise it only counts (FERR#). */
  faultThrows = true;
  /** Addresses from here up fault on access (a "page fault"). */
  faultFrom = 0x10000;

  private check(lin: number, n: number): void {
    if (lin + n > this.faultFrom) throw new PageFault(`fault at ${lin.toString(16)}`);
  }
  read8(lin: number): number {
    this.check(lin, 1);
    return this.mem[lin];
  }
  read16(lin: number): number {
    this.check(lin, 2);
    return this.mem[lin] | (this.mem[lin + 1] << 8);
  }
  read32(lin: number): number {
    this.check(lin, 4);
    return (this.mem[lin] | (this.mem[lin + 1] << 8) | (this.mem[lin + 2] << 16) | (this.mem[lin + 3] << 24)) >>> 0;
  }
  write8(lin: number, v: number): void {
    this.check(lin, 1);
    this.mem[lin] = v & 0xff;
  }
  write16(lin: number, v: number): void {
    this.check(lin, 2);
    this.mem[lin] = v & 0xff;
    this.mem[lin + 1] = (v >>> 8) & 0xff;
  }
  write32(lin: number, v: number): void {
    this.check(lin, 4);
    for (let k = 0; k < 4; k++) this.mem[lin + k] = (v >>> (8 * k)) & 0xff;
  }
  getEflags(): number {
    return this.eflags;
  }
  setEflags(v: number): void {
    this.eflags = v;
  }
  mathFault(): void {
    this.mathFaults++;
    if (this.faultThrows) throw new MathFault('#MF');
  }
  undefinedOpcode(): never {
    throw new UndefinedOpcode('#UD');
  }
  setAx(v: number): void {
    this.ax = v;
  }

  // Helpers for tests
  put80(lin: number, hex: string): void {
    toBytes(fromHex(hex), this.mem, lin);
  }
  get80(lin: number): string {
    return toHex(fromBytes(this.mem, lin));
  }
  hexAt(lin: number, bytes: number): string {
    let s = '';
    for (let k = bytes - 1; k >= 0; k--) s += this.mem[lin + k].toString(16).padStart(2, '0');
    return s;
  }
  putBytes(lin: number, bytes: number[]): void {
    bytes.forEach((b, k) => (this.mem[lin + k] = b));
  }
}

/** Scratch address the helpers use for their own loads. */
export const SCRATCH = 0xf000;

export function setup(cw = 0x037f): { fpu: Fpu; host: TestHost } {
  const fpu = new Fpu();
  const host = new TestHost();
  fpu.cw = cw;
  return { fpu, host };
}

/** Executes ESC opcode `op` (0xD8–0xDF) with ModRM `modrm`, memory operand at `lin`. */
export function run(fpu: Fpu, host: TestHost, op: number, modrm: number, lin = 0): void {
  host.dataOffset = lin;
  fpu.execute(host, op, modrm, lin);
}

/** FLD m80 of a hex value. */
export function push(fpu: Fpu, host: TestHost, hex: string): void {
  host.put80(SCRATCH, hex);
  run(fpu, host, 0xdb, 0x28, SCRATCH); // DB /5
}

/** FLD m80 of a JS number (exact). */
export function pushNum(fpu: Fpu, host: TestHost, x: number): void {
  push(fpu, host, toHex(fromNumber(x)));
}

export function st(fpu: Fpu, i = 0): string {
  return toHex(fpu.st(i));
}

export function hexOf(x: number): string {
  return toHex(fromNumber(x));
}

export function h(sign: number, exp: number, sig: bigint): string {
  return toHex(f80(sign, exp, sig));
}

/** Status-word exception and stack-fault bits. */
export function exc(fpu: Fpu): number {
  return fpu.sw & 0x7f;
}
