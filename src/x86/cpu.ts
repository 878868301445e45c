/**
 * The IA-32 processor: architectural state, memory access through the TLB,
 * lazily computed flags, and the run loop.
 *
 * Design
 * - State is plain fields and typed arrays, nothing in closures; `save()` /
 *   `restore()` (state.ts) turn it into named data and back.
 * - Code is decoded once per basic block (decoder.ts) and cached by machine
 *   address; `run()` walks a block's pre-decoded instructions, calling each
 *   one's handler. A block compiler can later replace `execBlock` alone.
 * - Faults are raised by throwing the `FAULT` token after recording the vector
 *   and error code; the run loop catches it, rewinds EIP to the faulting
 *   instruction and delivers the exception (interrupts.ts). Handlers therefore
 *   do every access that may fault before they commit any state.
 * - The TLB is a flat array indexed by linear page number holding the machine
 *   frame and permission bits, so a RAM access that hits is one load, one mask
 *   test and one typed-array access.
 */
import {
  ARITH_FLAGS, AF, CF, CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, CS, DF, EFER_NXE, EFLAGS_FIXED, GP, IF, OF, PF,
  PFV, RF, SF, SS, SS_FAULT, TF, VM, ZF, ATTR_UNUSABLE, ATTR_DB, ATTR_P, DB, NMI,
  ATTR_S,
} from './constants.js';
import { GuestMemory, IoBus, NullBus, PAGE_SHIFT } from './memory.js';
import { Fpu } from './fpu.js';
import type { Block } from './decoder.js';
import { decodeBlock } from './decoder.js';
import { compileBlock, hotThreshold, regionThreshold } from './jit.js';
import { deliverEvent, EventKind } from './interrupts.js';
import { CpuidPolicy, DEFAULT_POLICY } from './msr.js';
import './ops/index.js';

/** Thrown (never constructed per fault) to unwind a faulting instruction. */
export const FAULT = { fault: true };

// TLB entry bits (low 12 bits of an entry; the high 20 are the frame).
export const TLB_VALID = 1;
export const TLB_USER = 2; // user mode may read / execute
export const TLB_SUP_WRITE = 4; // supervisor may write
export const TLB_USER_WRITE = 8; // user may write
export const TLB_NOT_RAM = 16; // frame is guest-physical and goes to the bus
export const TLB_CODE = 32; // frame holds decoded code: writes take the slow path
export const TLB_DIRTY = 64; // the paging entry's D bit is set (or paging is off)
export const TLB_NX = 128; // not executable
export const TLB_GLOBAL = 256;

/** Why `run()` returned. */
export const enum Exit {
  Budget = 0,
  Halt = 1,
  Shutdown = 2,
  /** A device asked the CPU to stop (e.g. a power-off or reset request). */
  Stop = 3,
}

/** The interrupt controller's side of the INTR line. */
export interface InterruptSource {
  /** Acknowledge the highest-priority pending interrupt: its vector, or -1 if none is pending any more. */
  ackInterrupt(): number;
}

/** Slots of the direct-mapped block cache (a power of two). */
const BLOCK_CACHE_SIZE = 1 << 16;

const ACCESS_READ = 0;
const ACCESS_WRITE = 1;
const ACCESS_FETCH = 2;

export class Cpu {
  // General registers; 8- and 16-bit views alias the same bytes (little-endian host).
  readonly regs = new Int32Array(8);
  readonly regs16 = new Uint16Array(this.regs.buffer);
  readonly regs8 = new Uint8Array(this.regs.buffer);
  eip = 0;

  /** EFLAGS, except the arithmetic flags named in lazyMask, which come from the lazy record. */
  flags = EFLAGS_FIXED;
  lazyMask = 0;
  lazyA = 0;
  lazyB = 0;
  lazyRes = 0;
  /** Sign-bit index of the lazy operation's size: 7, 15 or 31. */
  lazyTop = 31;
  /** 0: the lazy operation was an addition, 1: a subtraction (for CF and OF). */
  lazySub = 0;

  // Segment registers: selector and descriptor cache.
  readonly segSel = new Int32Array(6);
  readonly segBase = new Int32Array(6);
  readonly segLimit = new Int32Array(6);
  readonly segAttr = new Int32Array(6);
  /** Derived: 1 where base 0, limit 4 GiB, expand-up, read/write data (or flat code for reads): no checks needed. */
  readonly segFlat = new Uint8Array(6);

  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0x3ff;
  ldtSel = 0;
  ldtBase = 0;
  ldtLimit = 0xffff;
  ldtAttr = 0x82;
  trSel = 0;
  trBase = 0;
  trLimit = 0xffff;
  trAttr = 0x8b;

  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  readonly dr = new Int32Array(8);
  cpl = 0;

  // Model-specific registers kept as state.
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  apicBase = 0xfee00900;
  /** Called after WRMSR IA32_APIC_BASE, so the local APIC can follow an enable or a move. */
  onApicBaseWrite: (() => void) | null = null;
  /** PAT, as two dwords. */
  patLo = 0x00070406;
  patHi = 0x00070406;
  mtrrDefType = 0;
  /** Variable-range and fixed MTRRs, keyed by MSR number, as [lo, hi]. */
  mtrrs = new Map<number, [number, number]>();
  /** TSC = time in ticks + tscOffset. */
  tscOffset = 0;
  /**
   * The time base of the TSC, in nanoseconds. The machine points it at its
   * virtual clock so that TSC, PIT, RTC and APIC timer agree; a bare CPU
   * counts host time.
   */
  timeNs: () => number = () => performance.now() * 1e6;
  /** Nominal TSC frequency in MHz. */
  tscMhz = 1000;
  cpuidPolicy: CpuidPolicy = DEFAULT_POLICY;

  halted = false;
  /** Interrupts are inhibited until after the next instruction (STI, MOV SS, POP SS). */
  inhibitIrq = false;
  /** The interrupt controller asserts INTR. */
  irqLine = false;
  nmiPending = false;
  nmiBlocked = false;
  /** FERR# is asserted (x87 error with CR0.NE clear). */
  ferr = false;
  exitReason = Exit.Budget;
  shutdownReason = '';

  // Fault record, filled just before throwing FAULT.
  excVector = 0;
  excError = -1;

  /** Index of the faulting instruction in a compiled block (set by jit.ts code). */
  faultIndex = 0;

  /** Instructions retired since reset. */
  icount = 0;

  readonly fpu = new Fpu();
  readonly mem: GuestMemory;
  bus: IoBus;
  pic: InterruptSource | null = null;

  // TLB: linear page -> (frame << 12) | TLB_* bits, 0 = empty.
  readonly tlb = new Int32Array(1 << 20);
  readonly tlbUsed = new Int32Array(1 << 20);
  tlbUsedCount = 0;
  /** Bits a read hit needs (and their wanted values), for the current CPL. */
  rdMask = TLB_VALID | TLB_NOT_RAM;
  rdWant = TLB_VALID;
  wrMask = TLB_VALID | TLB_NOT_RAM | TLB_CODE | TLB_DIRTY | TLB_SUP_WRITE;
  wrWant = TLB_VALID | TLB_DIRTY | TLB_SUP_WRITE;
  /** Nonzero while an access is made with supervisor rights regardless of CPL (descriptor tables, TSS). */
  private forceSupervisor = 0;

  // Decoded code, by machine address.
  /** Per machine frame: number of cached blocks that start on it (0 = no code). */
  readonly codeFrames: Uint16Array;
  readonly blocks = new Map<number, Block>();
  readonly pageBlocks = new Map<number, Block[]>();
  /**
   * Bumped whenever a CS:EIP -> block mapping may change (TLB flush, CS load,
   * paging mode): block-to-block links made under an older value are ignored.
   */
  chainGen = 0;
  /** The CS cache the current links were made under (a CS load that changes none of these keeps them). */
  private linkCsBase = 0;
  private linkCsLimit = 0;
  private linkCsDb = 0;
  /**
   * Direct-mapped cache in front of `blocks` (a Map lookup is slow once it
   * holds a boot's worth of blocks): slot by machine address; an entry is
   * used only if it is still valid and was decoded for the same key, EIP
   * and CS limit.
   */
  private readonly blockCache: (Block | null)[] = new Array<Block | null>(BLOCK_CACHE_SIZE).fill(null);
  /** Set when the block being executed was invalidated by a write to its own page. */
  blockAbort = false;
  currentBlock: Block | null = null;

  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly dv: DataView;

  constructor(mem: GuestMemory, bus: IoBus = new NullBus()) {
    this.mem = mem;
    this.bus = bus;
    this.u8 = mem.u8;
    this.u16 = new Uint16Array(mem.buffer, 0, mem.buffer.byteLength >>> 1);
    this.i32 = new Int32Array(mem.buffer, 0, mem.buffer.byteLength >>> 2);
    this.dv = mem.dv;
    this.codeFrames = new Uint16Array(mem.buffer.byteLength >>> PAGE_SHIFT);
    this.reset();
  }

  /** RESET: the state after power-on (SDM vol. 3, 9.1.1), executing from F000:FFF0. */
  reset(): void {
    this.regs.fill(0);
    this.regs[2] = 0x00000633; // EDX: family 6, model 3, stepping 3
    this.eip = 0xfff0;
    this.flags = EFLAGS_FIXED;
    this.lazyMask = 0;
    // RESET gives every cache a 64 KiB read/write segment, whatever it held (CR0.PE may still be set here).
    for (let s = 0; s < 6; s++) {
      this.segLimit[s] = 0xffff;
      this.segAttr[s] = s === CS ? 0x9b : 0x93;
    }
    for (let s = 0; s < 6; s++) this.loadRealSeg(s, 0);
    this.segSel[CS] = 0xf000;
    this.segBase[CS] = 0xffff0000 | 0;
    this.updateSegFlat(CS);
    this.gdtBase = 0; this.gdtLimit = 0xffff;
    this.idtBase = 0; this.idtLimit = 0xffff;
    this.ldtSel = 0; this.ldtBase = 0; this.ldtLimit = 0xffff; this.ldtAttr = 0x82;
    this.trSel = 0; this.trBase = 0; this.trLimit = 0xffff; this.trAttr = 0x8b;
    this.cr0 = 0x60000010;
    this.cr2 = 0; this.cr3 = 0; this.cr4 = 0; this.efer = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.cpl = 0;
    this.sysenterCs = 0; this.sysenterEsp = 0; this.sysenterEip = 0;
    this.patLo = 0x00070406; this.patHi = 0x00070406;
    this.mtrrDefType = 0;
    this.mtrrs.clear();
    this.halted = false;
    this.inhibitIrq = false;
    this.nmiPending = false;
    this.nmiBlocked = false;
    this.ferr = false;
    this.exitReason = Exit.Budget;
    this.shutdownReason = '';
    this.fpu.reset();
    this.flushTlb(true);
    this.updateCplMasks();
    this.invalidateAllCode();
  }

  // ---------------------------------------------------------------- flags

  /** Record an arithmetic result whose six status flags are computed on demand. */
  setArith(top: number, sub: number, a: number, b: number, r: number): void {
    this.lazyTop = top;
    this.lazySub = sub;
    this.lazyA = a;
    this.lazyB = b;
    this.lazyRes = r;
    this.lazyMask = ARITH_FLAGS;
  }

  /** Logical results: CF = OF = AF = 0, SF ZF PF from the result. */
  setLogic(top: number, r: number): void {
    this.flags &= ~(CF | OF | AF);
    this.lazyTop = top;
    this.lazyRes = r;
    this.lazyMask = ZF | SF | PF;
  }

  /** CF and OF given (as CF|OF bits), SF ZF PF from the result, AF cleared (shifts, multiplies). */
  setResultFlags(top: number, r: number, cfof: number): void {
    this.flags = (this.flags & ~ARITH_FLAGS) | cfof;
    this.lazyTop = top;
    this.lazyRes = r;
    this.lazyMask = ZF | SF | PF;
  }

  /** Flags from a result, with CF preserved (INC, DEC). */
  setIncDec(top: number, sub: number, a: number, r: number): void {
    if (this.lazyMask & CF) this.flags = (this.flags & ~CF) | this.cfBit();
    this.lazyTop = top;
    this.lazySub = sub;
    this.lazyA = a;
    this.lazyB = 1;
    this.lazyRes = r;
    this.lazyMask = ARITH_FLAGS & ~CF;
  }

  private cfBit(): number {
    const a = this.lazyA, b = this.lazyB, r = this.lazyRes;
    const c = this.lazySub ? (~a & b) | ((~a | b) & r) : (a & b) | ((a | b) & ~r);
    return (c >>> this.lazyTop) & 1;
  }

  cf(): number {
    return this.lazyMask & CF ? this.cfBit() : this.flags & CF;
  }

  zf(): boolean {
    return this.lazyMask & ZF ? this.lazyRes << (31 - this.lazyTop) === 0 : (this.flags & ZF) !== 0;
  }

  sf(): boolean {
    return this.lazyMask & SF ? ((this.lazyRes >>> this.lazyTop) & 1) !== 0 : (this.flags & SF) !== 0;
  }

  of(): boolean {
    if (!(this.lazyMask & OF)) return (this.flags & OF) !== 0;
    const a = this.lazyA, b = this.lazyB, r = this.lazyRes;
    const o = this.lazySub ? (a ^ b) & (a ^ r) : (a ^ r) & (b ^ r);
    return ((o >>> this.lazyTop) & 1) !== 0;
  }

  pf(): boolean {
    if (!(this.lazyMask & PF)) return (this.flags & PF) !== 0;
    return PARITY[this.lazyRes & 0xff] !== 0;
  }

  /** Evaluate a condition code (the low nibble of Jcc/SETcc/CMOVcc). */
  cond(cc: number): boolean {
    let r: boolean;
    switch (cc >> 1) {
      case 0: r = this.of(); break;
      case 1: r = this.cf() !== 0; break;
      case 2: r = this.zf(); break;
      case 3: r = this.cf() !== 0 || this.zf(); break;
      case 4: r = this.sf(); break;
      case 5: r = this.pf(); break;
      case 6: r = this.sf() !== this.of(); break;
      default: r = this.zf() || this.sf() !== this.of(); break;
    }
    return (cc & 1) !== 0 ? !r : r;
  }

  getEflags(): number {
    const m = this.lazyMask;
    if (m === 0) return this.flags;
    let f = this.flags & ~m;
    if (m & CF) f |= this.cfBit();
    if (m & PF && PARITY[this.lazyRes & 0xff]) f |= PF;
    if (m & AF) f |= (this.lazyA ^ this.lazyB ^ this.lazyRes) & AF;
    if (m & ZF && this.lazyRes << (31 - this.lazyTop) === 0) f |= ZF;
    if (m & SF && (this.lazyRes >>> this.lazyTop) & 1) f |= SF;
    if (m & OF && this.of()) f |= OF;
    return f;
  }

  /** Write EFLAGS as is (callers apply the privilege rules for IF, IOPL, VM...). */
  setEflags(v: number): void {
    const old = this.flags;
    this.flags = (v & 0x003f7fd5) | EFLAGS_FIXED;
    this.lazyMask = 0;
    if ((old ^ this.flags) & VM) {
      this.chainGen++;
      this.updateCplMasks();
    }
  }

  /** Set or clear some arithmetic flags eagerly, keeping the rest. */
  setFlagBits(mask: number, value: number): void {
    const f = this.getEflags();
    this.flags = (f & ~mask) | (value & mask);
    this.lazyMask = 0;
  }

  // ---------------------------------------------------------------- faults

  /** Raise a fault or trap: record it and unwind the current instruction. */
  raise(vector: number, errorCode = -1): never {
    this.excVector = vector;
    this.excError = errorCode;
    // A shared token rather than an Error: faults are frequent (page faults) and need no stack trace.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw FAULT;
  }

  gp(errorCode = 0): never {
    return this.raise(GP, errorCode);
  }

  // ---------------------------------------------------------------- modes

  get protectedMode(): boolean {
    return (this.cr0 & CR0_PE) !== 0;
  }

  get v86Mode(): boolean {
    return (this.flags & VM) !== 0;
  }

  /** Real mode or virtual-8086 mode: segments are selector * 16. */
  get realAddressing(): boolean {
    return (this.cr0 & CR0_PE) === 0 || (this.flags & VM) !== 0;
  }

  /** Current code segment is 32-bit (its D bit). */
  get code32(): boolean {
    return (this.segAttr[CS] & ATTR_DB) !== 0;
  }

  get stack32(): boolean {
    return (this.segAttr[SS] & ATTR_DB) !== 0;
  }

  /** Recompute everything derived from CPL (TLB permission masks). */
  updateCplMasks(): void {
    const user = this.cpl === 3 && this.forceSupervisor === 0;
    this.rdMask = TLB_VALID | TLB_NOT_RAM | (user ? TLB_USER : 0);
    this.rdWant = TLB_VALID | (user ? TLB_USER : 0);
    const w = user ? TLB_USER_WRITE | TLB_USER : TLB_SUP_WRITE;
    this.wrMask = TLB_VALID | TLB_NOT_RAM | TLB_CODE | TLB_DIRTY | w;
    this.wrWant = TLB_VALID | TLB_DIRTY | w;
  }

  /** Run `fn` with supervisor access rights (implicit accesses to GDT/LDT/IDT/TSS). */
  supervisor<T>(fn: () => T): T {
    this.forceSupervisor++;
    this.updateCplMasks();
    try {
      return fn();
    } finally {
      this.forceSupervisor--;
      this.updateCplMasks();
    }
  }

  // ---------------------------------------------------------------- segments

  /** Load a segment register the real-mode / virtual-8086 way: base = selector << 4. */
  loadRealSeg(seg: number, sel: number): void {
    sel &= 0xffff;
    this.segSel[seg] = sel;
    this.segBase[seg] = sel << 4;
    if (this.flags & VM) {
      // Virtual-8086: fixed 64 KiB read/write data (or code) at DPL 3.
      this.segLimit[seg] = 0xffff;
      this.segAttr[seg] = (seg === CS ? 0x1b : 0x13) | ATTR_S | (3 << 5) | ATTR_P;
    } else if (!this.protectedMode) {
      // Real mode keeps the cached limit and attributes ("unreal mode"), except that CS is reset
      // to a 16-bit segment by a far transfer; a fresh CPU has 64 KiB read/write segments.
      // A register nulled in protected mode (unusable) becomes usable again too.
      if (this.segAttr[seg] === 0 || this.segAttr[seg] & ATTR_UNUSABLE || seg === CS) {
        this.segLimit[seg] = 0xffff;
        this.segAttr[seg] = (seg === CS ? 0x1b : 0x13) | ATTR_S | ATTR_P;
      }
    }
    this.updateSegFlat(seg);
  }

  /** Fill a segment cache from raw descriptor fields (checks are the caller's job). */
  setSegCache(seg: number, sel: number, base: number, limit: number, attr: number): void {
    this.segSel[seg] = sel & 0xffff;
    this.segBase[seg] = base | 0;
    this.segLimit[seg] = limit | 0;
    this.segAttr[seg] = attr;
    this.updateSegFlat(seg);
  }

  updateSegFlat(seg: number): void {
    if (seg === CS) {
      // Interrupts, exceptions and IRET reload CS, mostly with the same values; links stay good then.
      const base = this.segBase[CS], limit = this.segLimit[CS], db = this.segAttr[CS] & ATTR_DB;
      if (base !== this.linkCsBase || limit !== this.linkCsLimit || db !== this.linkCsDb) {
        this.chainGen++;
        this.linkCsBase = base;
        this.linkCsLimit = limit;
        this.linkCsDb = db;
      }
    }
    const attr = this.segAttr[seg];
    const type = attr & 0xf;
    // Data, read/write, expand-up; or code (reads allowed if readable; writes never, handled by the slow path).
    const flatData = (attr & ATTR_UNUSABLE) === 0 && (attr & ATTR_P) !== 0 && (type & 0xc) === 0 && (type & 2) !== 0;
    this.segFlat[seg] = this.segBase[seg] === 0 && this.segLimit[seg] === -1 && flatData ? 1 : 0;
  }

  /** Check an access of `size` bytes at `off` in segment `seg`; slow path for non-flat segments. */
  checkSeg(seg: number, off: number, size: number, write: boolean): void {
    const attr = this.segAttr[seg];
    const fault = seg === SS ? SS_FAULT : GP;
    if (attr & ATTR_UNUSABLE || !(attr & ATTR_P)) {
      this.raise(fault, 0);
    }
    const type = attr & 0xf;
    if (this.protectedMode && !(this.flags & VM)) {
      if (type & 8) {
        // Code: never writable, readable only if R.
        if (write || !(type & 2)) this.raise(fault, 0);
      } else if (write && !(type & 2)) {
        this.raise(fault, 0);
      }
    }
    const last = (off + size - 1) >>> 0;
    const limit = this.segLimit[seg] >>> 0;
    if ((type & 0xc) === 0x4) {
      // Expand-down data: valid offsets are limit+1 .. (B ? 4G-1 : 64K-1).
      const upper = attr & ATTR_DB ? 0xffffffff : 0xffff;
      if ((off >>> 0) <= limit || last > upper || last < (off >>> 0)) this.raise(fault, 0);
    } else if (last > limit || last < (off >>> 0)) {
      this.raise(fault, 0);
    }
  }

  /** Linear address of a data access, with the segment checks. */
  lin(seg: number, off: number, size: number, write: boolean): number {
    if (this.segFlat[seg] === 0) this.checkSeg(seg, off, size, write);
    return (this.segBase[seg] + off) | 0;
  }

  /**
   * Linear address for a read-modify-write operand, with the write permission
   * checked up front (segment and paging), so that the instruction cannot
   * fault after it has computed its flags.
   */
  rmw(seg: number, off: number, size: number): number {
    const lin = this.lin(seg, off, size, true);
    this.probeWrite(lin, size);
    return lin;
  }

  /** Make sure a write of `size` bytes at `lin` will not fault. */
  probeWrite(lin: number, size: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wrMask) === this.wrWant && (lin & 0xfff) <= 0x1000 - size) return;
    this.translate(lin, ACCESS_WRITE);
    if ((lin & 0xfff) > 0x1000 - size) this.translate((lin + size - 1) | 0, ACCESS_WRITE);
  }

  // Segment-relative accessors used by the instruction handlers.
  rdSeg8(seg: number, off: number): number {
    return this.rd8(this.lin(seg, off, 1, false));
  }
  rdSeg16(seg: number, off: number): number {
    return this.rd16(this.lin(seg, off, 2, false));
  }
  rdSeg32(seg: number, off: number): number {
    return this.rd32(this.lin(seg, off, 4, false));
  }
  wrSeg8(seg: number, off: number, v: number): void {
    this.wr8(this.lin(seg, off, 1, true), v);
  }
  wrSeg16(seg: number, off: number, v: number): void {
    this.wr16(this.lin(seg, off, 2, true), v);
  }
  wrSeg32(seg: number, off: number, v: number): void {
    this.wr32(this.lin(seg, off, 4, true), v);
  }

  // ---------------------------------------------------------------- stack

  /** Mask for ESP arithmetic: the stack segment's B bit selects SP or ESP. */
  get spMask(): number {
    return this.segAttr[SS] & ATTR_DB ? -1 : 0xffff;
  }

  private setSp(v: number): void {
    if (this.segAttr[SS] & ATTR_DB) this.regs[4] = v;
    else this.regs16[8] = v;
  }

  push32(v: number): void {
    const mask = this.spMask;
    const sp = (this.regs[4] - 4) & mask;
    this.wrSeg32(SS, sp, v);
    this.setSp(sp);
  }

  push16(v: number): void {
    const mask = this.spMask;
    const sp = (this.regs[4] - 2) & mask;
    this.wrSeg16(SS, sp, v);
    this.setSp(sp);
  }

  pop32(): number {
    const mask = this.spMask;
    const sp = this.regs[4] & mask;
    const v = this.rdSeg32(SS, sp);
    this.setSp(sp + 4);
    return v;
  }

  pop16(): number {
    const mask = this.spMask;
    const sp = this.regs[4] & mask;
    const v = this.rdSeg16(SS, sp);
    this.setSp(sp + 2);
    return v;
  }

  /** Read the stack at ESP + delta without popping (for instructions that check before committing). */
  peek32(delta: number): number {
    return this.rdSeg32(SS, (this.regs[4] + delta) & this.spMask);
  }
  peek16(delta: number): number {
    return this.rdSeg16(SS, (this.regs[4] + delta) & this.spMask);
  }

  /** Add to (E)SP honouring the stack size. */
  adjustSp(delta: number): void {
    this.setSp((this.regs[4] + delta) & this.spMask);
  }

  // ---------------------------------------------------------------- linear memory

  rd8(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.rdMask) === this.rdWant) return this.u8[(e & ~0xfff) | (lin & 0xfff)];
    return this.rdSlow(lin, 1);
  }

  // Aligned accesses use the 16/32-bit views; unaligned ones within a page use the DataView.
  rd16(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.rdMask) === this.rdWant) {
      if ((lin & 1) === 0) return this.u16[((e & ~0xfff) | (lin & 0xfff)) >>> 1];
      if ((lin & 0xfff) !== 0xfff) return this.dv.getUint16((e & ~0xfff) | (lin & 0xfff), true);
    }
    return this.rdSlow(lin, 2);
  }

  rd32(lin: number): number {
    const e = this.tlb[lin >>> 12];
    if ((e & this.rdMask) === this.rdWant) {
      if ((lin & 3) === 0) return this.i32[((e & ~0xfff) | (lin & 0xfff)) >>> 2];
      if ((lin & 0xfff) <= 0xffc) return this.dv.getInt32((e & ~0xfff) | (lin & 0xfff), true);
    }
    return this.rdSlow(lin, 4);
  }

  wr8(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wrMask) === this.wrWant) {
      this.u8[(e & ~0xfff) | (lin & 0xfff)] = v;
      return;
    }
    this.wrSlow(lin, 1, v);
  }

  wr16(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wrMask) === this.wrWant) {
      if ((lin & 1) === 0) {
        this.u16[((e & ~0xfff) | (lin & 0xfff)) >>> 1] = v;
        return;
      }
      if ((lin & 0xfff) !== 0xfff) {
        this.dv.setUint16((e & ~0xfff) | (lin & 0xfff), v, true);
        return;
      }
    }
    this.wrSlow(lin, 2, v);
  }

  wr32(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12];
    if ((e & this.wrMask) === this.wrWant) {
      if ((lin & 3) === 0) {
        this.i32[((e & ~0xfff) | (lin & 0xfff)) >>> 2] = v;
        return;
      }
      if ((lin & 0xfff) <= 0xffc) {
        this.dv.setInt32((e & ~0xfff) | (lin & 0xfff), v, true);
        return;
      }
    }
    this.wrSlow(lin, 4, v);
  }

  /** Accesses with supervisor rights (descriptor tables, TSS, IDT), whatever the CPL. */
  rdSys32(lin: number): number {
    return this.supervisor(() => this.rd32(lin));
  }

  rdSys16(lin: number): number {
    return this.supervisor(() => this.rd16(lin));
  }

  wrSys32(lin: number, v: number): void {
    this.supervisor(() => this.wr32(lin, v));
  }

  wrSys16(lin: number, v: number): void {
    this.supervisor(() => this.wr16(lin, v));
  }

  private rdSlow(lin: number, size: number): number {
    if ((lin & 0xfff) + size > 0x1000) {
      // Split across a page boundary: both pages must translate before anything is read.
      let v = 0;
      for (let k = 0; k < size; k++) v |= this.rd8((lin + k) | 0) << (k * 8);
      return size === 4 ? v : v & 0xffff;
    }
    const e = this.translate(lin, ACCESS_READ);
    const addr = (e & ~0xfff) | (lin & 0xfff);
    if (e & TLB_NOT_RAM) {
      // A dword reads as a signed 32-bit value whatever the device returns, as RAM reads do (IMUL relies on it).
      const v = this.bus.mmioRead(addr, size as 1 | 2 | 4);
      return size === 4 ? v | 0 : v;
    }
    if (size === 1) return this.u8[addr];
    if (size === 2) return this.dv.getUint16(addr, true);
    return this.dv.getInt32(addr, true);
  }

  private wrSlow(lin: number, size: number, v: number): void {
    if ((lin & 0xfff) + size > 0x1000) {
      // Check both pages for write before the first byte lands, so a fault leaves memory untouched.
      this.translate(lin, ACCESS_WRITE);
      this.translate((lin + size - 1) | 0, ACCESS_WRITE);
      for (let k = 0; k < size; k++) this.wr8((lin + k) | 0, (v >>> (k * 8)) & 0xff);
      return;
    }
    const e = this.translate(lin, ACCESS_WRITE);
    const addr = (e & ~0xfff) | (lin & 0xfff);
    if (e & TLB_NOT_RAM) {
      this.bus.mmioWrite(addr, size as 1 | 2 | 4, size === 4 ? v : v & (size === 1 ? 0xff : 0xffff));
      return;
    }
    if (e & TLB_CODE) this.invalidateFrame(addr >>> 12);
    if (size === 1) this.u8[addr] = v;
    else if (size === 2) this.dv.setUint16(addr, v, true);
    else this.dv.setInt32(addr, v, true);
  }

  /**
   * Translate a linear address for an access, filling the TLB; raises #PF.
   * Returns the TLB entry (frame | bits).
   */
  translate(lin: number, access: number): number {
    const page = lin >>> 12;
    const user = this.cpl === 3 && this.forceSupervisor === 0;
    let e = this.tlb[page];
    if (e !== 0) {
      // A hit that is good enough for this access avoids the walk.
      if (access === ACCESS_READ && (!user || e & TLB_USER)) return e;
      if (access === ACCESS_FETCH && (!user || e & TLB_USER) && !(e & TLB_NX)) return e;
      if (access === ACCESS_WRITE && e & TLB_DIRTY && e & (user ? TLB_USER_WRITE : TLB_SUP_WRITE)) return e;
    }
    const old = this.tlb[page];
    e = this.cr0 & CR0_PG ? this.walk(lin, access, user) : this.identityEntry(page);
    if (old === 0) this.tlbUsed[this.tlbUsedCount++] = page;
    // A walk that moves a code page elsewhere (the guest changed its PTE) makes links to its blocks stale.
    else if (old & TLB_CODE && (old ^ e) >>> 12 !== 0) this.chainGen++;
    this.tlb[page] = e;
    return e;
  }

  private identityEntry(page: number): number {
    return this.frameEntry(page, TLB_VALID | TLB_USER | TLB_SUP_WRITE | TLB_USER_WRITE | TLB_DIRTY);
  }

  /** Entry for a guest-physical frame: machine frame (or the guest frame if not RAM) and code marking. */
  private frameEntry(gfn: number, bits: number): number {
    const mfn = gfn < (1 << 20) ? this.mem.p2m[gfn] : -1;
    if (mfn < 0) return ((gfn & 0xfffff) << 12) | bits | TLB_NOT_RAM;
    return (mfn << 12) | bits | (this.codeFrames[mfn] !== 0 ? TLB_CODE : 0);
  }

  private pfault(lin: number, access: number, user: boolean, present: boolean, rsvd = false): never {
    this.cr2 = lin;
    let err = present ? 1 : 0;
    if (access === ACCESS_WRITE) err |= 2;
    if (user) err |= 4;
    if (rsvd) err |= 8;
    if (access === ACCESS_FETCH && this.efer & EFER_NXE && this.cr4 & CR4_PAE) err |= 16;
    return this.raise(PFV, err);
  }

  /** Physical (guest) dword read for page walks; nothing there reads as zero. */
  private physRd32(addr: number): number {
    const off = this.mem.offset(addr);
    return off < 0 ? 0 : this.dv.getInt32(off, true);
  }

  private physWr32(addr: number, v: number): void {
    const off = this.mem.offset(addr);
    if (off < 0) return;
    if (this.codeFrames[off >>> 12]) this.invalidateFrame(off >>> 12);
    this.dv.setInt32(off, v, true);
  }

  /** Walk the paging structures (SDM vol. 3, 4.3 and 4.4); sets A and D bits. */
  private walk(lin: number, access: number, user: boolean): number {
    const write = access === ACCESS_WRITE;
    const wp = (this.cr0 & CR0_WP) !== 0;
    let allowUser = true, allowWrite = true, nx = false, global = false, dirty = false;
    let gfn: number;
    if (this.cr4 & CR4_PAE) {
      const nxe = (this.efer & EFER_NXE) !== 0;
      const pdpteAddr = ((this.cr3 & ~0x1f) + ((lin >>> 30) << 3)) >>> 0;
      const pdpteLo = this.physRd32(pdpteAddr), pdpteHi = this.physRd32(pdpteAddr + 4);
      if (!(pdpteLo & 1)) this.pfault(lin, access, user, false);
      if (pdpteLo & 0x1e6 || pdpteHi & 0xfffffff0) this.pfault(lin, access, user, true, true);
      const pdeAddr = ((pdpteLo & ~0xfff) + (((lin >>> 21) & 0x1ff) << 3)) >>> 0;
      let pdeLo = this.physRd32(pdeAddr);
      const pdeHi = this.physRd32(pdeAddr + 4);
      if (!(pdeLo & 1)) this.pfault(lin, access, user, false);
      if ((pdeHi & 0x7ffffff0) !== 0 || (!nxe && pdeHi < 0)) this.pfault(lin, access, user, true, true);
      allowUser = (pdeLo & 4) !== 0;
      allowWrite = (pdeLo & 2) !== 0;
      nx = nxe && pdeHi < 0;
      if (pdeLo & 0x80) {
        // 2 MiB page.
        if (pdeLo & 0x1fe000) this.pfault(lin, access, user, true, true);
        this.checkAccess(lin, access, user, allowUser, allowWrite, nx, wp);
        const want = pdeLo | 0x20 | (write ? 0x40 : 0);
        if (want !== pdeLo) this.physWr32(pdeAddr, (pdeLo = want));
        dirty = (pdeLo & 0x40) !== 0;
        global = (pdeLo & 0x100) !== 0;
        gfn = pdeHi & 0xf ? -1 : ((pdeLo >>> 12) & 0xffe00) | ((lin >>> 12) & 0x1ff);
      } else {
        if (!(pdeLo & 0x20)) this.physWr32(pdeAddr, (pdeLo |= 0x20));
        const pteAddr = ((pdeLo & ~0xfff) + (((lin >>> 12) & 0x1ff) << 3)) >>> 0;
        let pteLo = this.physRd32(pteAddr);
        const pteHi = this.physRd32(pteAddr + 4);
        if (!(pteLo & 1)) this.pfault(lin, access, user, false);
        if ((pteHi & 0x7ffffff0) !== 0 || (!nxe && pteHi < 0)) this.pfault(lin, access, user, true, true);
        allowUser &&= (pteLo & 4) !== 0;
        allowWrite &&= (pteLo & 2) !== 0;
        nx ||= nxe && pteHi < 0;
        this.checkAccess(lin, access, user, allowUser, allowWrite, nx, wp);
        const want = pteLo | 0x20 | (write ? 0x40 : 0);
        if (want !== pteLo) this.physWr32(pteAddr, (pteLo = want));
        dirty = (pteLo & 0x40) !== 0;
        global = (pteLo & 0x100) !== 0;
        gfn = pteHi & 0xf ? -1 : pteLo >>> 12;
      }
    } else {
      const pdeAddr = ((this.cr3 & ~0xfff) + ((lin >>> 22) << 2)) >>> 0;
      let pde = this.physRd32(pdeAddr);
      if (!(pde & 1)) this.pfault(lin, access, user, false);
      allowUser = (pde & 4) !== 0;
      allowWrite = (pde & 2) !== 0;
      if (pde & 0x80 && this.cr4 & CR4_PSE) {
        // 4 MiB page (PSE-36 high bits not implemented: CPUID does not claim PSE-36).
        this.checkAccess(lin, access, user, allowUser, allowWrite, false, wp);
        const want = pde | 0x20 | (write ? 0x40 : 0);
        if (want !== pde) this.physWr32(pdeAddr, (pde = want));
        dirty = (pde & 0x40) !== 0;
        global = (pde & 0x100) !== 0;
        gfn = ((pde >>> 12) & 0xffc00) | ((lin >>> 12) & 0x3ff);
      } else {
        if (!(pde & 0x20)) this.physWr32(pdeAddr, (pde |= 0x20));
        const pteAddr = ((pde & ~0xfff) + (((lin >>> 12) & 0x3ff) << 2)) >>> 0;
        let pte = this.physRd32(pteAddr);
        if (!(pte & 1)) this.pfault(lin, access, user, false);
        allowUser &&= (pte & 4) !== 0;
        allowWrite &&= (pte & 2) !== 0;
        this.checkAccess(lin, access, user, allowUser, allowWrite, false, wp);
        const want = pte | 0x20 | (write ? 0x40 : 0);
        if (want !== pte) this.physWr32(pteAddr, (pte = want));
        dirty = (pte & 0x40) !== 0;
        global = (pte & 0x100) !== 0;
        gfn = pte >>> 12;
      }
    }
    let bits = TLB_VALID;
    if (allowUser) bits |= TLB_USER;
    if (allowWrite || !wp) bits |= TLB_SUP_WRITE;
    if (allowWrite && allowUser) bits |= TLB_USER_WRITE;
    if (dirty) bits |= TLB_DIRTY;
    if (nx) bits |= TLB_NX;
    if (global && this.cr4 & CR4_PGE) bits |= TLB_GLOBAL;
    if (gfn < 0) return TLB_NOT_RAM | bits | 0xfffff000; // above 4 GiB: nothing there
    return this.frameEntry(gfn, bits);
  }

  private checkAccess(lin: number, access: number, user: boolean, allowUser: boolean, allowWrite: boolean, nx: boolean, wp: boolean): void {
    if (user && !allowUser) this.pfault(lin, access, user, true);
    if (access === ACCESS_WRITE && !allowWrite && (user || wp)) this.pfault(lin, access, user, true);
    if (access === ACCESS_FETCH && nx) this.pfault(lin, access, user, true);
  }

  /** Drop TLB entries: all of them, or all but global pages. */
  flushTlb(includeGlobal: boolean): void {
    this.chainGen++;
    let keep = 0;
    for (let k = 0; k < this.tlbUsedCount; k++) {
      const page = this.tlbUsed[k];
      if (!includeGlobal && this.tlb[page] & TLB_GLOBAL) {
        this.tlbUsed[keep++] = page;
      } else {
        this.tlb[page] = 0;
      }
    }
    this.tlbUsedCount = keep;
  }

  /** INVLPG. */
  invlpg(lin: number): void {
    // Links only lead to blocks on code frames, whose TLB entries all carry TLB_CODE.
    if (this.tlb[lin >>> 12] & TLB_CODE) this.chainGen++;
    this.tlb[lin >>> 12] = 0;
  }

  /** Translate for an instruction fetch; returns the machine address or raises #PF. */
  fetchAddr(lin: number): number {
    const e = this.translate(lin, ACCESS_FETCH);
    if (e & TLB_NOT_RAM) return -1;
    return (e & ~0xfff) | (lin & 0xfff);
  }

  /** Read a code byte at a linear address (used by the decoder for fetches across page ends and from MMIO). */
  fetch8(lin: number): number {
    const e = this.translate(lin, ACCESS_FETCH);
    const addr = (e & ~0xfff) | (lin & 0xfff);
    if (e & TLB_NOT_RAM) return this.bus.mmioRead(addr, 1) & 0xff;
    return this.u8[addr];
  }

  // ---------------------------------------------------------------- code cache

  /** A block now lives on this machine frame: writes to it must go through the slow path. */
  markCode(mfn: number): void {
    if (this.codeFrames[mfn]++ === 0) {
      for (let k = 0; k < this.tlbUsedCount; k++) {
        const page = this.tlbUsed[k];
        const e = this.tlb[page];
        if (e !== 0 && !(e & TLB_NOT_RAM) && e >>> 12 === mfn) this.tlb[page] = e | TLB_CODE;
      }
    }
  }

  /** A write hit a frame holding decoded code: drop its blocks. */
  invalidateFrame(mfn: number): void {
    const list = this.pageBlocks.get(mfn);
    if (list) {
      for (const b of list) {
        b.valid = false;
        // (A block across two pages may since have been decoded anew, with other bytes on its second page.)
        if (this.blocks.get(b.key) === b) this.blocks.delete(b.key);
        if (b === this.currentBlock) this.blockAbort = true;
      }
      this.pageBlocks.delete(mfn);
    }
    this.codeFrames[mfn] = 0;
    for (let k = 0; k < this.tlbUsedCount; k++) {
      const page = this.tlbUsed[k];
      const e = this.tlb[page];
      if (e & TLB_CODE && e >>> 12 === mfn) this.tlb[page] = e & ~TLB_CODE;
    }
  }

  /** A device or loader wrote guest memory behind the CPU's back. */
  notifyWrite(guestPhys: number, length: number): void {
    for (let a = guestPhys & ~0xfff; a < guestPhys + length; a += 0x1000) {
      const off = this.mem.offset(a);
      if (off >= 0 && this.codeFrames[off >>> 12]) this.invalidateFrame(off >>> 12);
    }
  }

  invalidateAllCode(): void {
    for (const b of this.blocks.values()) b.valid = false;
    this.blocks.clear();
    this.pageBlocks.clear();
    this.codeFrames.fill(0);
    for (let k = 0; k < this.tlbUsedCount; k++) this.tlb[this.tlbUsed[k]] &= ~TLB_CODE;
  }

  /** Find or decode the block at CS:EIP. */
  private getBlock(): Block {
    const eip = this.eip;
    const csLimit = this.segLimit[CS] >>> 0;
    if ((eip >>> 0) > csLimit) this.gp(0);
    const lin = (this.segBase[CS] + eip) | 0;
    const addr = this.fetchAddr(lin);
    let slot = 0;
    if (addr >= 0) {
      const key = addr * 2 + (this.segAttr[CS] & ATTR_DB ? 1 : 0);
      slot = key & (BLOCK_CACHE_SIZE - 1);
      const hit = this.blockCache[slot];
      if (hit !== null && hit.key === key && hit.valid === true && this.isBlockAt(hit, eip, lin, csLimit)) return hit;
      const b = this.blocks.get(key);
      if (b !== undefined && this.isBlockAt(b, eip, lin, csLimit)) {
        this.blockCache[slot] = b;
        return b;
      }
    }
    const b = decodeBlock(this, eip, lin, addr);
    if (b.cacheable) {
      this.blockCache[slot] = b;
      this.blocks.set(b.key, b);
      this.addCodeBlock(addr >>> 12, b);
      if (b.addr2 >= 0) this.addCodeBlock(b.addr2 >>> 12, b);
    }
    return b;
  }

  /**
   * Whether block `b`, cached under the machine address of `lin`, is the code at EIP `eip` under this CS limit:
   * decoded at that EIP and limit and, if its instruction crosses into the next page, with that page mapped to the
   * same frame. A #PF here is the one the instruction's fetch would raise: its bytes there are all it lacks.
   */
  private isBlockAt(b: Block, eip: number, lin: number, csLimit: number): boolean {
    return b.eip === eip && b.csLimit === csLimit && (b.addr2 < 0 || (this.fetchAddr((lin | 0xfff) + 1) & ~0xfff) === b.addr2);
  }

  /** Record that block `b` was decoded from frame `mfn`: a write there drops it. */
  private addCodeBlock(mfn: number, b: Block): void {
    let list = this.pageBlocks.get(mfn);
    if (!list) this.pageBlocks.set(mfn, (list = []));
    list.push(b);
    this.markCode(mfn);
  }

  // ---------------------------------------------------------------- run loop

  /**
   * Run until `budget` instructions have retired, the CPU halts with nothing
   * to wake it, or the machine shuts down. Returns why it stopped.
   */
  run(budget: number): Exit {
    const target = this.icount + budget;
    this.exitReason = Exit.Budget;
    /** A block is running: a fault comes from its instruction `faultIndex`. */
    let inBlock = false;
    let deliveries = 0;
    let prev: Block | null = null;
    for (;;) {
      try {
        while (this.icount < target) {
          // Booleans are compared with `=== true`: V8 compiles a bare `if (x)` on a field to a full ToBoolean.
          if (this.halted === true) {
            if (!this.wakeable()) return Exit.Halt;
            this.halted = false;
          }
          if (this.inhibitIrq === true) {
            this.inhibitIrq = false;
          } else if (this.nmiPending === true || (this.irqLine === true && (this.flags & IF) !== 0)) {
            this.serviceInterrupt();
            prev = null;
            if (this.exitReason !== Exit.Budget) return this.exitReason;
          }
          inBlock = false;
          const eip = this.eip;
          let b: Block;
          if (prev !== null && prev.next1Eip === eip && prev.next1Gen === this.chainGen && prev.next1!.valid === true) {
            b = prev.next1!;
          } else if (prev !== null && prev.next2Eip === eip && prev.next2Gen === this.chainGen && prev.next2!.valid === true) {
            b = prev.next2!;
          } else {
            b = this.getBlock();
            if (prev !== null && b.cacheable === true) {
              // Keep the newest link in slot 1, the one before in slot 2.
              prev.next2 = prev.next1;
              prev.next2Eip = prev.next1Eip;
              prev.next2Gen = prev.next1Gen;
              prev.next1 = b;
              prev.next1Eip = eip;
              prev.next1Gen = this.chainGen;
            }
          }
          if (this.flags & (TF | RF)) {
            prev = null;
            this.stepOne(b);
            if (this.exitReason !== Exit.Budget) return this.exitReason;
            continue;
          }
          inBlock = true;
          this.currentBlock = b;
          this.blockAbort = false;
          let fn = b.fn;
          if (fn === null) {
            if (++b.hits >= hotThreshold && b.cacheable === true) fn = b.fn = compileBlock(b, this, b.hits >= regionThreshold);
          } else if (b.hits < regionThreshold && ++b.hits === regionThreshold) {
            fn = b.fn = compileBlock(b, this, true);
          }
          // Either way, a fault leaves the index of its instruction in `faultIndex`.
          let k: number;
          if (fn !== null) {
            k = fn(this, target);
            // A compiled region may have gone on into other blocks: k counts the last one's instructions.
            b = this.currentBlock!;
          } else {
            k = this.finishBlock(b, 0);
          }
          this.icount += k;
          inBlock = false;
          prev = (this.blockAbort as boolean) === true || b.valid === false ? null : b;
          if (this.exitReason !== Exit.Budget) return this.exitReason;
        }
        return Exit.Budget;
      } catch (e) {
        if (e !== FAULT) throw e;
        // A guest that faults forever without retiring anything must still give the vCPU back.
        if (++deliveries > budget) return Exit.Budget;
        if (inBlock) {
          const k = this.faultIndex;
          this.icount += k;
          this.eip = this.currentBlock!.insns[k].eip;
          inBlock = false;
        }
        prev = null;
        this.deliverFault();
        if (this.exitReason !== Exit.Budget) return this.exitReason;
      }
    }
  }

  /**
   * Run the instructions of block `b` from index `from` on, as the run loop
   * runs a block: a compiled block's function does this where it leaves its
   * inline code (a side exit, see jit-emit's `setEmitSlowPaths`). Returns the
   * number of the block's instructions retired; a fault leaves the index of
   * its instruction in `faultIndex`, as compiled code does.
   */
  finishBlock(b: Block, from: number): number {
    const insns = b.insns;
    const last = insns.length - 1;
    let k = from;
    try {
      // EIP is only stored for the last instruction (and on an abort or a fault): handlers in the middle of a block
      // never read it.
      for (; k < last; k++) {
        const i = insns[k];
        i.exec(this, i);
        if (this.blockAbort === true) break;
      }
      if (k === last) {
        const i = insns[k];
        this.eip = i.next;
        i.exec(this, i);
      } else {
        this.eip = insns[k].next;
      }
    } catch (e) {
      this.faultIndex = k;
      throw e;
    }
    return k + 1;
  }

  /**
   * Run only the block's first instruction: under EFLAGS.TF (then the #DB
   * single-step trap), or with RF set, which the processor clears once an
   * instruction completes (unless that instruction loaded EFLAGS itself).
   */
  private stepOne(b: Block): void {
    const i = b.insns[0];
    const before = this.flags;
    try {
      this.eip = i.next;
      i.exec(this, i);
      this.icount++;
    } catch (e) {
      if (e !== FAULT) throw e;
      this.eip = i.eip;
      this.deliverFault();
      return;
    }
    if (before & RF && i.op !== 0xcf && i.op !== 0x9d) this.flags &= ~RF;
    // The trap follows an instruction that began with TF set (not one that just set it).
    if (before & TF) {
      this.dr[6] |= 0x4000; // BS
      this.deliverTrap(DB);
    }
  }

  private wakeable(): boolean {
    return this.nmiPending || (this.irqLine && (this.flags & IF) !== 0);
  }

  private serviceInterrupt(): void {
    if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false;
      this.nmiBlocked = true;
      this.deliverEventSafely(NMI, -1, EventKind.External);
      return;
    }
    if (this.irqLine && this.flags & IF && this.pic) {
      const vector = this.pic.ackInterrupt();
      if (vector >= 0) this.deliverEventSafely(vector, -1, EventKind.External);
    }
  }

  /** Deliver the fault recorded by `raise()`; EIP already points at the faulting instruction. */
  private deliverFault(): void {
    const vector = this.excVector;
    this.deliverEventSafely(vector, this.excError, EventKind.Exception);
  }

  /** Deliver a trap after the instruction completed (EIP is the next instruction). */
  deliverTrap(vector: number): void {
    this.deliverEventSafely(vector, -1, EventKind.Exception);
  }

  private deliverEventSafely(vector: number, errorCode: number, kind: EventKind): void {
    try {
      deliverEvent(this, vector, errorCode, kind);
    } catch (e) {
      if (e !== FAULT) throw e;
      // deliverEvent escalates to #DF and triple fault itself; a fault escaping it is a shutdown.
      this.shutdown(`fault 0x${this.excVector.toString(16)} while delivering vector 0x${vector.toString(16)}`);
    }
  }

  /** Triple fault or shutdown cycle: the machine stops; the caller decides (reset or crash). */
  shutdown(reason: string): void {
    this.exitReason = Exit.Shutdown;
    this.shutdownReason = reason;
    this.halted = true;
  }

  /** Ask `run()` to return at the end of the current instruction (device requests). */
  requestStop(): void {
    this.exitReason = Exit.Stop;
    this.blockAbort = true;
  }

  // ---------------------------------------------------------------- time

  /** Time-stamp counter: the time base at the nominal frequency. */
  readTsc(): number {
    return Math.floor((this.timeNs() * this.tscMhz) / 1000) + this.tscOffset;
  }

  writeTsc(value: number): void {
    this.tscOffset = value - Math.floor((this.timeNs() * this.tscMhz) / 1000);
  }

  // ---------------------------------------------------------------- control registers

  /** MOV to CR0 (validity checks done by the caller). */
  setCr0(v: number): void {
    const old = this.cr0;
    this.cr0 = (v | 0x10) & (0xe005003f | 0);
    if ((old ^ this.cr0) & (CR0_PG | CR0_WP | CR0_PE)) this.flushTlb(true);
    if ((old ^ this.cr0) & CR0_PE) this.updateCplMasks();
  }

  setCr3(v: number): void {
    this.cr3 = v;
    this.flushTlb(false);
  }

  setCr4(v: number): void {
    const old = this.cr4;
    this.cr4 = v;
    if ((old ^ v) & (CR4_PAE | CR4_PGE | CR4_PSE)) this.flushTlb(true);
  }

  setEfer(v: number): void {
    const old = this.efer;
    this.efer = v & EFER_NXE;
    if ((old ^ this.efer) & EFER_NXE) this.flushTlb(true);
  }

  /** Change CPL (after a privilege-level transfer). */
  setCpl(cpl: number): void {
    // Fetch permissions depend on CPL: links between blocks made at another CPL are stale.
    if (cpl !== this.cpl) this.chainGen++;
    this.cpl = cpl;
    this.updateCplMasks();
  }

  /** DF as +1 / -1 step direction multiplier. */
  get dfStep(): number {
    return this.flags & DF ? -1 : 1;
  }
}

/** Parity flag lookup for a byte: PF is set when the low byte has an even number of 1 bits. */
export const PARITY = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let bits = 0;
  for (let b = v; b; b >>= 1) bits += b & 1;
  PARITY[v] = bits & 1 ? 0 : 1;
}
