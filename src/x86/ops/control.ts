/**
 * Control transfers: Jcc, JMP, CALL, RET (near and far), LOOP/JCXZ, INT n,
 * INT3, INTO, INT1, IRET, BOUND, HLT.
 */
import { BR, CS, GP, IOPL, OF } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';
import { deliverEvent, EventKind, farCall, farJump, farReturn, iret } from '../interrupts.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { readRm } from './operands.js';

/** Near branch to `target` (an offset in CS): outside the CS limit is #GP(0) at the branch. */
export function jumpNear(c: Cpu, target: number): void {
  if ((target >>> 0) > (c.segLimit[CS] >>> 0)) c.gp(0);
  c.eip = target;
}

/**
 * Jcc handlers, one per condition so that each tests only the flags it needs
 * (the generic `cond()` switch costs a tenth of the interpreter's time on
 * branchy code). Odd condition codes are the negations of even ones.
 */
const CONDITIONS: ((c: Cpu) => boolean)[] = [
  (c) => c.of(),
  (c) => c.cf() !== 0,
  (c) => c.zf(),
  (c) => c.cf() !== 0 || c.zf(),
  (c) => c.sf(),
  (c) => c.pf(),
  (c) => c.sf() !== c.of(),
  (c) => c.zf() || c.sf() !== c.of(),
];

function jcc(cc: number): (c: Cpu, i: Insn) => void {
  const test = CONDITIONS[cc >> 1];
  const negate = (cc & 1) !== 0;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a separate function per condition, see above
  const make = new Function('test', 'jumpNear', `return function jcc${cc.toString(16)}(c, i) { if (${negate ? '!' : ''}test(c)) jumpNear(c, i.imm); };`);
  return (make as (t: typeof test, j: typeof jumpNear) => (c: Cpu, i: Insn) => void)(test, jumpNear);
}
for (let cc = 0; cc < 16; cc++) {
  def(0x70 + cc, { name: 'jcc', imm: Imm.RelB, end: true, h: jcc(cc) });
  def(0x180 + cc, { name: 'jcc', imm: Imm.RelV, end: true, h: jcc(cc) });
}

def(0xeb, { name: 'jmp', imm: Imm.RelB, end: true, h: (c, i) => jumpNear(c, i.imm) });
def(0xe9, { name: 'jmp', imm: Imm.RelV, end: true, h: (c, i) => jumpNear(c, i.imm) });
def(0xe8, {
  name: 'call', imm: Imm.RelV, end: true,
  h16: (c, i) => {
    if ((i.imm >>> 0) > (c.segLimit[CS] >>> 0)) c.gp(0);
    c.push16(c.eip);
    c.eip = i.imm;
  },
  h32: (c, i) => {
    if ((i.imm >>> 0) > (c.segLimit[CS] >>> 0)) c.gp(0);
    c.push32(c.eip);
    c.eip = i.imm;
  },
});

defGroup(0xff, 2, {
  name: 'call', end: true,
  h16: (c, i) => {
    const t = readRm(c, i, 2);
    if (t > (c.segLimit[CS] >>> 0)) c.gp(0);
    c.push16(c.eip);
    c.eip = t;
  },
  h32: (c, i) => {
    const t = readRm(c, i, 4);
    if ((t >>> 0) > (c.segLimit[CS] >>> 0)) c.gp(0);
    c.push32(c.eip);
    c.eip = t;
  },
});
defGroup(0xff, 4, {
  name: 'jmp', end: true,
  h16: (c, i) => jumpNear(c, readRm(c, i, 2)),
  h32: (c, i) => jumpNear(c, readRm(c, i, 4)),
});

/** Far pointer from memory: offset (2 or 4 bytes) then selector. */
function farPointer(c: Cpu, i: Insn, size: 2 | 4): [number, number] {
  const lin = c.lin(i.seg, ea(c, i), size + 2, false);
  const off = size === 4 ? c.rd32(lin) : c.rd16(lin);
  return [off, c.rd16((lin + size) | 0)];
}
defGroup(0xff, 3, {
  name: 'callf', end: true, memOnly: true,
  h16: (c, i) => { const [off, sel] = farPointer(c, i, 2); farCall(c, sel, off, false); },
  h32: (c, i) => { const [off, sel] = farPointer(c, i, 4); farCall(c, sel, off, true); },
});
defGroup(0xff, 5, {
  name: 'jmpf', end: true, memOnly: true,
  h16: (c, i) => { const [off, sel] = farPointer(c, i, 2); farJump(c, sel, off, false); },
  h32: (c, i) => { const [off, sel] = farPointer(c, i, 4); farJump(c, sel, off, true); },
});
def(0x9a, {
  name: 'callf', imm: Imm.FarPtr, end: true,
  h16: (c, i) => farCall(c, i.imm2, i.imm, false),
  h32: (c, i) => farCall(c, i.imm2, i.imm, true),
});
def(0xea, {
  name: 'jmpf', imm: Imm.FarPtr, end: true,
  h16: (c, i) => farJump(c, i.imm2, i.imm, false),
  h32: (c, i) => farJump(c, i.imm2, i.imm, true),
});

function retNear(size: 2 | 4, popImm: boolean) {
  return (c: Cpu, i: Insn): void => {
    const t = size === 4 ? c.peek32(0) : c.peek16(0);
    if ((t >>> 0) > (c.segLimit[CS] >>> 0)) c.gp(0);
    c.adjustSp(size + (popImm ? i.imm : 0));
    c.eip = t;
  };
}
def(0xc3, { name: 'ret', end: true, h16: retNear(2, false), h32: retNear(4, false) });
def(0xc2, { name: 'ret', imm: Imm.W, end: true, h16: retNear(2, true), h32: retNear(4, true) });
def(0xcb, { name: 'retf', end: true, h16: (c) => farReturn(c, false, 0), h32: (c) => farReturn(c, true, 0) });
def(0xca, { name: 'retf', imm: Imm.W, end: true, h16: (c, i) => farReturn(c, false, i.imm), h32: (c, i) => farReturn(c, true, i.imm) });

// LOOP / LOOPE / LOOPNE / JCXZ: the count register is CX or ECX by address size.
function loop(kind: number) {
  return (c: Cpu, i: Insn): void => {
    let n: number;
    if (i.a32) n = c.regs[1] = (c.regs[1] - 1) | 0;
    else n = c.regs16[2] = (c.regs16[2] - 1) & 0xffff;
    const go = n !== 0 && (kind === 2 || (kind === 1 ? c.zf() : !c.zf()));
    if (go) jumpNear(c, i.imm);
  };
}
def(0xe0, { name: 'loopne', imm: Imm.RelB, end: true, h: loop(0) });
def(0xe1, { name: 'loope', imm: Imm.RelB, end: true, h: loop(1) });
def(0xe2, { name: 'loop', imm: Imm.RelB, end: true, h: loop(2) });
def(0xe3, {
  name: 'jcxz', imm: Imm.RelB, end: true,
  h: (c, i) => {
    if ((i.a32 ? c.regs[1] : c.regs16[2]) === 0) jumpNear(c, i.imm);
  },
});

// Software interrupts: EIP is already the next instruction, the return address.
def(0xcd, {
  name: 'int', imm: Imm.B, end: true,
  h: (c, i) => {
    if (c.v86Mode && (c.flags & IOPL) !== IOPL) c.gp(0);
    deliverEvent(c, i.imm, -1, EventKind.SoftwareInt);
  },
});
def(0xcc, { name: 'int3', end: true, h: (c) => deliverEvent(c, 3, -1, EventKind.SoftwareException) });
def(0xce, {
  name: 'into', end: true,
  h: (c) => {
    if (c.getEflags() & OF) deliverEvent(c, 4, -1, EventKind.SoftwareException);
  },
});
def(0xf1, { name: 'int1', end: true, h: (c) => deliverEvent(c, 1, -1, EventKind.Icebp) });
def(0xcf, { name: 'iret', end: true, h16: (c) => iret(c, false), h32: (c) => iret(c, true) });

def(0x62, {
  name: 'bound', modrm: true, memOnly: true,
  h16: (c, i) => {
    const lin = c.lin(i.seg, ea(c, i), 4, false);
    const lo = (c.rd16(lin) << 16) >> 16, hi = (c.rd16((lin + 2) | 0) << 16) >> 16;
    const v = (c.regs16[i.reg << 1] << 16) >> 16;
    if (v < lo || v > hi) c.raise(BR);
  },
  h32: (c, i) => {
    const lin = c.lin(i.seg, ea(c, i), 8, false);
    const lo = c.rd32(lin), hi = c.rd32((lin + 4) | 0);
    const v = c.regs[i.reg];
    if (v < lo || v > hi) c.raise(BR);
  },
});

def(0xf4, {
  name: 'hlt', end: true,
  h: (c) => {
    if (c.cpl !== 0) c.raise(GP, 0);
    c.halted = true;
  },
});
