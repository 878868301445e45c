/**
 * The opcode table: one entry per opcode (one-byte opcodes at their value,
 * 0F-prefixed ones at 0x100 | byte) saying how to decode it and which handler
 * runs it. The handler files (ops/*.ts) fill it in when they are loaded; the
 * decoder, the interpreter and tools that enumerate instructions all read it.
 */
import type { Handler } from './decoder.js';

/** Immediate / displacement operand that follows the ModRM bytes. */
export const enum Imm {
  None,
  /** imm8, zero-extended */
  B,
  /** imm8, sign-extended */
  Bs,
  /** imm16 */
  W,
  /** imm16 or imm32 by operand size */
  V,
  /** imm16 (sign-extended) or imm32 by operand size */
  Vs,
  /** moffs16/32 by address size, into `disp` */
  Moffs,
  /** ptr16:16 / ptr16:32: offset in imm, selector in imm2 */
  FarPtr,
  /** imm16 then imm8 (ENTER) */
  WB,
  /** rel8, turned into the target offset */
  RelB,
  /** rel16/32, turned into the target offset */
  RelV,
}

export interface OpSpec {
  name: string;
  modrm?: boolean;
  imm?: Imm;
  /** Ends the basic block (control transfer, mode or IF change, HLT...). */
  end?: boolean;
  /** String instruction: with a REP prefix it ends the block (it may resume itself). */
  string?: boolean;
  memOnly?: boolean;
  regOnly?: boolean;
  /** LOCK is allowed (with a memory destination). */
  lockable?: boolean;
  h?: Handler;
  h16?: Handler;
  h32?: Handler;
}

/** A plain opcode, or a group opcode whose ModRM reg field picks one of eight. */
export type OpEntry = OpSpec | (OpSpec | undefined)[];

export const OPS: (OpEntry | undefined)[] = new Array<OpEntry | undefined>(0x200).fill(undefined);

export function def(op: number, spec: OpSpec): void {
  if (OPS[op] !== undefined) throw new Error(`opcode 0x${op.toString(16)} defined twice`);
  OPS[op] = spec;
}

/** Define ModRM.reg = `reg` of group opcode `op`; the ModRM byte is implied. */
export function defGroup(op: number, reg: number, spec: OpSpec): void {
  let g = OPS[op];
  if (g === undefined) OPS[op] = g = new Array<OpSpec | undefined>(8).fill(undefined);
  if (!Array.isArray(g)) throw new Error(`opcode 0x${op.toString(16)} is not a group`);
  if (g[reg] !== undefined) throw new Error(`opcode 0x${op.toString(16)} /${reg} defined twice`);
  g[reg] = { ...spec, modrm: true };
}
