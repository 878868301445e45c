/** Port I/O: IN and OUT, with the protected-mode permission check (IOPL, then the TSS I/O bitmap). */
import { IOPL } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { checkIoPermission } from '../interrupts.js';
import { def, Imm } from '../opcodes.js';
import type { Size } from './operands.js';

/** #GP(0) unless the current privilege may touch ports port..port+size-1. */
export function checkIo(c: Cpu, port: number, size: number): void {
  if (c.protectedMode && (c.v86Mode || c.cpl > (c.flags & IOPL) >> 12)) checkIoPermission(c, port, size);
}

function inPort(c: Cpu, port: number, size: Size): void {
  checkIo(c, port, size);
  const v = c.bus.ioRead(port, size);
  if (size === 4) c.regs[0] = v;
  else if (size === 2) c.regs16[0] = v;
  else c.regs8[0] = v;
}

function outPort(c: Cpu, port: number, size: Size): void {
  checkIo(c, port, size);
  const v = size === 4 ? c.regs[0] >>> 0 : size === 2 ? c.regs16[0] : c.regs8[0];
  c.bus.ioWrite(port, size, v);
}

// Port I/O ends the block: a device may raise an interrupt or stop the machine.
def(0xe4, { name: 'in', imm: Imm.B, end: true, h: (c, i) => inPort(c, i.imm, 1) });
def(0xe5, { name: 'in', imm: Imm.B, end: true, h16: (c, i) => inPort(c, i.imm, 2), h32: (c, i) => inPort(c, i.imm, 4) });
def(0xe6, { name: 'out', imm: Imm.B, end: true, h: (c, i) => outPort(c, i.imm, 1) });
def(0xe7, { name: 'out', imm: Imm.B, end: true, h16: (c, i) => outPort(c, i.imm, 2), h32: (c, i) => outPort(c, i.imm, 4) });
def(0xec, { name: 'in', end: true, h: (c) => inPort(c, c.regs16[4], 1) });
def(0xed, { name: 'in', end: true, h16: (c) => inPort(c, c.regs16[4], 2), h32: (c) => inPort(c, c.regs16[4], 4) });
def(0xee, { name: 'out', end: true, h: (c) => outPort(c, c.regs16[4], 1) });
def(0xef, { name: 'out', end: true, h16: (c) => outPort(c, c.regs16[4], 2), h32: (c) => outPort(c, c.regs16[4], 4) });
