/**
 * Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP in all their
 * encodings (00-3F, 80-83), TEST, INC, DEC, NOT, NEG.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { getRmReg, getReg, maskOf, rdLin, memLin, setReg, setRmReg, Size, topOf, wrLin, readRm } from './operands.js';

const NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const CMP = 7;

/** Compute `a op b`, record the flags, and return the result (masked to the operand size). */
export function alu(c: Cpu, op: number, size: Size, a: number, b: number): number {
  const top = topOf(size), mask = maskOf(size);
  let r: number;
  switch (op) {
    case 0: r = (a + b) & mask; c.setArith(top, 0, a, b, r); return r;
    case 1: r = (a | b) & mask; c.setLogic(top, r); return r;
    case 2: r = (a + b + c.cf()) & mask; c.setArith(top, 0, a, b, r); return r;
    case 3: r = (a - b - c.cf()) & mask; c.setArith(top, 1, a, b, r); return r;
    case 4: r = a & b & mask; c.setLogic(top, r); return r;
    case 5: r = (a - b) & mask; c.setArith(top, 1, a, b, r); return r;
    case 6: r = (a ^ b) & mask; c.setLogic(top, r); return r;
    default: r = (a - b) & mask; c.setArith(top, 1, a, b, r); return r;
  }
}

/** op r/m, reg */
function formEG(op: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const b = getReg(c, i, size);
    if (i.mod === 3) {
      const r = alu(c, op, size, getRmReg(c, i, size), b);
      if (op !== CMP) setRmReg(c, i, size, r);
    } else {
      const lin = memLin(c, i, size, op !== CMP);
      const r = alu(c, op, size, rdLin(c, lin, size), b);
      if (op !== CMP) wrLin(c, lin, size, r);
    }
  };
}

/** op reg, r/m */
function formGE(op: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const r = alu(c, op, size, getReg(c, i, size), readRm(c, i, size));
    if (op !== CMP) setReg(c, i, size, r);
  };
}

/** op r/m, imm */
function formEI(op: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    if (i.mod === 3) {
      const r = alu(c, op, size, getRmReg(c, i, size), i.imm);
      if (op !== CMP) setRmReg(c, i, size, r);
    } else {
      const lin = memLin(c, i, size, op !== CMP);
      const r = alu(c, op, size, rdLin(c, lin, size), i.imm);
      if (op !== CMP) wrLin(c, lin, size, r);
    }
  };
}

/** op AL/AX/EAX, imm */
function formAI(op: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const a = size === 4 ? c.regs[0] : size === 2 ? c.regs16[0] : c.regs8[0];
    const r = alu(c, op, size, a, i.imm);
    if (op === CMP) return;
    if (size === 4) c.regs[0] = r;
    else if (size === 2) c.regs16[0] = r;
    else c.regs8[0] = r;
  };
}

for (let op = 0; op < 8; op++) {
  const base = op << 3;
  const name = NAMES[op];
  const lockable = op !== CMP;
  def(base + 0, { name, modrm: true, lockable, h: formEG(op, 1) });
  def(base + 1, { name, modrm: true, lockable, h16: formEG(op, 2), h32: formEG(op, 4) });
  def(base + 2, { name, modrm: true, h: formGE(op, 1) });
  def(base + 3, { name, modrm: true, h16: formGE(op, 2), h32: formGE(op, 4) });
  def(base + 4, { name, imm: Imm.B, h: formAI(op, 1) });
  def(base + 5, { name, imm: Imm.V, h16: formAI(op, 2), h32: formAI(op, 4) });
  defGroup(0x80, op, { name, imm: Imm.B, lockable, h: formEI(op, 1) });
  defGroup(0x81, op, { name, imm: Imm.V, lockable, h16: formEI(op, 2), h32: formEI(op, 4) });
  defGroup(0x82, op, { name, imm: Imm.B, lockable, h: formEI(op, 1) });
  defGroup(0x83, op, { name, imm: Imm.Bs, lockable, h16: formEI(op, 2), h32: formEI(op, 4) });
}

// TEST
function testEG(size: Size) {
  return (c: Cpu, i: Insn): void => {
    c.setLogic(topOf(size), readRm(c, i, size) & getReg(c, i, size) & maskOf(size));
  };
}
function testEI(size: Size) {
  return (c: Cpu, i: Insn): void => {
    c.setLogic(topOf(size), readRm(c, i, size) & i.imm & maskOf(size));
  };
}
def(0x84, { name: 'test', modrm: true, h: testEG(1) });
def(0x85, { name: 'test', modrm: true, h16: testEG(2), h32: testEG(4) });
def(0xa8, { name: 'test', imm: Imm.B, h: (c, i) => c.setLogic(7, c.regs8[0] & i.imm) });
def(0xa9, {
  name: 'test', imm: Imm.V,
  h16: (c, i) => c.setLogic(15, c.regs16[0] & i.imm),
  h32: (c, i) => c.setLogic(31, c.regs[0] & i.imm),
});

// INC / DEC
function incDecRm(size: Size, sub: number) {
  return (c: Cpu, i: Insn): void => {
    const top = topOf(size), mask = maskOf(size);
    if (i.mod === 3) {
      const a = getRmReg(c, i, size);
      const r = (sub ? a - 1 : a + 1) & mask;
      c.setIncDec(top, sub, a, r);
      setRmReg(c, i, size, r);
    } else {
      const lin = memLin(c, i, size, true);
      const a = rdLin(c, lin, size);
      const r = (sub ? a - 1 : a + 1) & mask;
      wrLin(c, lin, size, r);
      c.setIncDec(top, sub, a, r);
    }
  };
}
for (let r = 0; r < 8; r++) {
  def(0x40 + r, {
    name: 'inc',
    h16: (c) => { const a = c.regs16[r << 1]; const v = (a + 1) & 0xffff; c.setIncDec(15, 0, a, v); c.regs16[r << 1] = v; },
    h32: (c) => { const a = c.regs[r]; const v = (a + 1) | 0; c.setIncDec(31, 0, a, v); c.regs[r] = v; },
  });
  def(0x48 + r, {
    name: 'dec',
    h16: (c) => { const a = c.regs16[r << 1]; const v = (a - 1) & 0xffff; c.setIncDec(15, 1, a, v); c.regs16[r << 1] = v; },
    h32: (c) => { const a = c.regs[r]; const v = (a - 1) | 0; c.setIncDec(31, 1, a, v); c.regs[r] = v; },
  });
}
defGroup(0xfe, 0, { name: 'inc', lockable: true, h: incDecRm(1, 0) });
defGroup(0xfe, 1, { name: 'dec', lockable: true, h: incDecRm(1, 1) });
defGroup(0xff, 0, { name: 'inc', lockable: true, h16: incDecRm(2, 0), h32: incDecRm(4, 0) });
defGroup(0xff, 1, { name: 'dec', lockable: true, h16: incDecRm(2, 1), h32: incDecRm(4, 1) });

// NOT / NEG
function notRm(size: Size) {
  return (c: Cpu, i: Insn): void => {
    if (i.mod === 3) setRmReg(c, i, size, ~getRmReg(c, i, size));
    else {
      const lin = memLin(c, i, size, true);
      wrLin(c, lin, size, ~rdLin(c, lin, size));
    }
  };
}
function negRm(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const mask = maskOf(size);
    if (i.mod === 3) {
      const b = getRmReg(c, i, size);
      const r = -b & mask;
      c.setArith(topOf(size), 1, 0, b, r);
      setRmReg(c, i, size, r);
    } else {
      const lin = memLin(c, i, size, true);
      const b = rdLin(c, lin, size);
      const r = -b & mask;
      wrLin(c, lin, size, r);
      c.setArith(topOf(size), 1, 0, b, r);
    }
  };
}
defGroup(0xf6, 0, { name: 'test', imm: Imm.B, h: testEI(1) });
defGroup(0xf6, 1, { name: 'test', imm: Imm.B, h: testEI(1) });
defGroup(0xf6, 2, { name: 'not', lockable: true, h: notRm(1) });
defGroup(0xf6, 3, { name: 'neg', lockable: true, h: negRm(1) });
defGroup(0xf7, 0, { name: 'test', imm: Imm.V, h16: testEI(2), h32: testEI(4) });
defGroup(0xf7, 1, { name: 'test', imm: Imm.V, h16: testEI(2), h32: testEI(4) });
defGroup(0xf7, 2, { name: 'not', lockable: true, h16: notRm(2), h32: notRm(4) });
defGroup(0xf7, 3, { name: 'neg', lockable: true, h16: negRm(2), h32: negRm(4) });
