/**
 * Stack instructions: PUSH/POP of registers, segment registers, immediates
 * and memory; PUSHA/POPA; PUSHF/POPF with their privilege rules; ENTER/LEAVE.
 */
import { CS, ES, FS, GS, IF, IOPL, RF, SS, DS, VIF, VIP, VM, EBP, ESP } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';
import { loadSegment } from '../descriptors.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { readRm } from './operands.js';

for (let r = 0; r < 8; r++) {
  def(0x50 + r, {
    name: 'push',
    h16: (c) => c.push16(c.regs16[r << 1]),
    h32: (c) => c.push32(c.regs[r]),
  });
  def(0x58 + r, {
    name: 'pop',
    h16: (c) => { const v = c.pop16(); c.regs16[r << 1] = v; },
    h32: (c) => { const v = c.pop32(); c.regs[r] = v; },
  });
}

def(0x68, { name: 'push', imm: Imm.V, h16: (c, i) => c.push16(i.imm), h32: (c, i) => c.push32(i.imm) });
def(0x6a, { name: 'push', imm: Imm.Bs, h16: (c, i) => c.push16(i.imm), h32: (c, i) => c.push32(i.imm) });
defGroup(0xff, 6, {
  name: 'push',
  h16: (c, i) => c.push16(readRm(c, i, 2)),
  h32: (c, i) => c.push32(readRm(c, i, 4)),
});

/** POP r/m: the address is computed with ESP already incremented. */
defGroup(0x8f, 0, {
  name: 'pop',
  h16: (c: Cpu, i: Insn) => popRm(c, i, 2),
  h32: (c: Cpu, i: Insn) => popRm(c, i, 4),
});
function popRm(c: Cpu, i: Insn, size: 2 | 4): void {
  const v = size === 4 ? c.peek32(0) : c.peek16(0);
  const oldSp = c.regs[ESP];
  c.adjustSp(size);
  try {
    if (i.mod === 3) {
      if (size === 4) c.regs[i.rm] = v;
      else c.regs16[i.rm << 1] = v;
    } else if (size === 4) {
      c.wrSeg32(i.seg, ea(c, i), v);
    } else {
      c.wrSeg16(i.seg, ea(c, i), v);
    }
  } catch (e) {
    c.regs[ESP] = oldSp;
    throw e;
  }
}

/** PUSH Sreg with a 32-bit operand writes only the low word of the new slot, as the P6 does. */
function pushSeg(seg: number) {
  return {
    h16: (c: Cpu) => c.push16(c.segSel[seg]),
    h32: (c: Cpu) => {
      const sp = (c.regs[ESP] - 4) & c.spMask;
      c.wrSeg16(SS, sp, c.segSel[seg]);
      c.lin(SS, sp, 4, true);
      c.adjustSp(-4);
    },
  };
}
function popSeg(seg: number) {
  return {
    h16: (c: Cpu) => { loadSegment(c, seg, c.peek16(0)); c.adjustSp(2); if (seg === SS) c.inhibitIrq = true; },
    h32: (c: Cpu) => { loadSegment(c, seg, c.peek32(0) & 0xffff); c.adjustSp(4); if (seg === SS) c.inhibitIrq = true; },
  };
}
def(0x06, { name: 'push', ...pushSeg(ES) });
def(0x0e, { name: 'push', ...pushSeg(CS) });
def(0x16, { name: 'push', ...pushSeg(SS) });
def(0x1e, { name: 'push', ...pushSeg(DS) });
def(0x1a0, { name: 'push', ...pushSeg(FS) });
def(0x1a8, { name: 'push', ...pushSeg(GS) });
def(0x07, { name: 'pop', end: true, ...popSeg(ES) });
def(0x17, { name: 'pop', end: true, ...popSeg(SS) });
def(0x1f, { name: 'pop', end: true, ...popSeg(DS) });
def(0x1a1, { name: 'pop', end: true, ...popSeg(FS) });
def(0x1a9, { name: 'pop', end: true, ...popSeg(GS) });

def(0x60, {
  name: 'pusha',
  h16: (c) => {
    const sp = c.regs16[ESP << 1];
    checkStack(c, -16, 16);
    for (let r = 0; r < 8; r++) c.push16(r === ESP ? sp : c.regs16[r << 1]);
  },
  h32: (c) => {
    const sp = c.regs[ESP];
    checkStack(c, -32, 32);
    for (let r = 0; r < 8; r++) c.push32(r === ESP ? sp : c.regs[r]);
  },
});
def(0x61, {
  name: 'popa',
  h16: (c) => {
    const v: number[] = [];
    for (let k = 0; k < 8; k++) v.push(c.peek16(k * 2));
    for (let r = 7; r >= 0; r--) if (r !== ESP) c.regs16[r << 1] = v[7 - r];
    c.adjustSp(16);
  },
  h32: (c) => {
    const v: number[] = [];
    for (let k = 0; k < 8; k++) v.push(c.peek32(k * 4));
    for (let r = 7; r >= 0; r--) if (r !== ESP) c.regs[r] = v[7 - r];
    c.adjustSp(32);
  },
});

/** Make sure `size` bytes at ESP+delta are writable before a multi-push commits anything. */
function checkStack(c: Cpu, delta: number, size: number): void {
  const off = (c.regs[ESP] + delta) & c.spMask;
  const lin = c.lin(SS, off, size, true);
  c.translate(lin, 1);
  c.translate((lin + size - 1) | 0, 1);
}

// PUSHF / POPF
def(0x9c, {
  name: 'pushf',
  h16: (c) => {
    if (c.v86Mode && (c.flags & IOPL) !== IOPL) c.gp(0);
    c.push16(c.getEflags());
  },
  h32: (c) => {
    if (c.v86Mode && (c.flags & IOPL) !== IOPL) c.gp(0);
    c.push32(c.getEflags() & ~(VM | RF));
  },
});

/** The EFLAGS image POPF/IRET may write at the current privilege (SDM vol. 2, POPF). */
export function popfMerge(c: Cpu, v: number, o32: boolean): number {
  const old = c.getEflags();
  let writable = 0x3f7fd5 & ~(VM | RF | VIF | VIP);
  if (!o32) writable &= 0xffff;
  if (c.protectedMode) {
    const iopl = (old & IOPL) >> 12;
    if (c.v86Mode) writable &= ~IOPL;
    else if (c.cpl > 0) writable &= ~IOPL;
    if (!c.v86Mode && c.cpl > iopl) writable &= ~IF;
  }
  return (old & ~writable) | (v & writable);
}

def(0x9d, {
  name: 'popf', end: true,
  h16: (c) => {
    if (c.v86Mode && (c.flags & IOPL) !== IOPL) c.gp(0);
    const v = c.peek16(0);
    c.adjustSp(2);
    c.setEflags(popfMerge(c, v, false));
  },
  h32: (c) => {
    if (c.v86Mode && (c.flags & IOPL) !== IOPL) c.gp(0);
    const v = c.peek32(0);
    c.adjustSp(4);
    c.setEflags(popfMerge(c, v, true));
  },
});

/** ENTER: build the frame in temporaries, commit registers last. */
function enter(size: 2 | 4) {
  return (c: Cpu, i: Insn): void => {
    const alloc = i.imm & 0xffff, level = i.imm2 & 31;
    const mask = c.spMask;
    let sp = c.regs[ESP];
    let bp = c.regs[EBP];
    const write = (v: number) => {
      sp = (sp - size) & mask;
      if (size === 4) c.wrSeg32(SS, sp, v);
      else c.wrSeg16(SS, sp, v);
    };
    write(size === 4 ? bp : bp & 0xffff);
    const frame = sp;
    if (level > 0) {
      for (let k = 1; k < level; k++) {
        bp = (bp - size) & mask;
        write(size === 4 ? c.rdSeg32(SS, bp) : c.rdSeg16(SS, bp));
      }
      write(frame);
    }
    const newSp = (sp - alloc) & mask;
    // The new stack top must be accessible (the P6 checks it: #SS otherwise).
    c.lin(SS, newSp, 1, true);
    if (size === 4) c.regs[EBP] = frame;
    else c.regs16[EBP << 1] = frame;
    if (mask === -1) c.regs[ESP] = newSp;
    else c.regs16[ESP << 1] = newSp;
  };
}
def(0xc8, { name: 'enter', imm: Imm.WB, h16: enter(2), h32: enter(4) });

def(0xc9, {
  name: 'leave',
  h16: (c) => {
    const bp = c.regs[EBP] & c.spMask;
    const v = c.rdSeg16(SS, bp);
    if (c.spMask === -1) c.regs[ESP] = bp + 2;
    else c.regs16[ESP << 1] = bp + 2;
    c.regs16[EBP << 1] = v;
  },
  h32: (c) => {
    const bp = c.regs[EBP] & c.spMask;
    const v = c.rdSeg32(SS, bp);
    if (c.spMask === -1) c.regs[ESP] = bp + 4;
    else c.regs16[ESP << 1] = bp + 4;
    c.regs[EBP] = v;
  },
});
