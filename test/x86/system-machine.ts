/**
 * A small protected-mode machine for the system-architecture tests: GDT, IDT
 * and TSSs in memory, built descriptor by descriptor, and code loaded as byte
 * arrays. Paging is off unless a test turns it on.
 *
 * Every IDT vector starts as a ring-0 interrupt gate to a stub that is a lone
 * HLT (STUBS + vector * 16), so an unexpected exception stops the run at a
 * known place: `haltedVector()` says which. Tests replace the gates they use.
 */
import { Cpu, Exit } from '../../src/x86/cpu.js';
import { GuestMemory } from '../../src/x86/memory.js';
import { CS, DS, ES, FS, GS, SS } from '../../src/x86/constants.js';
import { gateDescriptor, ltr } from '../../src/x86/descriptors.js';

// Physical layout.
export const GDT = 0x1000, IDT = 0x2000, TSS = 0x3000, TSS2 = 0x3800, TSS3 = 0x3c00;
export const DATA = 0x6000; // results written by test code
export const KCODE_BASE = 0x10000, STUBS = 0x18000, UCODE_BASE = 0x20000;
export const USTACK_TOP = 0x30000, KSTACK_TOP = 0x50000, DFSTACK_TOP = 0x68000;

// Selectors of the standard GDT.
export const KCODE = 0x08, KDATA = 0x10, UCODE = 0x1b, UDATA = 0x23, TSS_SEL = 0x28, TSS2_SEL = 0x30, TSS3_SEL = 0x38;
/** First GDT slot free for a test's own descriptors (0x40 and up). */
export const FREE_SEL = 0x40;

// Descriptor types (S bit included for segments).
export const CODE_XR = 0x1a, CODE_XR_CONFORMING = 0x1e, DATA_RW = 0x12, DATA_RW_DOWN = 0x16, DATA_RO = 0x10;
export const TSS32_AVAIL = 0x09, TSS32_BUSY = 0x0b, LDT = 0x02;
export const CALL_GATE32 = 0x0c, CALL_GATE16 = 0x04, TASK_GATE = 0x05, INT_GATE32 = 0x0e, TRAP_GATE32 = 0x0f, INT_GATE16 = 0x06;

export const EFLAGS_IF = 0x200, EFLAGS_NT = 0x4000, EFLAGS_VM = 0x20000, IOPL3 = 0x3000;

export interface SegOpts {
  /** D/B bit; default true. */
  db?: boolean;
  present?: boolean;
}

/**
 * A code/data segment descriptor; `type` includes the S bit (0x10). `limit` is
 * the byte limit: above 0xFFFFF it is stored in pages (G = 1), which needs
 * its low 12 bits set.
 */
export function segDesc(base: number, limit: number, type: number, dpl: number, o: SegOpts = {}): [number, number] {
  const g = limit >>> 0 > 0xfffff;
  const raw = g ? limit >>> 12 : limit;
  const lo = (raw & 0xffff) | ((base & 0xffff) << 16);
  const hi = ((base >>> 16) & 0xff) | (type << 8) | (dpl << 13) | ((o.present ?? true) ? 0x8000 : 0) | (raw & 0xf0000) |
    ((o.db ?? true) ? 0x400000 : 0) | (g ? 0x800000 : 0) | (base & 0xff000000);
  return [lo | 0, hi | 0];
}

/** A system segment descriptor (TSS, LDT): byte granular. */
export function sysDesc(base: number, limit: number, type: number, dpl = 0, present = true): [number, number] {
  const lo = (limit & 0xffff) | ((base & 0xffff) << 16);
  const hi = ((base >>> 16) & 0xff) | (type << 8) | (dpl << 13) | (present ? 0x8000 : 0) | (limit & 0xf0000) | (base & 0xff000000);
  return [lo | 0, hi | 0];
}

/** A gate descriptor: call, task, interrupt or trap. */
export const gateDesc = gateDescriptor;

export function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** 32-bit TSS fields. */
export const TSS_F = {
  link: 0x00, esp0: 0x04, ss0: 0x08, esp1: 0x0c, ss1: 0x10, esp2: 0x14, ss2: 0x18, cr3: 0x1c, eip: 0x20, eflags: 0x24,
  eax: 0x28, ecx: 0x2c, edx: 0x30, ebx: 0x34, esp: 0x38, ebp: 0x3c, esi: 0x40, edi: 0x44,
  es: 0x48, cs: 0x4c, ss: 0x50, ds: 0x54, fs: 0x58, gs: 0x5c, ldt: 0x60, trap: 0x64, iomap: 0x66,
} as const;

export class SysMachine {
  readonly mem: GuestMemory;
  readonly cpu: Cpu;
  readonly view: DataView;

  constructor(bytes = 8 << 20) {
    this.mem = new GuestMemory(bytes);
    this.cpu = new Cpu(this.mem);
    this.view = new DataView(this.mem.buffer);
    this.setDesc(KCODE, segDesc(0, 0xffffffff, CODE_XR, 0));
    this.setDesc(KDATA, segDesc(0, 0xffffffff, DATA_RW, 0));
    this.setDesc(UCODE, segDesc(0, 0xffffffff, CODE_XR, 3));
    this.setDesc(UDATA, segDesc(0, 0xffffffff, DATA_RW, 3));
    this.setDesc(TSS_SEL, sysDesc(TSS, 0x67, TSS32_AVAIL));
    this.setDesc(TSS2_SEL, sysDesc(TSS2, 0x67, TSS32_AVAIL));
    this.setDesc(TSS3_SEL, sysDesc(TSS3, 0x67, TSS32_AVAIL));
    for (let v = 0; v < 256; v++) {
      this.setGate(v, gateDesc(KCODE, STUBS + v * 16, INT_GATE32, 0));
      this.mem.u8[STUBS + v * 16] = 0xf4; // HLT
    }
    this.w32(TSS + TSS_F.esp0, KSTACK_TOP);
    this.w32(TSS + TSS_F.ss0, KDATA);
    this.w16(TSS + TSS_F.iomap, 0x68); // no bitmap: 0x68 is beyond the limit
  }

  // ------------------------------------------------------------ memory

  w8(addr: number, v: number): void { this.view.setUint8(addr, v); this.cpu.notifyWrite(addr, 1); }
  w16(addr: number, v: number): void { this.view.setUint16(addr, v, true); this.cpu.notifyWrite(addr, 2); }
  w32(addr: number, v: number): void { this.view.setUint32(addr, v >>> 0, true); this.cpu.notifyWrite(addr, 4); }
  r8(addr: number): number { return this.view.getUint8(addr); }
  r16(addr: number): number { return this.view.getUint16(addr, true); }
  r32(addr: number): number { return this.view.getUint32(addr, true); }

  /** Dwords at addr, addr+4, ... */
  dwords(addr: number, n: number): number[] {
    return Array.from({ length: n }, (_, k) => this.r32(addr + k * 4));
  }

  load(addr: number, bytes: number[]): void {
    this.mem.load(addr, Uint8Array.from(bytes));
    this.cpu.notifyWrite(addr, bytes.length);
  }

  // ------------------------------------------------------------ tables

  setDesc(sel: number, [lo, hi]: [number, number]): void {
    this.w32(GDT + (sel & ~7), lo);
    this.w32(GDT + (sel & ~7) + 4, hi);
  }

  descHi(sel: number): number {
    return this.r32(GDT + (sel & ~7) + 4);
  }

  setGate(vector: number, [lo, hi]: [number, number]): void {
    this.w32(IDT + vector * 8, lo);
    this.w32(IDT + vector * 8 + 4, hi);
  }

  /** A ring-0 interrupt gate (or trap gate, or a given DPL) for `vector` to `offset`. */
  handler(vector: number, offset: number, dpl = 0, type = INT_GATE32): void {
    this.setGate(vector, gateDesc(KCODE, offset, type, dpl));
  }

  // ------------------------------------------------------------ running

  /**
   * Protected mode, paging off, flat segments at privilege `cpl`, TR = the
   * main TSS, EIP = `eip`, EFLAGS = `eflags`.
   */
  start(cpl: 0 | 3, eip: number, eflags = 0x2): void {
    const c = this.cpu;
    c.reset();
    c.setCr0(0x00000011); // PE, ET
    c.gdtBase = GDT;
    c.gdtLimit = 0x200 - 1;
    c.idtBase = IDT;
    c.idtLimit = 256 * 8 - 1;
    // LTR needs an available TSS (a machine may be started again) and marks it busy.
    this.setDesc(TSS_SEL, [this.r32(GDT + TSS_SEL), this.descHi(TSS_SEL) & ~0x200]);
    ltr(c, TSS_SEL);
    const code = cpl === 0 ? KCODE : UCODE, data = cpl === 0 ? KDATA : UDATA;
    const attr = (type: number) => 0xc080 | type | (cpl << 5);
    c.setSegCache(CS, code, 0, -1, attr(CODE_XR | 1));
    for (const s of [DS, ES, SS, FS, GS]) c.setSegCache(s, data, 0, -1, attr(DATA_RW | 1));
    c.setCpl(cpl);
    c.regs[4] = cpl === 0 ? KSTACK_TOP : USTACK_TOP;
    c.setEflags(eflags);
    c.eip = eip;
  }

  run(budget = 100_000): Exit {
    return this.cpu.run(budget);
  }

  /** The vector whose HLT stub the CPU stopped on, or null if it halted elsewhere. */
  haltedVector(): number | null {
    const at = (this.cpu.segBase[CS] + this.cpu.eip - 1) >>> 0;
    if (at < STUBS || at >= STUBS + 256 * 16 || (at - STUBS) % 16 !== 0) return null;
    return (at - STUBS) >> 4;
  }

  /** The ring-0 stack as dwords from ESP. */
  stack(n: number): number[] {
    return this.dwords((this.cpu.segBase[SS] + this.cpu.regs[4]) >>> 0, n);
  }
}
