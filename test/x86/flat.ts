/**
 * A bare 32-bit machine for instruction tests: flat segments, paging off,
 * code running at CPL 3 with IOPL 0, as in a Linux process.
 *
 * Every IDT vector is an interrupt gate to a ring-0 stub that is a lone HLT,
 * so an exception is delivered through the real gate/stack path and stops the
 * run with the CPU halted at a known address. The test code is followed by a
 * HLT, which at CPL 3 raises #GP: reaching it is how a case ends normally.
 */
import { Cpu, Exit } from '../../src/x86/cpu.js';
import { GuestMemory, IoBus } from '../../src/x86/memory.js';
import { CS, DS, ES, FS, GS, SS } from '../../src/x86/constants.js';
import { gateDescriptor, INT_GATE32, writeDescriptorTable } from '../../src/x86/descriptors.js';

export const CODE_BASE = 0x00100000, DATA_BASE = 0x00200000, STACK_TOP = 0x00300000;

export interface FlatCase {
  code: Uint8Array;
  /** EAX ECX EDX EBX ESP EBP ESI EDI */
  regs: ArrayLike<number>;
  eflags: number;
  data?: Uint8Array;
  stack?: Uint8Array;
  /** 108-byte FRSTOR image, 32-bit protected-mode layout; absent = FNINIT state. */
  fpu?: Uint8Array;
  /** Instruction budget before the run counts as a hang (default 2 million). */
  maxSteps?: number;
  /** Run the code at CPL 0 (ring-0 flat segments) instead of CPL 3; the final HLT then halts. */
  ring0?: boolean;
}

export interface FlatResult {
  regs: number[];
  eip: number;
  eflags: number;
  data: Uint8Array;
  stack: Uint8Array;
  fpu: Uint8Array;
  /** The vector if the run stopped on an exception; null if the code ran to its end. */
  exception: number | null;
}

const GDT = 0x1000, IDT = 0x2000, STUBS = 0x3000, TSS = 0x5000, FPU_IMAGE = 0x6000, PROLOGUE = 0x7000;
const KSTACK_TOP = 0x9000;
const KCODE = 0x08, KDATA = 0x10, UCODE = 0x1b, UDATA = 0x23, TSS_SEL = 0x28;

/**
 * The GDT of every x86 test machine: null, ring-0 code and data, ring-3 code
 * and data (flat 4 GiB; selectors 0x08, 0x10, 0x1b, 0x23), and a busy 32-bit
 * TSS at `tss` (selector 0x28).
 */
export function flatGdt(tss: number): [number, number][] {
  return [
    [0, 0],
    [0x0000ffff, 0x00cf9a00], // ring-0 code
    [0x0000ffff, 0x00cf9200], // ring-0 data
    [0x0000ffff, 0x00cffa00], // ring-3 code
    [0x0000ffff, 0x00cff200], // ring-3 data
    [(tss << 16) | 0x67, 0x00008b00], // busy 32-bit TSS
  ];
}

/**
 * Point GDTR at `gdtEntries` descriptors at `gdt` (flatGdt's six, or more),
 * IDTR at 256 gates at `idt`, and TR at the busy TSS of `flatGdt(tss)`.
 */
export function loadFlatTables(cpu: Cpu, gdt: number, gdtEntries: number, idt: number, tss: number): void {
  cpu.gdtBase = gdt;
  cpu.gdtLimit = gdtEntries * 8 - 1;
  cpu.idtBase = idt;
  cpu.idtLimit = 256 * 8 - 1;
  cpu.trSel = TSS_SEL;
  cpu.trBase = tss;
  cpu.trLimit = 0x67;
  cpu.trAttr = 0x8b;
}

/** Flat 4 GiB code and data segments of `flatGdt` at `ring` (0 or 3) in CS, DS, ES, SS, FS and GS, and CPL = `ring`. */
export function loadFlatSegments(cpu: Cpu, ring: 0 | 3): void {
  if (ring === 3) {
    cpu.setSegCache(CS, UCODE, 0, -1, 0xc0fb);
    for (const s of [DS, ES, SS, FS, GS]) cpu.setSegCache(s, UDATA, 0, -1, 0xc0f3);
  } else {
    cpu.setSegCache(CS, KCODE, 0, -1, 0xc09b);
    for (const s of [DS, ES, SS, FS, GS]) cpu.setSegCache(s, KDATA, 0, -1, 0xc093);
  }
  cpu.setCpl(ring);
}

const MAX_STEPS = 2_000_000;

export class FlatMachine {
  readonly mem = new GuestMemory(4 << 20);
  readonly cpu: Cpu;
  private readonly view = new DataView(this.mem.buffer);

  /** `bus` answers port I/O and MMIO (default: nothing there). */
  constructor(bus?: IoBus) {
    this.cpu = new Cpu(this.mem, bus);
    const v = this.view;
    writeDescriptorTable(v, GDT, flatGdt(TSS));
    // Every vector: a DPL-3 32-bit interrupt gate to its own HLT, 16 bytes apart.
    writeDescriptorTable(v, IDT, Array.from({ length: 256 }, (_, n) => gateDescriptor(KCODE, STUBS + n * 16, INT_GATE32, 3)));
    for (let n = 0; n < 256; n++) this.mem.u8[STUBS + n * 16] = 0xf4;
    v.setInt32(TSS + 4, KSTACK_TOP, true); // ESP0
    v.setInt32(TSS + 8, KDATA, true); // SS0
    v.setUint16(TSS + 0x66, 0x68, true); // I/O map base past the limit: no port is allowed at CPL 3
    // Prologue: FRSTOR [FPU_IMAGE]; JMP CODE_BASE
    const pro = [0xdd, 0x25, ...le32(FPU_IMAGE), 0xe9, ...le32(CODE_BASE - (PROLOGUE + 11))];
    this.mem.load(PROLOGUE, Uint8Array.from(pro));
  }

  run(t: FlatCase): FlatResult {
    const { cpu, mem } = this;
    const end = CODE_BASE + t.code.length;
    mem.load(CODE_BASE, t.code);
    mem.u8[end] = 0xf4;
    cpu.notifyWrite(CODE_BASE, t.code.length + 1);
    mem.u8.fill(0, DATA_BASE, DATA_BASE + 4096);
    if (t.data) mem.load(DATA_BASE, t.data);
    mem.u8.fill(0, STACK_TOP - 4096, STACK_TOP);
    if (t.stack) mem.load(STACK_TOP - 4096, t.stack);

    cpu.reset();
    cpu.setCr0(0x00000031); // PE, ET, NE: x87 errors raise #MF, as in a Linux process
    loadFlatTables(cpu, GDT, 6, IDT, TSS);
    loadFlatSegments(cpu, t.ring0 ? 0 : 3);
    for (let r = 0; r < 8; r++) cpu.regs[r] = t.regs[r];
    cpu.setEflags((t.eflags & 0x0cd5) | 0x202);
    if (t.fpu) {
      mem.load(FPU_IMAGE, t.fpu);
      cpu.eip = PROLOGUE;
    } else {
      cpu.eip = CODE_BASE;
    }

    const exit = cpu.run(t.maxSteps ?? MAX_STEPS);
    let exception: number | null = null;
    let eip = cpu.eip, eflags = cpu.getEflags();
    const regs = Array.from(cpu.regs, (x) => x >>> 0);
    if (exit === Exit.Halt && t.ring0 && cpu.eip === end + 1 && cpu.segSel[CS] === KCODE) {
      eip = end;
    } else if (exit === Exit.Halt && cpu.cpl === 0) {
      const vector = (cpu.eip - 1 - STUBS) >> 4;
      // Ring-0 frame: [error code], EIP, CS, EFLAGS, ESP, SS.
      let sp = cpu.regs[4];
      if (vector === 8 || (vector >= 10 && vector <= 14) || vector === 17) sp += 4;
      eip = this.view.getUint32(sp, true);
      eflags = this.view.getUint32(sp + 8, true);
      regs[4] = this.view.getUint32(sp + 12, true);
      exception = vector === 13 && eip === end ? null : vector;
    } else {
      throw new Error(`flat run did not stop at an exception (exit ${exit}, ${cpu.shutdownReason || 'budget'}) at eip 0x${(cpu.eip >>> 0).toString(16)}`);
    }
    return {
      regs,
      eip,
      eflags,
      data: mem.read(DATA_BASE, 4096),
      stack: mem.read(STACK_TOP - 4096, 4096),
      fpu: this.fnsave(),
      exception,
    };
  }

  /** FNSAVE image of the FPU, taken by running FNSAVE at ring 0. */
  private fnsave(): Uint8Array {
    const { cpu, mem } = this;
    const at = PROLOGUE + 0x100;
    mem.load(at, Uint8Array.from([0xdd, 0x35, ...le32(FPU_IMAGE), 0xf4]));
    cpu.notifyWrite(at, 7);
    cpu.setCr0(cpu.cr0 & ~0xc); // clear EM/TS so FNSAVE runs
    cpu.setSegCache(CS, KCODE, 0, -1, 0xc09b);
    for (const s of [DS, ES, SS]) cpu.setSegCache(s, KDATA, 0, -1, 0xc093);
    cpu.setCpl(0);
    cpu.halted = false;
    cpu.eip = at;
    cpu.run(10);
    return mem.read(FPU_IMAGE, 108);
  }
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
