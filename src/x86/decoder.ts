/**
 * Instruction decoder: bytes at CS:EIP -> a basic block of pre-decoded
 * instructions, each a fixed-shape `Insn` record with its handler.
 *
 * What an opcode needs decoded (ModRM? which immediate? does it end the
 * block?) comes from one table, `OPS` in opcodes.ts, that the handlers' files
 * fill in. Blocks end at control transfers, at instructions that change the
 * mode or the interrupt flag, at the end of a page, and after `MAX_BLOCK`
 * instructions. An instruction that straddles a page end is decoded into a
 * block of its own that is not cached (the second page may be remapped
 * independently of the first).
 */
import { CS, DS, ES, FS, GS, SS, EBP, ESP } from './constants.js';
import type { Cpu } from './cpu.js';
import { FAULT } from './cpu.js';
import { Imm, OPS, OpSpec, OpEntry } from './opcodes.js';
import type { CompiledBlock } from './jit.js';

export type Handler = (c: Cpu, i: Insn) => void;

export const MAX_BLOCK = 64;

/** One decoded instruction. Every field is a number or boolean so all instances share one shape. */
export class Insn {
  exec: Handler = raiseUd;
  /** Offset in CS of this instruction and of the next one. */
  eip = 0;
  next = 0;
  /** Opcode: one-byte opcodes as is, 0F-prefixed as 0x100 | byte. */
  op = 0;
  o32 = false;
  a32 = false;
  /** Segment of the memory operand after overrides. */
  seg = DS;
  /** A segment override prefix was present (string instructions' source, XLAT). */
  segOverride = false;
  /** 0, 0xF2 (REPNE) or 0xF3 (REP/REPE). */
  rep = 0;
  lock = false;
  /** Raw ModRM byte and its fields; `rm` is a register number when mod === 3. */
  modrm = 0;
  mod = 3;
  reg = 0;
  rm = 0;
  /** Memory operand: disp + base + (index << scale), -1 for an absent register. */
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  imm = 0;
  imm2 = 0;
  /** Byte offsets into regs8 for 8-bit register operands (AL=0, CL=4, ..., AH=1, CH=5, ...). */
  reg8 = 0;
  rm8 = 0;
}

export class Block {
  insns: Insn[] = [];
  /** Machine address * 2 + (32-bit code ? 1 : 0); -1 if not cached. */
  key = -1;
  eip = 0;
  csLimit = 0;
  valid = true;
  cacheable = true;
  /**
   * Machine address of the second page's frame for a block whose one
   * instruction crosses a page end (-1 if it does not): the block is only
   * this code while the next page still maps to that frame.
   */
  addr2 = -1;
  // Chaining: the last two successors seen, valid while the CPU's chainGen is unchanged.
  next1: Block | null = null;
  next1Eip = 0;
  next1Gen = -1;
  next2: Block | null = null;
  next2Eip = 0;
  next2Gen = -1;
  /** Executions so far, and the compiled form once the block is hot (jit.ts). */
  hits = 0;
  fn: CompiledBlock | null = null;
  /** Times its compiled function left at a memory access off the inline path; past a limit it is compiled with slow paths inline (jit.ts). */
  sideExits = 0;
  inlineSlowPaths = false;
}

function raiseUd(c: Cpu): void {
  c.raise(6);
}

/** Register number -> byte offset of its 8-bit alias in regs8. */
export function reg8Offset(r: number): number {
  return r < 4 ? r * 4 : (r - 4) * 4 + 1;
}

/** Offset of the memory operand (without the segment base). */
export function ea(c: Cpu, i: Insn): number {
  let a = i.disp;
  if (i.base >= 0) a += c.regs[i.base];
  if (i.index >= 0) a += c.regs[i.index] << i.scale;
  return i.a32 === true ? a | 0 : a & 0xffff;
}

/** Reads code bytes for the decoder, checking the CS limit and crossing pages when it must. */
class CodeReader {
  lin = 0;
  eip = 0;
  /** Machine address of the next byte when it is on the block's first page, else -1. */
  addr = -1;
  pageEnd = 0;
  crossed = false;
  constructor(readonly c: Cpu, private readonly csLimit: number) {}

  byte(): number {
    if ((this.eip >>> 0) > this.csLimit) this.c.gp(0);
    let v: number;
    if (this.addr >= 0 && this.addr < this.pageEnd) {
      v = this.c.u8[this.addr++];
    } else {
      if ((this.lin & 0xfff) === 0) this.crossed = true;
      v = this.c.fetch8(this.lin);
    }
    this.lin = (this.lin + 1) | 0;
    this.eip = this.c.code32 ? (this.eip + 1) | 0 : (this.eip + 1) & 0xffff;
    return v;
  }

  word(): number {
    const lo = this.byte();
    return lo | (this.byte() << 8);
  }

  dword(): number {
    const lo = this.word();
    return lo | (this.word() << 16);
  }
}

/**
 * Decode the basic block at CS:eip (linear address `lin`, machine address
 * `addr`, -1 if the code is not in RAM). Faults from the first instruction
 * propagate; a later instruction that would fault ends the block before it.
 */
export function decodeBlock(c: Cpu, eip: number, lin: number, addr: number): Block {
  const b = new Block();
  const code32 = c.code32;
  b.eip = eip;
  b.csLimit = c.segLimit[CS] >>> 0;
  b.key = addr >= 0 ? addr * 2 + (code32 ? 1 : 0) : -1;
  b.cacheable = addr >= 0;
  const r = new CodeReader(c, b.csLimit);
  r.lin = lin;
  r.eip = eip;
  r.addr = addr;
  r.pageEnd = addr >= 0 ? (addr & ~0xfff) + 0x1000 : 0;
  for (;;) {
    const start = r.eip;
    const startLin = r.lin;
    const startAddr = r.addr;
    let i: Insn;
    let end: boolean;
    try {
      i = new Insn();
      end = decodeOne(r, i, code32);
    } catch (e) {
      if (e !== FAULT || b.insns.length === 0) throw e;
      // Let this instruction fault when it is executed first in its own block.
      break;
    }
    if (r.crossed) {
      if (b.insns.length > 0) {
        r.eip = start;
        r.lin = startLin;
        r.addr = startAddr;
        break;
      }
      // One instruction across a page end: cached only if both pages are RAM (the second one's frame is kept).
      const addr2 = b.cacheable ? c.fetchAddr(r.lin - 1) : -1;
      b.addr2 = addr2 >= 0 ? addr2 & ~0xfff : -1;
      b.cacheable = addr2 >= 0;
      b.insns.push(i);
      break;
    }
    b.insns.push(i);
    if (end || b.insns.length >= MAX_BLOCK || r.addr < 0 || r.addr >= r.pageEnd) break;
  }
  return b;
}

/** Decode one instruction into `i`; returns true if it ends the block. */
function decodeOne(r: CodeReader, i: Insn, code32: boolean): boolean {
  i.eip = r.eip;
  let o32 = code32, a32 = code32;
  let seg = -1;
  let rep = 0, lock = false;
  let b: number;
  let count = 0;
  for (;;) {
    b = r.byte();
    if (++count > 15) r.c.gp(0);
    switch (b) {
      case 0x66: o32 = !code32; continue;
      case 0x67: a32 = !code32; continue;
      case 0xf0: lock = true; continue;
      case 0xf2: case 0xf3: rep = b; continue;
      case 0x26: seg = ES; continue;
      case 0x2e: seg = CS; continue;
      case 0x36: seg = SS; continue;
      case 0x3e: seg = DS; continue;
      case 0x64: seg = FS; continue;
      case 0x65: seg = GS; continue;
    }
    break;
  }
  let op = b;
  if (b === 0x0f) op = 0x100 | r.byte();
  i.op = op;
  i.o32 = o32;
  i.a32 = a32;
  i.rep = rep;
  i.lock = lock;
  i.segOverride = seg >= 0;
  i.seg = seg >= 0 ? seg : DS;

  const entry: OpEntry | undefined = OPS[op];
  let spec: OpSpec | undefined;
  if (entry === undefined) {
    spec = undefined;
  } else if (Array.isArray(entry)) {
    // Group opcode: the ModRM reg field selects the operation.
    readModrm(r, i, seg);
    spec = entry[i.reg];
  } else {
    spec = entry;
    if (spec.modrm) readModrm(r, i, seg);
  }
  const length = () => {
    if (((r.eip - i.eip) & (code32 ? -1 : 0xffff)) > 15) r.c.gp(0);
  };
  if (spec === undefined || (spec.memOnly && i.mod === 3) || (spec.regOnly && i.mod !== 3) || (lock && !(spec.lockable && i.mod !== 3))) {
    length();
    i.next = r.eip;
    i.exec = raiseUd;
    return true;
  }
  switch (spec.imm ?? Imm.None) {
    case Imm.None: break;
    case Imm.B: i.imm = r.byte(); break;
    case Imm.Bs: i.imm = (r.byte() << 24) >> 24; break;
    case Imm.W: i.imm = r.word(); break;
    case Imm.V: i.imm = o32 ? r.dword() : r.word(); break;
    case Imm.Vs: i.imm = o32 ? r.dword() : (r.word() << 16) >> 16; break;
    case Imm.Moffs: i.disp = a32 ? r.dword() : r.word(); break;
    case Imm.FarPtr: i.imm = o32 ? r.dword() : r.word(); i.imm2 = r.word(); break;
    case Imm.WB: i.imm = r.word(); i.imm2 = r.byte(); break;
    case Imm.RelB: i.imm = (r.byte() << 24) >> 24; break;
    case Imm.RelV: i.imm = o32 ? r.dword() : (r.word() << 16) >> 16; break;
  }
  length();
  i.next = r.eip;
  if (spec.imm === Imm.RelB || spec.imm === Imm.RelV) {
    // Branch target as an offset in CS, wrapped to the operand size.
    i.imm = o32 ? (i.next + i.imm) | 0 : (i.next + i.imm) & 0xffff;
  }
  i.exec = (o32 ? spec.h32 ?? spec.h : spec.h16 ?? spec.h) ?? raiseUd;
  return spec.end === true || (rep !== 0 && spec.string === true);
}

/** ModRM, SIB and displacement (SDM vol. 2, 2.1.5). */
function readModrm(r: CodeReader, i: Insn, seg: number): void {
  const m = r.byte();
  i.modrm = m;
  i.mod = m >> 6;
  i.reg = (m >> 3) & 7;
  i.rm = m & 7;
  i.reg8 = reg8Offset(i.reg);
  i.rm8 = reg8Offset(i.rm);
  if (i.mod === 3) return;
  let defSeg = DS;
  if (i.a32) {
    let base = i.rm;
    if (base === 4) {
      const sib = r.byte();
      i.scale = sib >> 6;
      const idx = (sib >> 3) & 7;
      i.index = idx === 4 ? -1 : idx;
      base = sib & 7;
      if (base === 5 && i.mod === 0) {
        i.base = -1;
        i.disp = r.dword();
      } else {
        i.base = base;
      }
    } else if (base === 5 && i.mod === 0) {
      i.base = -1;
      i.disp = r.dword();
    } else {
      i.base = base;
    }
    if (i.base === ESP || i.base === EBP) defSeg = SS;
    if (i.mod === 1) i.disp = (r.byte() << 24) >> 24;
    else if (i.mod === 2) i.disp = r.dword();
  } else {
    // 16-bit forms: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (or disp16), BX.
    const BX = 3, BP = 5, SI = 6, DI = 7;
    switch (i.rm) {
      case 0: i.base = BX; i.index = SI; break;
      case 1: i.base = BX; i.index = DI; break;
      case 2: i.base = BP; i.index = SI; defSeg = SS; break;
      case 3: i.base = BP; i.index = DI; defSeg = SS; break;
      case 4: i.base = SI; break;
      case 5: i.base = DI; break;
      case 6:
        if (i.mod === 0) {
          i.base = -1;
          i.disp = r.word();
        } else {
          i.base = BP;
          defSeg = SS;
        }
        break;
      case 7: i.base = BX; break;
    }
    if (i.mod === 1) i.disp = (r.byte() << 24) >> 24;
    else if (i.mod === 2) i.disp = r.word();
  }
  i.seg = seg >= 0 ? seg : defSeg;
}
