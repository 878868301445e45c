/**
 * The x87 FPU of a P6-class processor (Pentium Pro / II / III), behind a small host interface.
 *
 * Design
 * - State is plain data on the Fpu object: control word, status word (TOP in bits 11–13), an
 *   abridged tag (one "non-empty" bit per physical register, as the P6 keeps it; the full tag word
 *   is derived from the contents when stored), the eight physical registers R0–R7 as raw 80-bit
 *   fields, and the last-instruction/operand pointers FIP:FCS, FOP, FDP:FDS.
 * - Arithmetic is exact soft-float (fpu-float80.ts): one correct rounding under PC and RC with
 *   Intel's flag semantics. The transcendentals are evaluated in ~120-bit BigInt floating point
 *   (fpu-transcendental.ts, fpu-bigfloat.ts) and rounded once, so they are correctly rounded where
 *   real parts are only within 1 ulp.
 * - Each instruction runs in the hardware's order: #UD for an undefined encoding; for a waiting
 *   instruction, host.mathFault() when an unmasked exception is pending (before anything changes,
 *   since the host throws #MF there); operand reads (which may fault); the computation; memory
 *   writes (which may fault, so stores write before they pop, raise flags or move pointers); and
 *   finally the register, status and pointer updates. An unmasked IE, ZE or DE leaves the
 *   destination and TOP unchanged; unmasked OE/UE deliver a rebiased result to registers and
 *   nothing to memory (SDM Vol. 1 §8.5). Compares set their condition codes even when the IE/DE
 *   they raise is unmasked, as real parts do, but then do not pop.
 * - ES (and B, which mirrors it) is kept equal to "some exception flag is set whose mask is clear",
 *   so loading the control word or an environment that unmasks a pending exception makes the next
 *   waiting instruction fault (SDM on FLDCW), and FNSTENV's masking clears it, as on hardware.
 * - The no-wait forms (FNINIT FNCLEX FNSTSW FNSTCW FNSTENV FNSAVE, and FNENI/FNDISI/FNSETPM which a
 *   387 or later ignores) skip the pending-exception check; the control instructions (those plus
 *   FLDCW FLDENV FRSTOR, WAIT, FXSAVE/FXRSTOR) leave FIP/FCS/FOP/FDP/FDS alone. A non-control
 *   instruction without a memory operand leaves FDP/FDS unchanged.
 * - The reserved register-form encodings that real P6 parts execute as aliases are implemented as
 *   such: D9 D8+i and DF D0+i/D8+i (FSTP), DC D0+i (FCOM), DC D8+i and DE D0+i (FCOMP), DD C8+i and
 *   DF C8+i (FXCH), DF C0+i (FFREEP). Everything else undefined is #UD, as is FISTTP (SSE3).
 * - FNSTSW AX needs to write AX, which the host interface as briefed cannot; FpuHost therefore has
 *   one optional addition, setAx().
 */

import {
  add,
  BIAS,
  C0,
  C1,
  C2,
  C3,
  classify,
  compare,
  CMP_EQUAL,
  CMP_GREATER,
  CMP_LESS,
  CMP_UNORDERED,
  Ctx,
  DE,
  div,
  extract,
  F80,
  f80,
  fromBigInt,
  fromBytes,
  fromDouble,
  fromHex,
  fromSingle,
  IE,
  INDEFINITE,
  isNaNClass,
  K_INF,
  K_NORMAL,
  K_SNAN,
  K_UNSUPPORTED,
  K_ZERO,
  LoadResult,
  mul,
  negate,
  OpResult,
  POS_ZERO,
  quiet,
  remainder,
  roundToInt,
  scale,
  SF,
  sqrt,
  toBytes,
  toDouble,
  toHex,
  toInteger,
  toSingle,
  withSign,
} from './fpu-float80.js';
import { atan2, constant, f2xm1, fyl2x, fyl2xp1, trig } from './fpu-transcendental.js';

export interface FpuHost {
  read8(lin: number): number;
  read16(lin: number): number;
  read32(lin: number): number; // linear addresses; may throw
  write8(lin: number, v: number): void;
  write16(lin: number, v: number): void;
  write32(lin: number, v: number): void;
  readonly opsize32: boolean; // operand size of the current instruction (FSTENV/FSAVE/FLDENV/FRSTOR layout)
  readonly realMode: boolean; // real or virtual-8086 mode (real-mode env layout)
  readonly insnCs: number;
  readonly insnEip: number; // CS selector and EIP offset of the current instruction (for FIP/FCS)
  readonly dataSel: number;
  readonly dataOffset: number; // segment selector and offset of the memory operand (for FDP/FDS)
  getEflags(): number;
  setEflags(v: number): void; // for FCOMI*/FUCOMI* (ZF PF CF; OF SF AF cleared) and FCMOVcc
  mathFault(): void; // called by a waiting instruction when ES is set; may throw
  undefinedOpcode(): never; // throws #UD
  /**
   * FNSTSW AX (DF E0) writes AX, which the interface above cannot reach: a host that supports it
   * provides this. Without it, executing DF E0 throws an Error naming the omission.
   */
  setAx?(v: number): void;
}

export interface FpuState {
  version: 1;
  cw: number;
  sw: number;
  tw: number; // full 16-bit tag word (only "empty" vs not is significant on restore)
  fip: number;
  fcs: number;
  fop: number;
  fdp: number;
  fds: number;
  /** Physical registers R0–R7, each as 20 hex digits: sign+exponent (4), significand (16). */
  regs: string[];
}

// Status-word fields beyond the exception flags.
const SW_ES = 0x0080;
const SW_B = 0x8000;
const SW_TOP = 0x3800;
const SW_CC = C0 | C1 | C2 | C3;
const EXC_MASK = 0x3f;

const CW_INIT = 0x037f;
/** Control-word bits that exist (bit 6 is reserved and always reads as 1 on the 387 and later). */
const CW_BITS = 0x1f3f;
const CW_ALWAYS = 0x0040;

// EFLAGS bits used by FCOMI and FCMOVcc.
const CF = 0x001;
const PF = 0x004;
const AF = 0x010;
const ZF = 0x040;
const SFLAG = 0x080;
const OF = 0x800;

const PREC_BY_PC = [24, 64, 53, 64]; // PC = 01 is reserved; P6 parts round to 64 bits there

// Tag values of the full tag word.
const TAG_VALID = 0;
const TAG_ZERO = 1;
const TAG_SPECIAL = 2;
const TAG_EMPTY = 3;

// Integer indefinites and ranges.
const INT16 = { min: -0x8000n, max: 0x7fffn, indefinite: 0x8000n, bytes: 2 };
const INT32 = { min: -0x80000000n, max: 0x7fffffffn, indefinite: 0x80000000n, bytes: 4 };
const INT64 = {
  min: -0x8000000000000000n,
  max: 0x7fffffffffffffffn,
  indefinite: 0x8000000000000000n,
  bytes: 8,
};
type IntFormat = typeof INT16;
const BCD_MAX = 999999999999999999n;

/** Arithmetic operation kinds by ModRM reg field (D8/DC/DA/DE): x op y with x the destination. */
const OP_ADD = 0;
const OP_MUL = 1;
const OP_COM = 2;
const OP_COMP = 3;
const OP_SUB = 4; // x − y
const OP_SUBR = 5; // y − x
const OP_DIV = 6; // x / y
const OP_DIVR = 7; // y / x

export class Fpu {
  /** Control word. */
  cw = CW_INIT;
  /** Status word including TOP; ES and B always equal "an unmasked exception flag is set". */
  sw = 0;
  /** Abridged tag word: bit i set when physical register Ri is not empty. */
  valid = 0;
  /** Physical data registers R0–R7. */
  regs: F80[] = new Array<F80>(8).fill(POS_ZERO);
  /** Last non-control instruction: offset and CS selector, and its opcode (11 bits). */
  fip = 0;
  fcs = 0;
  fop = 0;
  /** Memory operand of the last non-control instruction that had one. */
  fdp = 0;
  fds = 0;

  constructor() {
    this.reset();
  }

  /** FNINIT: the register contents stay, everything else goes to its initial state. */
  reset(): void {
    this.cw = CW_INIT;
    this.sw = 0;
    this.valid = 0;
    this.fip = this.fcs = this.fop = this.fdp = this.fds = 0;
  }

  get errorPending(): boolean {
    return (this.sw & SW_ES) !== 0;
  }

  get top(): number {
    return (this.sw >>> 11) & 7;
  }

  /** ST(i), for inspection. */
  st(i: number): F80 {
    return this.regs[(this.top + i) & 7];
  }

  isEmpty(i: number): boolean {
    return ((this.valid >>> ((this.top + i) & 7)) & 1) === 0;
  }

  /** The full tag word (2 bits per physical register) derived from the contents. */
  get tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) {
      let tag = TAG_EMPTY;
      if ((this.valid >>> p) & 1) {
        const k = classify(this.regs[p]);
        tag = k === K_NORMAL ? TAG_VALID : k === K_ZERO ? TAG_ZERO : TAG_SPECIAL;
      }
      tw |= tag << (2 * p);
    }
    return tw;
  }

  fwait(host: FpuHost): void {
    if (this.sw & SW_ES) host.mathFault();
  }

  // -------------------------------------------------------------------------------------------
  // Stack and status helpers

  private setTop(t: number): void {
    this.sw = (this.sw & ~SW_TOP) | ((t & 7) << 11);
  }

  private setSt(i: number, v: F80): void {
    const p = (this.top + i) & 7;
    this.regs[p] = v;
    this.valid |= 1 << p;
  }

  private push(v: F80): void {
    const t = (this.top - 1) & 7;
    this.setTop(t);
    this.regs[t] = v;
    this.valid |= 1 << t;
  }

  private pop(): void {
    this.valid &= ~(1 << this.top);
    this.setTop(this.top + 1);
  }

  /** The rounding context for the current CW (cached: derived data, rebuilt when CW changes). */
  private ctxCache: Ctx = { rc: 0, prec: 64, masks: EXC_MASK };
  private ctxCw = -1;

  private ctx(): Ctx {
    if (this.ctxCw !== this.cw) {
      this.ctxCw = this.cw;
      this.ctxCache = { rc: (this.cw >>> 10) & 3, prec: PREC_BY_PC[(this.cw >>> 8) & 3], masks: this.cw & EXC_MASK };
    }
    return this.ctxCache;
  }

  private masked(flag: number): boolean {
    return (this.cw & flag) !== 0;
  }

  private updateES(): void {
    if (this.sw & ~this.cw & EXC_MASK) this.sw |= SW_ES | SW_B;
    else this.sw &= ~(SW_ES | SW_B);
  }

  /** Sets exception flags (IE…PE, SF) from an operation's flags. */
  private raise(flags: number): void {
    this.sw |= flags & (EXC_MASK | SF);
    this.updateES();
  }

  /** Writes the condition codes selected by `which` from `bits`. */
  private setCC(which: number, bits: number): void {
    this.sw = (this.sw & ~which) | (bits & which);
  }

  /** Raises an operation's exceptions and sets C1 from its round-up report. */
  private report(flags: number): void {
    this.setCC(C1, flags);
    this.raise(flags);
  }

  /** Stack underflow (an empty register read): IE+SF, C1 = 0. True when IE is masked. */
  private underflow(): boolean {
    this.setCC(C1, 0);
    this.raise(IE | SF);
    return this.masked(IE);
  }

  /** Stack overflow (a push onto a non-empty register): IE+SF, C1 = 1. True when IE is masked. */
  private overflow(): boolean {
    this.setCC(C1, C1);
    this.raise(IE | SF);
    return this.masked(IE);
  }

  /** Pushes v, or handles stack overflow (masked: the indefinite is pushed). */
  private pushChecked(v: F80, flags = 0): void {
    if (!this.isEmpty(7)) {
      if (this.overflow()) this.push(INDEFINITE);
      return;
    }
    this.push(v);
    this.report(flags & ~C1);
  }

  /** Writes an operation's result to ST(dst) (and pops), unless an unmasked exception forbids it. */
  private deliver(r: OpResult, dst: number, popAfter: boolean): void {
    this.report(r.flags);
    if (r.value === null) return;
    this.setSt(dst, r.value);
    if (popAfter) this.pop();
  }

  private notePointers(host: FpuHost, opcode: number, modrm: number, memory: boolean): void {
    this.fip = host.insnEip >>> 0;
    this.fcs = host.insnCs & 0xffff;
    this.fop = ((opcode & 7) << 8) | modrm;
    if (memory) {
      this.fdp = host.dataOffset >>> 0;
      this.fds = host.dataSel & 0xffff;
    }
  }

  private waitCheck(host: FpuHost): void {
    if (this.sw & SW_ES) host.mathFault();
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch

  execute(host: FpuHost, opcode: number, modrm: number, lin: number): void {
    const op = opcode & 7;
    const reg = (modrm >>> 3) & 7;
    if (modrm >>> 6 !== 3) this.execMemory(host, op, reg, modrm, lin >>> 0);
    else this.execRegister(host, op, reg, modrm & 7, modrm);
  }

  private execMemory(host: FpuHost, op: number, reg: number, modrm: number, lin: number): void {
    switch (op) {
      case 0: // D8: real32 arithmetic
        return this.memArith(host, op, modrm, reg, () => fromSingle(host.read32(lin) >>> 0));
      case 1: // D9
        switch (reg) {
          case 0:
            return this.fldMem(host, op, modrm, () => fromSingle(host.read32(lin) >>> 0), true);
          case 2:
          case 3:
            return this.fstReal(host, op, modrm, reg === 3, 4, lin);
          case 4:
            this.waitCheck(host);
            return this.loadEnv(host, lin);
          case 5: {
            this.waitCheck(host);
            const v = host.read16(lin);
            this.cw = (v & CW_BITS) | CW_ALWAYS;
            this.updateES();
            return;
          }
          case 6:
            this.storeEnv(host, lin);
            // FNSTENV then masks all exceptions (so a handler can run FPU code).
            this.cw |= EXC_MASK;
            this.updateES();
            return;
          case 7:
            return host.write16(lin, this.cw);
          default:
            return host.undefinedOpcode();
        }
      case 2: // DA: int32 arithmetic
        return this.memArith(host, op, modrm, reg, () => intOperand(BigInt(host.read32(lin) | 0)));
      case 3: // DB
        switch (reg) {
          case 0:
            return this.fldMem(host, op, modrm, () => intOperand(BigInt(host.read32(lin) | 0)), false);
          case 2:
          case 3:
            return this.fistMem(host, op, modrm, reg === 3, INT32, lin);
          case 5:
            return this.fldMem(host, op, modrm, () => ({ value: read80(host, lin), denormal: false }), false);
          case 7:
            return this.fstp80(host, op, modrm, lin);
          default: // 1 FISTTP (SSE3), 4, 6
            return host.undefinedOpcode();
        }
      case 4: // DC: real64 arithmetic
        return this.memArith(host, op, modrm, reg, () => readDouble(host, lin));
      case 5: // DD
        switch (reg) {
          case 0:
            return this.fldMem(host, op, modrm, () => readDouble(host, lin), true);
          case 2:
          case 3:
            return this.fstReal(host, op, modrm, reg === 3, 8, lin);
          case 4:
            this.waitCheck(host);
            return this.frstor(host, lin);
          case 6:
            return this.fnsave(host, lin);
          case 7:
            return host.write16(lin, this.sw);
          default: // 1 FISTTP (SSE3), 5
            return host.undefinedOpcode();
        }
      case 6: // DE: int16 arithmetic
        return this.memArith(host, op, modrm, reg, () => intOperand(BigInt((host.read16(lin) << 16) >> 16)));
      default: // DF
        switch (reg) {
          case 0:
            return this.fldMem(host, op, modrm, () => intOperand(BigInt((host.read16(lin) << 16) >> 16)), false);
          case 2:
          case 3:
            return this.fistMem(host, op, modrm, reg === 3, INT16, lin);
          case 4:
            return this.fldMem(host, op, modrm, () => readBcd(host, lin), false);
          case 5:
            return this.fldMem(host, op, modrm, () => intOperand(readInt64(host, lin)), false);
          case 6:
            return this.fbstp(host, op, modrm, lin);
          case 7:
            return this.fistMem(host, op, modrm, true, INT64, lin);
          default: // 1 FISTTP (SSE3)
            return host.undefinedOpcode();
        }
    }
  }

  private execRegister(host: FpuHost, op: number, reg: number, i: number, modrm: number): void {
    switch (op) {
      case 0: // D8: ST(0) ← ST(0) op ST(i)
        if (reg === OP_COM || reg === OP_COMP) return this.fcom(host, op, modrm, i, false, reg === OP_COMP ? 1 : 0);
        return this.regArith(host, op, modrm, reg, 0, i, false);
      case 1:
        return this.execD9(host, reg, i, modrm);
      case 2: // DA: FCMOVB/E/BE/U, FUCOMPP
        if (reg < 4) return this.fcmov(host, op, modrm, reg, false, i);
        if (modrm === 0xe9) return this.fcom(host, op, modrm, 1, true, 2);
        return host.undefinedOpcode();
      case 3: // DB: FCMOVNB/NE/NBE/NU, FNCLEX, FNINIT, FUCOMI, FCOMI
        if (reg < 4) return this.fcmov(host, op, modrm, reg, true, i);
        if (reg === 4) {
          switch (i) {
            case 0: // FNENI, FNDISI, FNSETPM: 8087/287 leftovers, no-ops on the 387 and later
            case 1:
            case 4:
              return;
            case 2: // FNCLEX
              this.sw &= ~(EXC_MASK | SF | SW_ES | SW_B);
              return;
            case 3:
              return this.reset();
            default:
              return host.undefinedOpcode();
          }
        }
        if (reg === 5) return this.fcomi(host, op, modrm, i, true, false);
        if (reg === 6) return this.fcomi(host, op, modrm, i, false, false);
        return host.undefinedOpcode();
      case 4: // DC: ST(i) ← ST(i) op ST(0), with SUB/SUBR and DIV/DIVR swapped in the encoding
        if (reg === OP_COM || reg === OP_COMP) return this.fcom(host, op, modrm, i, false, reg === OP_COMP ? 1 : 0);
        return this.regArith(host, op, modrm, reg >= 4 ? reg ^ 1 : reg, i, 0, false);
      case 5: // DD
        switch (reg) {
          case 0:
            return this.ffree(host, op, modrm, i, false);
          case 1:
            return this.fxch(host, op, modrm, i);
          case 2:
          case 3:
            return this.fstReg(host, op, modrm, i, reg === 3);
          case 4:
            return this.fcom(host, op, modrm, i, true, 0);
          case 5:
            return this.fcom(host, op, modrm, i, true, 1);
          default:
            return host.undefinedOpcode();
        }
      case 6: // DE: as DC, then pop
        if (reg === OP_COM) return this.fcom(host, op, modrm, i, false, 1);
        if (reg === OP_COMP) {
          if (i === 1) return this.fcom(host, op, modrm, 1, false, 2);
          return host.undefinedOpcode();
        }
        return this.regArith(host, op, modrm, reg >= 4 ? reg ^ 1 : reg, i, 0, true);
      default: // DF
        switch (reg) {
          case 0:
            return this.ffree(host, op, modrm, i, true);
          case 1:
            return this.fxch(host, op, modrm, i);
          case 2:
          case 3:
            return this.fstReg(host, op, modrm, i, true);
          case 4:
            if (i !== 0) return host.undefinedOpcode();
            if (!host.setAx) throw new Error('FNSTSW AX: the FpuHost does not implement setAx()');
            return host.setAx(this.sw);
          case 5:
            return this.fcomi(host, op, modrm, i, true, true);
          case 6:
            return this.fcomi(host, op, modrm, i, false, true);
          default:
            return host.undefinedOpcode();
        }
    }
  }

  private execD9(host: FpuHost, reg: number, i: number, modrm: number): void {
    const op = 1;
    switch (reg) {
      case 0: // FLD ST(i)
        return this.fldReg(host, modrm, i);
      case 1: // FXCH
        return this.fxch(host, op, modrm, i);
      case 2: // FNOP (D9 D0); D9 D1–D7 undefined
        if (i !== 0) return host.undefinedOpcode();
        this.waitCheck(host);
        this.notePointers(host, op, modrm, false);
        return;
      case 3: // FSTP1 alias
        return this.fstReg(host, op, modrm, i, true);
      case 4:
        switch (i) {
          case 0:
            return this.unary(host, modrm, (x) => ({ value: negate(x), flags: 0 }));
          case 1:
            return this.unary(host, modrm, (x) => ({ value: withSign(x, 0), flags: 0 }));
          case 4:
            return this.ftst(host, modrm);
          case 5:
            return this.fxam(host, modrm);
          default:
            return host.undefinedOpcode();
        }
      case 5: // constants
        if (i === 7) return host.undefinedOpcode();
        this.waitCheck(host);
        this.notePointers(host, op, modrm, false);
        return this.pushChecked(constant(i, this.ctx().rc));
      case 6:
        switch (i) {
          case 0:
            return this.unary(host, modrm, (x, c) => f2xm1(x, c));
          case 1:
            return this.binaryPop(host, modrm, (x, y, c) => fyl2x(x, y, c));
          case 2:
            return this.fptan(host, modrm);
          case 3:
            return this.binaryPop(host, modrm, (x, y, c) => atan2(y, x, c));
          case 4:
            return this.fxtract(host, modrm);
          case 5:
            return this.fprem(host, modrm, true);
          case 6: // FDECSTP
          case 7: // FINCSTP
            this.waitCheck(host);
            this.notePointers(host, op, modrm, false);
            this.setTop(this.top + (i === 6 ? -1 : 1));
            this.setCC(C1, 0);
            return;
        }
        return;
      default:
        switch (i) {
          case 0:
            return this.fprem(host, modrm, false);
          case 1:
            return this.binaryPop(host, modrm, (x, y, c) => fyl2xp1(x, y, c));
          case 2:
            return this.unary(host, modrm, (x, c) => sqrt(x, c));
          case 3:
            return this.fsincos(host, modrm);
          case 4:
            return this.unary(host, modrm, (x, c) => roundToInt(x, c));
          case 5:
            return this.fscale(host, modrm);
          case 6:
          case 7:
            return this.fsinOrCos(host, modrm, i === 6);
        }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Loads and stores

  /** FLD m32/m64/m80, FILD, FBLD: push a converted memory operand. */
  private fldMem(host: FpuHost, op: number, modrm: number, load: () => LoadResult, real: boolean): void {
    this.waitCheck(host);
    const src = load();
    this.notePointers(host, op, modrm, true);
    if (!this.isEmpty(7)) {
      if (this.overflow()) this.push(INDEFINITE);
      return;
    }
    let v = src.value;
    let flags = 0;
    if (real) {
      // Widening single/double: an SNaN raises IE and is quieted; a denormal raises DE.
      // (FLD m80 loads any encoding unchanged and without exceptions.)
      if (classify(v) === K_SNAN) {
        flags = IE;
        v = quiet(v);
      } else if (src.denormal) flags = DE;
      if (flags & ~this.cw & EXC_MASK) {
        this.report(flags);
        return;
      }
    }
    this.push(v);
    this.report(flags);
  }

  private fldReg(host: FpuHost, modrm: number, i: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(i)) {
      // Underflow wins over a full push target: C1 stays 0 (as the host CPU shows), and the
      // masked response pushes the indefinite either way.
      if (this.underflow()) this.push(INDEFINITE);
      return;
    }
    this.pushChecked(this.st(i));
  }

  /** FST/FSTP m32 or m64. */
  private fstReal(host: FpuHost, op: number, modrm: number, popAfter: boolean, bytes: 4 | 8, lin: number): void {
    this.waitCheck(host);
    let bits: bigint | null;
    let flags: number;
    if (this.isEmpty(0)) {
      flags = IE | SF;
      bits = this.masked(IE) ? (bytes === 4 ? 0xffc00000n : 0xfff8000000000000n) : null;
    } else {
      const r = bytes === 4 ? toSingle(this.st(0), this.ctx()) : toDouble(this.st(0), this.ctx());
      bits = r.bits;
      flags = r.flags;
    }
    if (bits !== null) writeInt(host, lin, bits, bytes);
    this.notePointers(host, op, modrm, true);
    this.report(flags);
    if (bits !== null && popAfter) this.pop();
  }

  private fstp80(host: FpuHost, op: number, modrm: number, lin: number): void {
    this.waitCheck(host);
    let v: F80 | null = this.st(0);
    let flags = 0;
    if (this.isEmpty(0)) {
      flags = IE | SF;
      v = this.masked(IE) ? INDEFINITE : null;
    }
    if (v) write80(host, lin, v);
    this.notePointers(host, op, modrm, true);
    this.report(flags);
    if (v) this.pop();
  }

  private fistMem(host: FpuHost, op: number, modrm: number, popAfter: boolean, fmt: IntFormat, lin: number): void {
    this.waitCheck(host);
    let flags: number;
    let v: bigint | null;
    if (this.isEmpty(0)) {
      flags = IE | SF;
      v = null;
    } else {
      const r = toInteger(this.st(0), fmt.min, fmt.max, this.ctx());
      flags = r.flags;
      v = r.value;
    }
    // A masked invalid stores the integer indefinite; an unmasked one stores nothing.
    if (v === null && this.masked(IE)) v = fmt.indefinite;
    if (v !== null) writeInt(host, lin, v, fmt.bytes);
    this.notePointers(host, op, modrm, true);
    this.report(flags);
    if (v !== null && popAfter) this.pop();
  }

  private fbstp(host: FpuHost, op: number, modrm: number, lin: number): void {
    this.waitCheck(host);
    let flags: number;
    let bytes: number[] | null = null;
    if (this.isEmpty(0)) flags = IE | SF;
    else {
      const x = this.st(0);
      const r = toInteger(x, -BCD_MAX, BCD_MAX, this.ctx());
      flags = r.flags;
      if (r.value !== null) bytes = toBcd(r.value, x.sign);
    }
    // Packed BCD indefinite: FF FF C0 00 … 00 (most significant byte first).
    if (bytes === null && this.masked(IE)) bytes = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];
    if (bytes) for (let k = 0; k < 10; k++) host.write8((lin + k) >>> 0, bytes[k]);
    this.notePointers(host, op, modrm, true);
    this.report(flags);
    if (bytes) this.pop();
  }

  /** FST/FSTP ST(i): a plain copy, no rounding and no NaN exceptions. */
  private fstReg(host: FpuHost, op: number, modrm: number, i: number, popAfter: boolean): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    if (this.isEmpty(0)) {
      if (!this.underflow()) return;
      this.setSt(i, INDEFINITE);
    } else {
      this.setSt(i, this.st(0));
      this.setCC(C1, 0);
    }
    if (popAfter) this.pop();
  }

  private fxch(host: FpuHost, op: number, modrm: number, i: number): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    if (this.isEmpty(0) || this.isEmpty(i)) {
      if (!this.underflow()) return;
      // Masked: an empty operand takes part as the indefinite.
      if (this.isEmpty(0)) this.setSt(0, INDEFINITE);
      if (this.isEmpty(i)) this.setSt(i, INDEFINITE);
    } else this.setCC(C1, 0);
    const t = this.st(0);
    this.setSt(0, this.st(i));
    this.setSt(i, t);
  }

  private ffree(host: FpuHost, op: number, modrm: number, i: number, popAfter: boolean): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    this.valid &= ~(1 << ((this.top + i) & 7));
    if (popAfter) this.pop();
  }

  private fcmov(host: FpuHost, op: number, modrm: number, cond: number, negate: boolean, i: number): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    if (this.isEmpty(0) || this.isEmpty(i)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const fl = host.getEflags();
    let take: boolean;
    switch (cond) {
      case 0:
        take = (fl & CF) !== 0; // B
        break;
      case 1:
        take = (fl & ZF) !== 0; // E
        break;
      case 2:
        take = (fl & (CF | ZF)) !== 0; // BE
        break;
      default:
        take = (fl & PF) !== 0; // U
    }
    if (take !== negate) this.setSt(0, this.st(i));
    this.setCC(C1, 0);
  }

  // -------------------------------------------------------------------------------------------
  // Arithmetic

  private binop(kind: number, x: F80, y: F80, memDen: boolean): OpResult {
    const c = this.ctx();
    switch (kind) {
      case OP_ADD:
        return add(x, y, false, c, memDen);
      case OP_MUL:
        return mul(x, y, c, memDen);
      case OP_SUB:
        return add(x, y, true, c, memDen);
      case OP_SUBR:
        return add(y, x, true, c, memDen);
      case OP_DIV:
        return div(x, y, c, memDen);
      case OP_DIVR:
        return div(y, x, c, memDen);
      default:
        throw new Error(`x87: no arithmetic kind ${kind}`);
    }
  }

  private memArith(host: FpuHost, op: number, modrm: number, reg: number, load: () => LoadResult): void {
    this.waitCheck(host);
    const src = load();
    this.notePointers(host, op, modrm, true);
    if (reg === OP_COM || reg === OP_COMP) return this.compareTo(src.value, reg === OP_COMP ? 1 : 0, false, src.denormal);
    if (this.isEmpty(0)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    this.deliver(this.binop(reg, this.st(0), src.value, src.denormal), 0, false);
  }

  /** x = ST(dst), y = ST(src): ST(dst) ← x op y. */
  private regArith(host: FpuHost, op: number, modrm: number, kind: number, dst: number, src: number, popAfter: boolean): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    if (this.isEmpty(dst) || this.isEmpty(src)) {
      if (!this.underflow()) return;
      this.setSt(dst, INDEFINITE);
      if (popAfter) this.pop();
      return;
    }
    this.deliver(this.binop(kind, this.st(dst), this.st(src), false), dst, popAfter);
  }

  /** One-operand instructions on ST(0) (FCHS FABS FSQRT FRNDINT F2XM1). */
  private unary(host: FpuHost, modrm: number, f: (x: F80, c: Ctx) => OpResult): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(0)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    this.deliver(f(this.st(0), this.ctx()), 0, false);
  }

  /** FYL2X, FYL2XP1, FPATAN: ST(1) ← f(ST(0), ST(1)), pop. */
  private binaryPop(host: FpuHost, modrm: number, f: (x: F80, y: F80, c: Ctx) => OpResult): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(0) || this.isEmpty(1)) {
      if (!this.underflow()) return;
      this.setSt(1, INDEFINITE);
      this.pop();
      return;
    }
    const r = f(this.st(0), this.st(1), this.ctx());
    this.deliver(r, 1, true);
  }

  private fscale(host: FpuHost, modrm: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(0) || this.isEmpty(1)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    this.deliver(scale(this.st(0), this.st(1), this.ctx()), 0, false);
  }

  private fprem(host: FpuHost, modrm: number, nearest: boolean): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(0) || this.isEmpty(1)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const r = remainder(this.st(0), this.st(1), nearest, this.ctx());
    // C0, C1, C3 carry the quotient bits and C2 the "incomplete" indication on success.
    if (r.value !== null) this.setCC(SW_CC, r.flags);
    else this.setCC(C1, 0);
    this.raise(r.flags);
    if (r.value !== null) this.setSt(0, r.value);
  }

  private fxtract(host: FpuHost, modrm: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(0)) {
      if (!this.underflow()) return;
      this.setSt(0, INDEFINITE);
      return this.pushChecked(INDEFINITE, IE | SF);
    }
    if (!this.isEmpty(7)) {
      if (!this.overflow()) return;
      this.setSt(0, INDEFINITE);
      this.push(INDEFINITE);
      return;
    }
    const r = extract(this.st(0), this.ctx());
    this.report(r.flags);
    if (r.exponent === null || r.significand === null) return;
    this.setSt(0, r.exponent);
    this.push(r.significand);
  }

  private fptan(host: FpuHost, modrm: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.pushFaults()) return;
    const t = trig(this.st(0), 'tan', this.ctx());
    if (t.outOfRange) {
      this.setCC(C2, C2);
      return;
    }
    const r = t.tan as OpResult;
    this.setCC(C2, 0);
    this.report(r.flags);
    if (r.value === null) return;
    this.setSt(0, r.value);
    // FPTAN pushes 1.0 (ST(1)/ST(0) is then the tangent), or the NaN result again.
    this.push(isNaNClass(classify(r.value)) ? r.value : f80(0, BIAS, 1n << 63n));
  }

  private fsincos(host: FpuHost, modrm: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.pushFaults()) return;
    const t = trig(this.st(0), 'sincos', this.ctx());
    if (t.outOfRange) {
      this.setCC(C2, C2);
      return;
    }
    const s = t.sin as OpResult;
    const c = t.cos as OpResult;
    this.setCC(C2, 0);
    this.report(s.flags | c.flags);
    if (s.value === null || c.value === null) return;
    this.setSt(0, s.value);
    this.push(c.value);
  }

  /**
   * Stack checks of FPTAN/FSINCOS (read ST(0), then push): on a fault the masked response leaves
   * the indefinite in both ST(0) and the pushed register. True when the instruction is done.
   */
  private pushFaults(): boolean {
    if (this.isEmpty(0)) {
      if (this.underflow()) {
        this.setSt(0, INDEFINITE);
        this.pushChecked(INDEFINITE, IE | SF);
      }
      return true;
    }
    if (!this.isEmpty(7)) {
      if (this.overflow()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return true;
    }
    return false;
  }

  private fsinOrCos(host: FpuHost, modrm: number, isSin: boolean): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    if (this.isEmpty(0)) {
      if (this.underflow()) this.setSt(0, INDEFINITE);
      return;
    }
    const t = trig(this.st(0), isSin ? 'sin' : 'cos', this.ctx());
    if (t.outOfRange) {
      this.setCC(C2, C2);
      return;
    }
    this.setCC(C2, 0);
    this.deliver((isSin ? t.sin : t.cos) as OpResult, 0, false);
  }

  // -------------------------------------------------------------------------------------------
  // Comparisons and classification

  /** Sets C3 C2 C0 from a comparison (C1 cleared). */
  private setCompareCC(rel: number): void {
    const cc = rel === CMP_LESS ? C0 : rel === CMP_EQUAL ? C3 : rel === CMP_UNORDERED ? C3 | C2 | C0 : 0;
    this.setCC(SW_CC, cc);
  }

  /** Compare ST(0) with an operand, set the condition codes, pop `pops` times. */
  private compareTo(y: F80, pops: number, quietNaNsOk: boolean, memDen: boolean, yEmpty = false): void {
    if (this.isEmpty(0) || yEmpty) {
      if (!this.underflow()) return;
      this.setCompareCC(CMP_UNORDERED);
    } else {
      const r = compare(this.st(0), y, quietNaNsOk, this.ctx(), memDen);
      this.setCompareCC(r.rel);
      this.raise(r.flags);
      if (r.stop) return;
    }
    for (let k = 0; k < pops; k++) this.pop();
  }

  private fcom(host: FpuHost, op: number, modrm: number, i: number, quietNaNsOk: boolean, pops: number): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    this.compareTo(this.st(i), pops, quietNaNsOk, false, this.isEmpty(i));
  }

  private ftst(host: FpuHost, modrm: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    this.compareTo(POS_ZERO, 0, false, false);
  }

  /** FCOMI/FCOMIP/FUCOMI/FUCOMIP: the result goes to ZF PF CF (OF SF AF cleared). */
  private fcomi(host: FpuHost, op: number, modrm: number, i: number, quietNaNsOk: boolean, popAfter: boolean): void {
    this.waitCheck(host);
    this.notePointers(host, op, modrm, false);
    let rel: number | null;
    let stop = false;
    this.setCC(C1, 0);
    if (this.isEmpty(0) || this.isEmpty(i)) {
      rel = this.underflow() ? CMP_UNORDERED : null;
    } else {
      const r = compare(this.st(0), this.st(i), quietNaNsOk, this.ctx());
      this.raise(r.flags);
      rel = r.rel;
      stop = r.stop;
    }
    if (rel === null) return;
    const bits = rel === CMP_LESS ? CF : rel === CMP_EQUAL ? ZF : rel === CMP_GREATER ? 0 : ZF | PF | CF;
    host.setEflags((host.getEflags() & ~(CF | PF | AF | ZF | SFLAG | OF)) | bits);
    if (popAfter && !stop) this.pop();
  }

  private fxam(host: FpuHost, modrm: number): void {
    this.waitCheck(host);
    this.notePointers(host, 1, modrm, false);
    const x = this.st(0);
    let cc: number;
    if (this.isEmpty(0)) cc = C3 | C0;
    else {
      const k = classify(x);
      if (k === K_UNSUPPORTED) cc = 0;
      else if (isNaNClass(k)) cc = C0;
      else if (k === K_NORMAL) cc = C2;
      else if (k === K_INF) cc = C2 | C0;
      else if (k === K_ZERO) cc = C3;
      else cc = C3 | C2; // K_DENORMAL
    }
    this.setCC(SW_CC, cc | (x.sign ? C1 : 0));
  }

  // -------------------------------------------------------------------------------------------
  // Environment and state images

  /**
   * FNSTENV image (14 or 28 bytes; SDM Vol. 1 Figures 8-9 to 8-12). In real/V86 mode the pointers
   * are stored as 20/32-bit linear addresses with FOP; reserved upper halves read as 1s, as the
   * hardware writes them.
   */
  private storeEnv(host: FpuHost, lin: number): number {
    const fields = this.envFields(host.realMode);
    if (host.opsize32) {
      for (let k = 0; k < 7; k++) host.write32((lin + 4 * k) >>> 0, fields[k] >>> 0);
      return 28;
    }
    for (let k = 0; k < 7; k++) host.write16((lin + 2 * k) >>> 0, fields[k] & 0xffff);
    return 14;
  }

  /** The seven env slots, as 32-bit values (the 16-bit layouts take the low halves). */
  private envFields(realMode: boolean): number[] {
    const hi = 0xffff0000;
    const f = [hi | this.cw, hi | this.sw, hi | this.tagWord];
    if (realMode) {
      const ip = (this.fip + (this.fcs << 4)) >>> 0;
      const dp = (this.fdp + (this.fds << 4)) >>> 0;
      // 16-bit: bits 19..16 of the address in bits 15..12; 32-bit: bits 31..16 in bits 27..12.
      f.push(hi | (ip & 0xffff), ((ip >>> 16) << 12) | this.fop, hi | (dp & 0xffff), (dp >>> 16) << 12);
    } else {
      f.push(this.fip, (this.fop << 16) | this.fcs, this.fdp, hi | this.fds);
    }
    return f;
  }

  private readEnv(host: FpuHost, lin: number): number[] {
    const f: number[] = [];
    for (let k = 0; k < 7; k++) {
      f.push(host.opsize32 ? host.read32((lin + 4 * k) >>> 0) >>> 0 : host.read16((lin + 2 * k) >>> 0) & 0xffff);
    }
    return f;
  }

  private applyEnv(f: number[], realMode: boolean, opsize32: boolean): void {
    this.cw = (f[0] & CW_BITS) | CW_ALWAYS;
    this.sw = f[1] & 0xffff;
    const tw = f[2] & 0xffff;
    this.valid = 0;
    for (let p = 0; p < 8; p++) if (((tw >>> (2 * p)) & 3) !== TAG_EMPTY) this.valid |= 1 << p;
    if (realMode) {
      const upper = opsize32 ? 0xffff : 0xf;
      this.fip = ((f[3] & 0xffff) | (((f[4] >>> 12) & upper) << 16)) >>> 0;
      this.fop = f[4] & 0x7ff;
      this.fcs = 0;
      this.fdp = ((f[5] & 0xffff) | (((f[6] >>> 12) & upper) << 16)) >>> 0;
      this.fds = 0;
    } else {
      this.fip = opsize32 ? f[3] >>> 0 : f[3] & 0xffff;
      this.fcs = f[4] & 0xffff;
      if (opsize32) this.fop = (f[4] >>> 16) & 0x7ff;
      this.fdp = opsize32 ? f[5] >>> 0 : f[5] & 0xffff;
      this.fds = f[6] & 0xffff;
    }
    this.updateES();
  }

  private loadEnv(host: FpuHost, lin: number): void {
    this.applyEnv(this.readEnv(host, lin), host.realMode, host.opsize32);
  }

  private fnsave(host: FpuHost, lin: number): void {
    const size = this.storeEnv(host, lin);
    for (let k = 0; k < 8; k++) write80(host, (lin + size + 10 * k) >>> 0, this.st(k));
    this.reset();
  }

  private frstor(host: FpuHost, lin: number): void {
    const env = this.readEnv(host, lin);
    const size = host.opsize32 ? 28 : 14;
    const regs: F80[] = [];
    for (let k = 0; k < 8; k++) regs.push(read80(host, (lin + size + 10 * k) >>> 0));
    this.applyEnv(env, host.realMode, host.opsize32);
    for (let k = 0; k < 8; k++) this.regs[(this.top + k) & 7] = regs[k];
  }

  /**
   * FXSAVE (512 bytes; SDM Vol. 1 Table 10-2): abridged tag word, FOP, FIP/FCS, FDP/FDS, MXCSR
   * 0x1F80 with MXCSR_MASK 0 (no SSE), ST0–ST7 in 16-byte slots, XMM0–7 as zeros. Bytes 288–511
   * are not written, as on hardware. Does not check for pending exceptions.
   */
  fxsave(host: FpuHost, lin: number): void {
    const at = (k: number): number => (lin + k) >>> 0;
    host.write16(at(0), this.cw);
    host.write16(at(2), this.sw);
    host.write8(at(4), this.valid);
    host.write8(at(5), 0);
    host.write16(at(6), this.fop);
    host.write32(at(8), this.fip);
    host.write32(at(12), this.fcs);
    host.write32(at(16), this.fdp);
    host.write32(at(20), this.fds);
    host.write32(at(24), 0x1f80);
    host.write32(at(28), 0);
    for (let k = 0; k < 8; k++) {
      write80(host, at(32 + 16 * k), this.st(k));
      host.write16(at(42 + 16 * k), 0);
      host.write32(at(44 + 16 * k), 0);
    }
    for (let k = 160; k < 288; k += 4) host.write32(at(k), 0);
  }

  fxrstor(host: FpuHost, lin: number): void {
    const at = (k: number): number => (lin + k) >>> 0;
    const cw = host.read16(at(0));
    const sw = host.read16(at(2));
    const tags = host.read8(at(4)) & 0xff;
    const fop = host.read16(at(6)) & 0x7ff;
    const fip = host.read32(at(8)) >>> 0;
    const fcs = host.read16(at(12)) & 0xffff;
    const fdp = host.read32(at(16)) >>> 0;
    const fds = host.read16(at(20)) & 0xffff;
    const regs: F80[] = [];
    for (let k = 0; k < 8; k++) regs.push(read80(host, at(32 + 16 * k)));
    this.cw = (cw & CW_BITS) | CW_ALWAYS;
    this.sw = sw & 0xffff;
    this.valid = tags;
    Object.assign(this, { fop, fip, fcs, fdp, fds });
    for (let k = 0; k < 8; k++) this.regs[(this.top + k) & 7] = regs[k];
    this.updateES();
  }

  // -------------------------------------------------------------------------------------------
  // Snapshots

  save(): FpuState {
    return {
      version: 1,
      cw: this.cw,
      sw: this.sw,
      tw: this.tagWord,
      fip: this.fip,
      fcs: this.fcs,
      fop: this.fop,
      fdp: this.fdp,
      fds: this.fds,
      regs: this.regs.map(toHex),
    };
  }

  restore(s: FpuState): void {
    const rec = s as unknown as Record<string, unknown>;
    if (typeof rec !== 'object' || rec === null) throw new Error('FPU state: not an object');
    if (rec.version !== 1) throw new Error(`FPU state: unsupported version ${String(rec.version)}`);
    const num = (name: string, max: number): number => {
      const v = rec[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
        throw new Error(`FPU state: field '${name}' must be an integer in 0..${max}, got ${String(v)}`);
      }
      return v;
    };
    const cw = num('cw', 0xffff);
    const sw = num('sw', 0xffff);
    const tw = num('tw', 0xffff);
    const fip = num('fip', 0xffffffff);
    const fcs = num('fcs', 0xffff);
    const fop = num('fop', 0x7ff);
    const fdp = num('fdp', 0xffffffff);
    const fds = num('fds', 0xffff);
    const regs = rec.regs;
    if (!Array.isArray(regs) || regs.length !== 8) throw new Error('FPU state: regs must be an array of 8 values');
    const parsed = regs.map((r, k) => {
      if (typeof r !== 'string') throw new Error(`FPU state: regs[${k}] must be a hex string`);
      return fromHex(r);
    });
    let valid = 0;
    for (let p = 0; p < 8; p++) if (((tw >>> (2 * p)) & 3) !== TAG_EMPTY) valid |= 1 << p;
    this.cw = (cw & CW_BITS) | CW_ALWAYS;
    this.sw = sw;
    this.valid = valid;
    this.regs = parsed;
    Object.assign(this, { fip, fcs, fop, fdp, fds });
    this.updateES();
  }
}

// ---------------------------------------------------------------------------------------------
// Memory helpers

function intOperand(v: bigint): LoadResult {
  return { value: fromBigInt(v), denormal: false };
}

function readDouble(host: FpuHost, lin: number): LoadResult {
  const lo = host.read32(lin) >>> 0;
  const hi = host.read32((lin + 4) >>> 0) >>> 0;
  return fromDouble(hi, lo);
}

function readInt64(host: FpuHost, lin: number): bigint {
  const lo = BigInt(host.read32(lin) >>> 0);
  const hi = BigInt(host.read32((lin + 4) >>> 0) | 0);
  return (hi << 32n) | lo;
}

function read80(host: FpuHost, lin: number): F80 {
  const b = new Uint8Array(10);
  const lo = host.read32(lin) >>> 0;
  const mid = host.read32((lin + 4) >>> 0) >>> 0;
  const se = host.read16((lin + 8) >>> 0) & 0xffff;
  for (let k = 0; k < 4; k++) {
    b[k] = (lo >>> (8 * k)) & 0xff;
    b[4 + k] = (mid >>> (8 * k)) & 0xff;
  }
  b[8] = se & 0xff;
  b[9] = se >>> 8;
  return fromBytes(b, 0);
}

function write80(host: FpuHost, lin: number, v: F80): void {
  const b = new Uint8Array(10);
  toBytes(v, b, 0);
  const dw = (k: number): number => (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
  host.write32(lin, dw(0));
  host.write32((lin + 4) >>> 0, dw(4));
  host.write16((lin + 8) >>> 0, b[8] | (b[9] << 8));
}

/** Writes the low `bytes` bytes of v (two's complement) little-endian. */
function writeInt(host: FpuHost, lin: number, v: bigint, bytes: number): void {
  const u = BigInt.asUintN(64, v);
  if (bytes === 2) host.write16(lin, Number(u & 0xffffn));
  else {
    host.write32(lin, Number(u & 0xffffffffn));
    if (bytes === 8) host.write32((lin + 4) >>> 0, Number(u >> 32n));
  }
}

/** FBLD: 18 BCD digits in bytes 0–8 (least significant first), sign in bit 7 of byte 9. */
function readBcd(host: FpuHost, lin: number): LoadResult {
  let v = 0n;
  for (let k = 8; k >= 0; k--) {
    const b = host.read8((lin + k) >>> 0) & 0xff;
    // Digits above 9 are undefined; they are weighted like the hardware's plain digit arithmetic.
    v = v * 100n + BigInt((b >>> 4) * 10 + (b & 15));
  }
  const sign = (host.read8((lin + 9) >>> 0) >>> 7) & 1;
  return { value: withSign(fromBigInt(v), sign), denormal: false };
}

/** FBSTP image of an integer |v| ≤ 10^18 − 1; the sign comes from the source (−0 stays −0). */
function toBcd(v: bigint, sign: number): number[] {
  let m = v < 0n ? -v : v;
  const out: number[] = [];
  for (let k = 0; k < 9; k++) {
    const lo = Number(m % 10n);
    m /= 10n;
    const hi = Number(m % 10n);
    m /= 10n;
    out.push((hi << 4) | lo);
  }
  out.push(sign ? 0x80 : 0);
  return out;
}
