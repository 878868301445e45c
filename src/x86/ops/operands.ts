/**
 * Operand access shared by the handlers: register and r/m operands of 1, 2 or
 * 4 bytes. `size` is always a constant of the calling handler, so the size
 * switches are predictable.
 */
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';

export type Size = 1 | 2 | 4;

/** Sign-bit index per operand size, as the lazy flags want it. */
export function topOf(size: Size): number {
  return size * 8 - 1;
}

export function maskOf(size: Size): number {
  return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
}

/** The ModRM reg operand. */
export function getReg(c: Cpu, i: Insn, size: Size): number {
  return size === 4 ? c.regs[i.reg] : size === 2 ? c.regs16[i.reg << 1] : c.regs8[i.reg8];
}

export function setReg(c: Cpu, i: Insn, size: Size, v: number): void {
  if (size === 4) c.regs[i.reg] = v;
  else if (size === 2) c.regs16[i.reg << 1] = v;
  else c.regs8[i.reg8] = v;
}

/** The ModRM r/m operand when it is a register (mod == 3). */
export function getRmReg(c: Cpu, i: Insn, size: Size): number {
  return size === 4 ? c.regs[i.rm] : size === 2 ? c.regs16[i.rm << 1] : c.regs8[i.rm8];
}

export function setRmReg(c: Cpu, i: Insn, size: Size, v: number): void {
  if (size === 4) c.regs[i.rm] = v;
  else if (size === 2) c.regs16[i.rm << 1] = v;
  else c.regs8[i.rm8] = v;
}

export function rdLin(c: Cpu, lin: number, size: Size): number {
  return size === 4 ? c.rd32(lin) : size === 2 ? c.rd16(lin) : c.rd8(lin);
}

export function wrLin(c: Cpu, lin: number, size: Size, v: number): void {
  if (size === 4) c.wr32(lin, v);
  else if (size === 2) c.wr16(lin, v);
  else c.wr8(lin, v);
}

/** Linear address of a read-modify-write memory operand, writability checked up front. */
export function rmwLin(c: Cpu, i: Insn, size: number): number {
  return c.rmw(i.seg, ea(c, i), size);
}

export function readRm(c: Cpu, i: Insn, size: Size): number {
  if (i.mod === 3) return getRmReg(c, i, size);
  return rdLin(c, c.lin(i.seg, ea(c, i), size, false), size);
}

export function writeRm(c: Cpu, i: Insn, size: Size, v: number): void {
  if (i.mod === 3) setRmReg(c, i, size, v);
  else wrLin(c, c.lin(i.seg, ea(c, i), size, true), size, v);
}
