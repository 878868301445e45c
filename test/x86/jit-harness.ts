/**
 * Interpreter versus block compiler: runs one scenario (code, registers,
 * memory) on two identical machines, one with blocks interpreted (compile
 * threshold out of reach) and one with every block compiled before its first
 * run (threshold 1, or as the scenario says), and compares everything architectural afterwards:
 * registers, EIP, EFLAGS, CR2, the instruction count, why `run()` returned,
 * all of guest memory, and every port and MMIO access in order.
 *
 * The machine: protected mode, flat segments at CPL 0 or 3, paging on or
 * off. Under paging, low memory is identity-mapped for user and supervisor
 * with CR0.WP set, except:
 * - page 0 and DATA + 0x2000 are not present,
 * - DATA + 0x3000 is read-only,
 * - DATA + 0x4000 maps a frame that is not RAM (MMIO on the recording bus),
 * - nothing is mapped from 4 MiB up.
 * Every IDT vector leads to a lone HLT (at CPL 0, on the TSS stack from CPL
 * 3), so an exception stops the run with the CPU halted. Port 0x70 raises
 * the interrupt line (vector 0x40 when acknowledged) and port 0xF4 asks the
 * CPU to stop, each when the byte written is TRIGGER; so do MMIO writes at
 * offsets 0x70 and 0xF4 of the MMIO page (port I/O ends a block, MMIO does not). RDTSC reads a fixed
 * time. A scenario may make SS a flat 16-bit stack (B = 0: SP wraps at 64 KiB).
 */
import { Cpu, Exit, InterruptSource } from '../../src/x86/cpu.js';
import { GuestMemory, IoBus } from '../../src/x86/memory.js';
import { CS, DS, ES, FS, GS, SS } from '../../src/x86/constants.js';
import { gateDescriptor, INT_GATE32, writeDescriptorTable } from '../../src/x86/descriptors.js';
import type { Block } from '../../src/x86/decoder.js';
import { CompiledBlock, HOT_THRESHOLD, jitHooks, JitOptions, REGION_THRESHOLD, setHotThreshold, setJitOptions } from '../../src/x86/jit.js';
import { flatGdt, loadFlatSegments, loadFlatTables } from './flat.js';

export const RAM = 2 << 20;
const GDT = 0x1000, IDT = 0x2000, TSS = 0x3000, STUBS = 0x4000, PD = 0x8000, PT = 0x9000, KSTACK_TOP = 0xf000;
export const CODE = 0x20000, CODE_BYTES = 0x2000;
export const STACK = 0x30000, STACK_TOP = 0x32000;
export const DATA = 0x100000, DATA_BYTES = 0x5000;
export const UNMAPPED = DATA + 0x2000, READ_ONLY = DATA + 0x3000, MMIO = DATA + 0x4000;
const KCODE = 0x08, KDATA = 0x10, UCODE = 0x1b, UDATA = 0x23;
export const IRQ_PORT = 0x70, STOP_PORT = 0xf4, IRQ_VECTOR = 0x40, TRIGGER = 7;

export interface Scenario {
  ring: 0 | 3;
  paging: boolean;
  /** Loaded at CODE; execution starts at CODE + start. */
  code: Uint8Array;
  start?: number;
  /** EAX ECX EDX EBX ESP EBP ESI EDI */
  regs: ArrayLike<number>;
  eflags: number;
  /** Loaded at DATA (up to DATA_BYTES) and at STACK (up to STACK_TOP - STACK). */
  data?: Uint8Array;
  stack?: Uint8Array;
  budget: number;
  /** SS: flat but 16-bit (B = 0). */
  ss16?: boolean;
  /**
   * 16-bit code: CS based at CODE with a 64 KiB limit, D = 0 (EIP is then an
   * offset from CODE); DS, ES, FS, GS and SS based at DATA with 64 KiB
   * limits, B = 0: no segment is flat, every access takes the segment checks.
   */
  code16?: boolean;
  /**
   * Compile threshold of the compiled run (default 1: every block compiled
   * before its first run). Above 1, blocks run interpreted first, so the run
   * loop has linked them to their successors when they are compiled: loops
   * then compile as multi-block regions.
   */
  threshold?: number;
  /** Compiler options for the compiled run (e.g. larger regions). */
  jit?: Partial<JitOptions>;
}

export interface Outcome {
  exit: Exit;
  regs: number[];
  eip: number;
  eflags: number;
  cr2: number;
  icount: number;
  cpl: number;
  halted: boolean;
  /** The first bus accesses, and a hash and count of all of them (icount at each included). */
  bus: string[];
  busHash: number;
  busCount: number;
  /** Runs of compiled blocks that start in the code area (0 on the interpreter). */
  compiledRuns: number;
}

/** A bus that answers deterministically and records what it is asked. */
class RecordingBus implements IoBus, InterruptSource {
  /** The first accesses, for messages; all of them go into `hash`. */
  log: string[] = [];
  hash = 0;
  count = 0;
  cpu: Cpu | null = null;
  private n = 0;

  reset(): void {
    this.log = [];
    this.hash = 0;
    this.count = 0;
    this.n = 0;
  }

  private record(kind: number, where: number, size: number, value: number, text: () => string): void {
    for (const x of [kind, where, size, value, this.cpu!.icount]) this.hash = Math.imul(this.hash ^ (x | 0), 0x01000193);
    if (this.count++ < 16) this.log.push(text());
  }

  private value(x: number, size: 1 | 2 | 4): number {
    const v = (Math.imul(x ^ ++this.n, 0x9e3779b1) ^ (x >>> 3)) >>> 0;
    // A 32-bit MMIO read may come back unsigned, as devices return it.
    return size === 4 ? v : v & (size === 2 ? 0xffff : 0xff);
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    const v = this.value(port, size);
    this.record(1, port, size, v, () => `in ${port.toString(16)}/${size} = ${v.toString(16)} @${this.cpu!.icount}`);
    return v;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.record(2, port, size, value, () => `out ${port.toString(16)}/${size} ${(value >>> 0).toString(16)} @${this.cpu!.icount}`);
    if (port === IRQ_PORT && (value & 0xff) === TRIGGER) this.cpu!.irqLine = true;
    if (port === STOP_PORT && (value & 0xff) === TRIGGER) this.cpu!.requestStop();
  }

  mmioRead(addr: number, size: 1 | 2 | 4): number {
    const v = this.value(addr, size);
    this.record(3, addr, size, v, () => `rd ${(addr >>> 0).toString(16)}/${size} = ${v.toString(16)}`);
    return v;
  }

  mmioWrite(addr: number, size: 1 | 2 | 4, value: number): void {
    this.record(4, addr, size, value, () => `wr ${(addr >>> 0).toString(16)}/${size} ${(value >>> 0).toString(16)}`);
    if ((addr & 0xfff) === IRQ_PORT && (value & 0xff) === TRIGGER) this.cpu!.irqLine = true;
    if ((addr & 0xfff) === STOP_PORT && (value & 0xff) === TRIGGER) this.cpu!.requestStop();
  }

  ackInterrupt(): number {
    this.cpu!.irqLine = false;
    this.record(5, 0, 0, 0, () => `ack @${this.cpu!.icount}`);
    return IRQ_VECTOR;
  }
}

function systemTemplate(): Uint8Array {
  const mem = new Uint8Array(0x10000);
  const v = new DataView(mem.buffer);
  writeDescriptorTable(v, GDT, flatGdt(TSS));
  writeDescriptorTable(v, IDT, Array.from({ length: 256 }, (_, n) => gateDescriptor(KCODE, STUBS + n * 16, INT_GATE32, 3)));
  for (let n = 0; n < 256; n++) mem[STUBS + n * 16] = 0xf4;
  v.setInt32(TSS + 4, KSTACK_TOP, true); // ESP0
  v.setInt32(TSS + 8, KDATA, true); // SS0
  v.setUint16(TSS + 0x66, 0x68, true); // no I/O bitmap
  v.setInt32(PD, PT | 0x7, true);
  for (let page = 0; page < 1024; page++) {
    const addr = page << 12;
    let pte = addr | 0x7;
    if (page === 0 || addr === UNMAPPED) pte = 0;
    else if (addr === READ_ONLY) pte = addr | 0x5;
    else if (addr === MMIO) pte = 0xfee00000 | 0x7;
    v.setInt32(PT + page * 4, pte, true);
  }
  return mem;
}

class Machine {
  readonly mem = new GuestMemory(RAM);
  readonly bus = new RecordingBus();
  readonly cpu = new Cpu(this.mem, this.bus);

  constructor(private readonly system: Uint8Array) {
    this.bus.cpu = this.cpu;
    this.cpu.pic = this.bus;
    this.cpu.timeNs = () => 0;
  }

  run(s: Scenario): Outcome {
    const { cpu, mem } = this;
    mem.u8.fill(0);
    mem.u8.set(this.system, 0);
    mem.u8.set(s.code, CODE);
    if (s.data) mem.u8.set(s.data.subarray(0, DATA_BYTES), DATA);
    if (s.stack) mem.u8.set(s.stack.subarray(0, STACK_TOP - STACK), STACK);
    cpu.reset(); // drops every decoded block: memory was rewritten behind the CPU's back
    loadFlatTables(cpu, GDT, 6, IDT, TSS);
    if (s.paging) {
      cpu.setCr3(PD);
      cpu.setCr0(0x80010011); // PG, WP, ET, PE
    } else {
      cpu.setCr0(0x00000011);
    }
    loadFlatSegments(cpu, s.ring); // then the 16-bit variants over it
    if (s.ss16) cpu.setSegCache(SS, s.ring === 3 ? UDATA : KDATA, 0, -1, s.ring === 3 ? 0x80f3 : 0x8093);
    if (s.code16) {
      const dpl = s.ring << 5;
      cpu.setSegCache(CS, s.ring === 3 ? UCODE : KCODE, CODE, 0xffff, 0x9b | dpl);
      for (const seg of [DS, ES, SS, FS, GS]) cpu.setSegCache(seg, s.ring === 3 ? UDATA : KDATA, DATA, 0xffff, 0x93 | dpl);
    }
    for (let r = 0; r < 8; r++) cpu.regs[r] = s.regs[r];
    cpu.setEflags(s.eflags);
    cpu.eip = (s.code16 ? 0 : CODE) + (s.start ?? 0);
    cpu.irqLine = false;
    this.bus.reset();
    const before = cpu.icount;
    const exit = cpu.run(s.budget);
    return {
      exit,
      regs: Array.from(cpu.regs),
      eip: cpu.eip,
      eflags: cpu.getEflags(),
      cr2: cpu.cr2,
      icount: cpu.icount - before,
      cpl: cpu.cpl,
      halted: cpu.halted,
      bus: this.bus.log,
      busHash: this.bus.hash,
      busCount: this.bus.count,
      compiledRuns: 0,
    };
  }
}

let machines: [Machine, Machine] | null = null;

/** Runs of compiled blocks starting in the code area, since the last reset. */
let codeRuns = 0;

function countRuns(fn: CompiledBlock, b: Block): CompiledBlock {
  // By machine address (key = address * 2 + 32-bit code): 16-bit code's EIP is an offset from CODE.
  const addr = Math.floor(b.key / 2);
  if (addr < CODE || addr >= CODE + CODE_BYTES) return fn;
  return (c, target) => {
    codeRuns++;
    return fn(c, target);
  };
}

/** Run `s` interpreted and compiled; returns both outcomes and a description of their differences (empty if none). */
export function runBoth(s: Scenario): { interp: Outcome; jit: Outcome; diff: string[] } {
  if (machines === null) {
    const system = systemTemplate();
    machines = [new Machine(system), new Machine(system)];
  }
  const [a, b] = machines;
  const saved = jitHooks.wrap;
  const options = setJitOptions({});
  let interp: Outcome, jit: Outcome;
  try {
    setHotThreshold(Number.MAX_SAFE_INTEGER);
    interp = a.run(s);
    setHotThreshold(s.threshold ?? 1);
    setJitOptions(s.jit ?? {});
    jitHooks.wrap = countRuns;
    codeRuns = 0;
    jit = b.run(s);
    jit.compiledRuns = codeRuns;
  } finally {
    setHotThreshold(HOT_THRESHOLD, REGION_THRESHOLD);
    setJitOptions(options);
    jitHooks.wrap = saved;
  }
  const diff: string[] = [];
  const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;
  const field = (name: string, x: number | boolean, y: number | boolean) => {
    if (x !== y) diff.push(`${name}: interpreter ${typeof x === 'number' ? hex(x) : x}, compiled ${typeof y === 'number' ? hex(y) : y}`);
  };
  field('exit', interp.exit, jit.exit);
  const names = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
  for (let r = 0; r < 8; r++) field(names[r], interp.regs[r], jit.regs[r]);
  field('eip', interp.eip, jit.eip);
  field('eflags', interp.eflags, jit.eflags);
  field('cr2', interp.cr2, jit.cr2);
  field('icount', interp.icount, jit.icount);
  field('cpl', interp.cpl, jit.cpl);
  field('halted', interp.halted, jit.halted);
  if (interp.busHash !== jit.busHash || interp.busCount !== jit.busCount) {
    diff.push(`bus: interpreter ${interp.busCount} accesses [${interp.bus.join(', ')}], compiled ${jit.busCount} [${jit.bus.join(', ')}]`);
  }
  const ma = a.mem.u8, mb = b.mem.u8;
  if (!Buffer.from(ma.buffer, 0, RAM).equals(Buffer.from(mb.buffer, 0, RAM))) {
    let at = 0;
    while (ma[at] === mb[at]) at++;
    diff.push(`memory differs first at ${hex(at)}: interpreter ${ma[at].toString(16)}, compiled ${mb[at].toString(16)}`);
  }
  return { interp, jit, diff };
}


/** Hex dump of code, for failure messages. */
export function hexBytes(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
