/**
 * Loader for flat binaries: a raw image loaded at 1 MiB and entered at its
 * first byte, in the state a tiny boot loader would leave (the guests in
 * guests/ are built for it).
 *
 * The machine it builds:
 * - RAM from 0 to `memoryMiB`; the image at LOAD_ADDRESS; the rest zeroed.
 * - Flat 32-bit protected mode at CPL 0: CR0 = PE|ET, paging off, CS/DS/ES/
 *   FS/GS/SS 4 GiB flat segments (GDT selectors 0x08 code, 0x10 data),
 *   EFLAGS = 2 (interrupts off), EIP = LOAD_ADDRESS, ESP = end of RAM.
 *   EAX and EBX are the program's arguments; other registers are zero.
 * - An IDT whose 256 gates lead to a HLT each, so a fault stops the guest and
 *   the loader can say which vector it was and where.
 * - Port 0xE9: debug console, as Bochs/QEMU "debugcon": each byte written is
 *   one character of output; reading it returns 0xE9 (the presence check).
 * - Port 0xF4: power off. Any write stops the CPU; the byte written is the
 *   guest's exit status (start.S writes main's return value).
 */
import { CS, DS, ES, FS, GS, SS, ESP } from '../x86/constants.js';
import { Cpu, Exit } from '../x86/cpu.js';
import { gateDescriptor, INT_GATE32, writeDescriptorTable } from '../x86/descriptors.js';
import { hasErrorCode } from '../x86/interrupts.js';
import { GuestMemory, IoBus, NullBus } from '../x86/memory.js';

export const LOAD_ADDRESS = 0x00100000;
export const PORT_CONSOLE = 0xe9;
export const PORT_POWER_OFF = 0xf4;
/** POST-code port: a byte written here is a checkpoint the host may time (see `onCheckpoint`). */
export const PORT_CHECKPOINT = 0x80;

/** Instructions per call of `cpu.run()`. */
const SLICE = 1_000_000;

// Low-memory layout (below the image): GDT, IDT, one HLT per vector.
const GDT = 0x0800, IDT = 0x1000, STUBS = 0x2000;
const CODE_SEL = 0x08, DATA_SEL = 0x10;
/** Segment-cache attributes: present, DPL 0, 32-bit, 4 KiB granular; code execute/read, data read/write (accessed). */
const CODE_ATTR = 0xc09b, DATA_ATTR = 0xc093;

export interface FlatOptions {
  /** Guest RAM in MiB (default 16). */
  memoryMiB?: number;
  /** Registers at entry: the program's arguments. */
  eax?: number;
  ebx?: number;
  ecx?: number;
  /** Called when the guest writes a checkpoint code to port 0x80, with the instructions retired so far. */
  onCheckpoint?: (code: number, icount: number) => void;
  /** Console output as it arrives, a line at a time (the last line may lack its newline). */
  onOutput?: (text: string) => void;
  /** Stop with `Exit.Budget` after this many instructions (default: no limit). */
  maxInstructions?: number;
}

/** An exception or interrupt the guest took (through the loader's IDT). */
export interface GuestFault {
  vector: number;
  /** Where it happened (the faulting instruction for faults, the next one for traps and INT n). */
  eip: number;
  /** The pushed error code, for the vectors that have one. */
  errorCode: number | null;
}

export interface FlatResult {
  /** Stop: powered off. Halt: stopped with nothing to wake it (or faulted, see `fault`). Shutdown: triple fault. Budget: out of instructions. */
  exit: Exit;
  /** The byte written to the power-off port, or null if the guest never wrote it. */
  status: number | null;
  fault: GuestFault | null;
  icount: number;
  output: string;
  seconds: number;
}

/** Port I/O of the flat machine: the debug console and the power-off port; nothing else is there. */
class FlatBus implements IoBus {
  private readonly empty = new NullBus();
  output = '';
  private line = '';
  status: number | null = null;

  constructor(
    private readonly onOutput: ((text: string) => void) | undefined,
    private readonly powerOff: () => void,
    private readonly checkpoint: (code: number) => void,
  ) {}

  ioRead(port: number, size: 1 | 2 | 4): number {
    return port === PORT_CONSOLE && size === 1 ? PORT_CONSOLE : this.empty.ioRead(port, size);
  }

  ioWrite(port: number, _size: 1 | 2 | 4, value: number): void {
    if (port === PORT_CONSOLE) {
      const ch = String.fromCharCode(value & 0xff);
      this.output += ch;
      this.line += ch;
      if (ch === '\n') this.flush();
    } else if (port === PORT_POWER_OFF) {
      this.status = value & 0xff;
      this.powerOff();
    } else if (port === PORT_CHECKPOINT) {
      this.checkpoint(value & 0xff);
    }
  }

  mmioRead(addr: number, size: 1 | 2 | 4): number {
    return this.empty.mmioRead(addr, size);
  }

  mmioWrite(): void {}

  flush(): void {
    if (this.line !== '') this.onOutput?.(this.line);
    this.line = '';
  }
}

/** A machine with a flat binary loaded and the CPU at its entry point. */
export class FlatMachine {
  readonly mem: GuestMemory;
  readonly cpu: Cpu;
  private readonly bus: FlatBus;

  constructor(image: Uint8Array, opts: FlatOptions = {}) {
    const bytes = (opts.memoryMiB ?? 16) * 1024 * 1024;
    // Room for the image and a stack page above it.
    if (LOAD_ADDRESS + image.length + 4096 > bytes) {
      throw new Error(`a ${image.length}-byte image does not fit in ${opts.memoryMiB ?? 16} MiB loaded at 0x${LOAD_ADDRESS.toString(16)}`);
    }
    this.mem = new GuestMemory(bytes);
    const onCheckpoint = opts.onCheckpoint;
    this.bus = new FlatBus(opts.onOutput, () => this.cpu.requestStop(), (code) => onCheckpoint?.(code, this.cpu.icount));
    this.cpu = new Cpu(this.mem, this.bus);
    this.writeTables();
    this.mem.load(LOAD_ADDRESS, image);

    const cpu = this.cpu;
    cpu.setCr0(0x00000011); // PE, ET
    cpu.gdtBase = GDT;
    cpu.gdtLimit = 3 * 8 - 1;
    cpu.idtBase = IDT;
    cpu.idtLimit = 256 * 8 - 1;
    cpu.setSegCache(CS, CODE_SEL, 0, -1, CODE_ATTR);
    for (const s of [DS, ES, FS, GS, SS]) cpu.setSegCache(s, DATA_SEL, 0, -1, DATA_ATTR);
    cpu.setCpl(0);
    cpu.setEflags(0x2);
    cpu.regs.fill(0);
    cpu.regs[0] = opts.eax ?? 0;
    cpu.regs[3] = opts.ebx ?? 0;
    cpu.regs[1] = opts.ecx ?? 0;
    cpu.regs[ESP] = bytes;
    cpu.eip = LOAD_ADDRESS;
  }

  private writeTables(): void {
    const dv = this.mem.dv;
    // Null, then flat 4 GiB ring-0 code and data (the same attributes as the caches above).
    writeDescriptorTable(dv, GDT, [[0, 0], [0x0000ffff, 0x00cf9b00], [0x0000ffff, 0x00cf9300]]);
    // Every vector: a DPL-0 32-bit interrupt gate to its own HLT.
    writeDescriptorTable(dv, IDT, Array.from({ length: 256 }, (_, v) => gateDescriptor(CODE_SEL, STUBS + v, INT_GATE32, 0)));
    this.mem.u8.fill(0xf4, STUBS, STUBS + 256);
  }

  get output(): string {
    return this.bus.output;
  }

  /** Run until the guest powers off, stops for good or faults, or `maxInstructions` have run. */
  run(maxInstructions = Infinity): FlatResult {
    const cpu = this.cpu;
    const start = performance.now();
    const first = cpu.icount;
    let exit: Exit;
    do {
      // Time slices, as a scheduler gives them: re-entering run() also lets V8 use its fully
      // optimized code rather than the on-stack-replacement version of the first call.
      exit = cpu.run(Math.min(maxInstructions - (cpu.icount - first), SLICE));
    } while (exit === Exit.Budget && cpu.icount - first < maxInstructions);
    const seconds = (performance.now() - start) / 1000;
    this.bus.flush();
    return {
      exit,
      status: this.bus.status,
      fault: exit === Exit.Halt ? this.fault() : null,
      icount: cpu.icount - first,
      output: this.bus.output,
      seconds,
    };
  }

  /** If the CPU halted in one of the IDT's stubs, the event that took it there. */
  private fault(): GuestFault | null {
    const { cpu, mem } = this;
    const vector = cpu.eip - 1 - STUBS;
    if (vector < 0 || vector > 255) return null;
    // Same-privilege interrupt frame: [error code] EIP CS EFLAGS.
    const hasError = hasErrorCode(vector);
    const sp = cpu.regs[ESP] >>> 0;
    if (sp + 12 > mem.bytes) return { vector, eip: -1, errorCode: null };
    return {
      vector,
      eip: mem.dv.getUint32(hasError ? sp + 4 : sp, true),
      errorCode: hasError ? mem.dv.getUint32(sp, true) : null,
    };
  }
}

/** Load and run a flat binary: `runFlatBinary(image, { memoryMiB, eax, onOutput, maxInstructions })`. */
export function runFlatBinary(image: Uint8Array, opts: FlatOptions = {}): FlatResult {
  return new FlatMachine(image, opts).run(opts.maxInstructions);
}
