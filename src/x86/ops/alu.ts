/**
 * Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP in all their
 * encodings (00-3F, 80-83), TEST, INC, DEC, NOT, NEG.
 */
import type { Cpu } from '../cpu.js';
import { AF, ARITH_FLAGS, CF, OF, PF, SF, ZF } from '../constants.js';
import { ea, Handler, Insn } from '../decoder.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { getRmReg, getReg, maskOf, rdLin, rmwLin, setRmReg, Size, topOf, wrLin, readRm } from './operands.js';

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

/*
 * The handlers of the eight operations in their four encodings and three
 * sizes are generated from one template, so that each is a separate function
 * with the operation and size folded in: these are the most frequent
 * instructions, and a shared handler dispatching on the operation at run time
 * costs a quarter of the interpreter's time.
 */
type Form = 'EG' | 'GE' | 'EI' | 'AI';

const EXPR = ['(a + b)', '(a | b)', '(a + b + c.cf())', '(a - b - c.cf())', '(a & b)', '(a - b)', '(a ^ b)', '(a - b)'];
const LOGIC = [false, true, false, false, true, false, true, false];
const SUB = [0, 0, 0, 1, 0, 1, 0, 1];

function regExpr(size: Size, which: 'reg' | 'rm'): string {
  if (size === 4) return `c.regs[i.${which}]`;
  if (size === 2) return `c.regs16[i.${which} << 1]`;
  return `c.regs8[i.${which}8]`;
}

function generate(op: number, form: Form, size: Size): Handler {
  const mask = size === 4 ? '| 0' : `& ${maskOf(size)}`;
  const top = topOf(size);
  const flags = LOGIC[op]
    ? `c.flags &= ${~(CF | OF | AF)}; c.lazyTop = ${top}; c.lazyRes = r; c.lazyMask = ${ZF | SF | PF};`
    : `c.lazyTop = ${top}; c.lazySub = ${SUB[op]}; c.lazyA = a; c.lazyB = b; c.lazyRes = r; c.lazyMask = ${ARITH_FLAGS};`;
  const compute = `const r = ${EXPR[op]} ${mask};`;
  const store = op !== CMP;
  const rd = size === 4 ? 'rd32' : size === 2 ? 'rd16' : 'rd8';
  const wr = size === 4 ? 'wr32' : size === 2 ? 'wr16' : 'wr8';
  const acc = size === 4 ? 'c.regs[0]' : size === 2 ? 'c.regs16[0]' : 'c.regs8[0]';
  let body: string;
  switch (form) {
    case 'EG':
    case 'EI': {
      const src = form === 'EG' ? regExpr(size, 'reg') : 'i.imm';
      const memLin = store ? `c.rmw(i.seg, ea(c, i), ${size})` : `c.lin(i.seg, ea(c, i), ${size}, false)`;
      body = `const b = ${src};
        if (i.mod === 3) { const a = ${regExpr(size, 'rm')}; ${compute} ${flags} ${store ? `${regExpr(size, 'rm')} = r;` : ''} }
        else { const lin = ${memLin}; const a = c.${rd}(lin); ${compute} ${store ? `c.${wr}(lin, r);` : ''} ${flags} }`;
      break;
    }
    case 'GE':
      body = `const a = ${regExpr(size, 'reg')};
        const b = i.mod === 3 ? ${regExpr(size, 'rm')} : c.${rd}(c.lin(i.seg, ea(c, i), ${size}, false));
        ${compute} ${flags} ${store ? `${regExpr(size, 'reg')} = r;` : ''}`;
      break;
    default:
      body = `const a = ${acc}; const b = i.imm; ${compute} ${flags} ${store ? `${acc} = r;` : ''}`;
  }
  const name = `${NAMES[op]}_${form}${size * 8}`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- handler specialization from a template, see above
  const make = new Function('ea', `return function ${name}(c, i) { ${body} };`) as (e: typeof ea) => Handler;
  return make(ea);
}

for (let op = 0; op < 8; op++) {
  const base = op << 3;
  const name = NAMES[op];
  const lockable = op !== CMP;
  def(base + 0, { name, modrm: true, lockable, h: generate(op, 'EG', 1) });
  def(base + 1, { name, modrm: true, lockable, h16: generate(op, 'EG', 2), h32: generate(op, 'EG', 4) });
  def(base + 2, { name, modrm: true, h: generate(op, 'GE', 1) });
  def(base + 3, { name, modrm: true, h16: generate(op, 'GE', 2), h32: generate(op, 'GE', 4) });
  def(base + 4, { name, imm: Imm.B, h: generate(op, 'AI', 1) });
  def(base + 5, { name, imm: Imm.V, h16: generate(op, 'AI', 2), h32: generate(op, 'AI', 4) });
  defGroup(0x80, op, { name, imm: Imm.B, lockable, h: generate(op, 'EI', 1) });
  defGroup(0x81, op, { name, imm: Imm.V, lockable, h16: generate(op, 'EI', 2), h32: generate(op, 'EI', 4) });
  defGroup(0x82, op, { name, imm: Imm.B, lockable, h: generate(op, 'EI', 1) });
  defGroup(0x83, op, { name, imm: Imm.Bs, lockable, h16: generate(op, 'EI', 2), h32: generate(op, 'EI', 4) });
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
      const lin = rmwLin(c, i, size);
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
      const lin = rmwLin(c, i, size);
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
      const lin = rmwLin(c, i, size);
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
