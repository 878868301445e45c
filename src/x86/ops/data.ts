/**
 * Data movement: MOV (all forms, segment registers included), LEA, XCHG,
 * MOVZX/MOVSX, CBW/CWDE/CWD/CDQ, XLAT, LES/LDS/LSS/LFS/LGS, XADD, CMPXCHG,
 * CMPXCHG8B, and the flag instructions (CLC STC CMC CLD STD LAHF SAHF SALC).
 */
import { AF, CF, CS, DF, PF, SF, SS, UD, ZF } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';
import { loadSegment } from '../descriptors.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { alu } from './alu.js';
import { getReg, getRmReg, rdLin, readRm, rmwLin, setReg, setRmReg, Size, wrLin, writeRm } from './operands.js';

// MOV r/m, reg and reg, r/m: the hottest instructions there are, so the 32-bit forms are spelled out.
def(0x88, { name: 'mov', modrm: true, h: (c, i) => writeRm(c, i, 1, c.regs8[i.reg8]) });
def(0x89, {
  name: 'mov', modrm: true,
  h16: (c, i) => writeRm(c, i, 2, c.regs16[i.reg << 1]),
  h32: (c, i) => {
    if (i.mod === 3) c.regs[i.rm] = c.regs[i.reg];
    else c.wr32(c.lin(i.seg, ea(c, i), 4, true), c.regs[i.reg]);
  },
});
def(0x8a, { name: 'mov', modrm: true, h: (c, i) => { c.regs8[i.reg8] = readRm(c, i, 1); } });
def(0x8b, {
  name: 'mov', modrm: true,
  h16: (c, i) => { c.regs16[i.reg << 1] = readRm(c, i, 2); },
  h32: (c, i) => {
    c.regs[i.reg] = i.mod === 3 ? c.regs[i.rm] : c.rd32(c.lin(i.seg, ea(c, i), 4, false));
  },
});
def(0xc6, { name: 'mov', modrm: true, imm: Imm.B, h: (c, i) => writeRm(c, i, 1, i.imm) });
def(0xc7, { name: 'mov', modrm: true, imm: Imm.V, h16: (c, i) => writeRm(c, i, 2, i.imm), h32: (c, i) => writeRm(c, i, 4, i.imm) });
for (let r = 0; r < 8; r++) {
  const off8 = r < 4 ? r * 4 : (r - 4) * 4 + 1;
  def(0xb0 + r, { name: 'mov', imm: Imm.B, h: (c, i) => { c.regs8[off8] = i.imm; } });
  def(0xb8 + r, { name: 'mov', imm: Imm.V, h16: (c, i) => { c.regs16[r << 1] = i.imm; }, h32: (c, i) => { c.regs[r] = i.imm; } });
}
// MOV AL/eAX <-> moffs: the offset is in `disp`, no base or index.
def(0xa0, { name: 'mov', imm: Imm.Moffs, h: (c, i) => { c.regs8[0] = c.rdSeg8(i.seg, i.disp); } });
def(0xa1, {
  name: 'mov', imm: Imm.Moffs,
  h16: (c, i) => { c.regs16[0] = c.rdSeg16(i.seg, i.disp); },
  h32: (c, i) => { c.regs[0] = c.rdSeg32(i.seg, i.disp); },
});
def(0xa2, { name: 'mov', imm: Imm.Moffs, h: (c, i) => c.wrSeg8(i.seg, i.disp, c.regs8[0]) });
def(0xa3, {
  name: 'mov', imm: Imm.Moffs,
  h16: (c, i) => c.wrSeg16(i.seg, i.disp, c.regs16[0]),
  h32: (c, i) => c.wrSeg32(i.seg, i.disp, c.regs[0]),
});

// MOV r/m, Sreg: a register destination gets the zero-extended selector; memory gets 16 bits.
def(0x8c, {
  name: 'mov', modrm: true,
  h: (c, i) => {
    if (i.reg > 5) c.raise(UD);
    const sel = c.segSel[i.reg];
    if (i.mod === 3) {
      if (i.o32) c.regs[i.rm] = sel;
      else c.regs16[i.rm << 1] = sel;
    } else {
      c.wrSeg16(i.seg, ea(c, i), sel);
    }
  },
});
// MOV Sreg, r/m: CS is not loadable; loading SS holds off interrupts for one instruction.
def(0x8e, {
  name: 'mov', modrm: true, end: true,
  h: (c, i) => {
    if (i.reg === CS || i.reg > 5) c.raise(UD);
    const sel = readRm(c, i, 2);
    loadSegment(c, i.reg, sel);
    if (i.reg === SS) c.inhibitIrq = true;
  },
});

def(0x8d, {
  name: 'lea', modrm: true, memOnly: true,
  h16: (c, i) => { c.regs16[i.reg << 1] = ea(c, i); },
  h32: (c, i) => { c.regs[i.reg] = ea(c, i); },
});

// XCHG
function xchgRm(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const a = getReg(c, i, size);
    if (i.mod === 3) {
      setReg(c, i, size, getRmReg(c, i, size));
      setRmReg(c, i, size, a);
    } else {
      const lin = rmwLin(c, i, size);
      const m = rdLin(c, lin, size);
      wrLin(c, lin, size, a);
      setReg(c, i, size, m);
    }
  };
}
def(0x86, { name: 'xchg', modrm: true, lockable: true, h: xchgRm(1) });
def(0x87, { name: 'xchg', modrm: true, lockable: true, h16: xchgRm(2), h32: xchgRm(4) });
def(0x90, { name: 'nop', h: () => {} });
for (let r = 1; r < 8; r++) {
  def(0x90 + r, {
    name: 'xchg',
    h16: (c) => { const t = c.regs16[0]; c.regs16[0] = c.regs16[r << 1]; c.regs16[r << 1] = t; },
    h32: (c) => { const t = c.regs[0]; c.regs[0] = c.regs[r]; c.regs[r] = t; },
  });
}

// MOVZX / MOVSX
def(0x1b6, {
  name: 'movzx', modrm: true,
  h16: (c, i) => { c.regs16[i.reg << 1] = readRm(c, i, 1); },
  h32: (c, i) => { c.regs[i.reg] = readRm(c, i, 1); },
});
def(0x1b7, {
  name: 'movzx', modrm: true,
  h16: (c, i) => { c.regs16[i.reg << 1] = readRm(c, i, 2); },
  h32: (c, i) => { c.regs[i.reg] = readRm(c, i, 2); },
});
def(0x1be, {
  name: 'movsx', modrm: true,
  h16: (c, i) => { c.regs16[i.reg << 1] = (readRm(c, i, 1) << 24) >> 24; },
  h32: (c, i) => { c.regs[i.reg] = (readRm(c, i, 1) << 24) >> 24; },
});
def(0x1bf, {
  name: 'movsx', modrm: true,
  h16: (c, i) => { c.regs16[i.reg << 1] = readRm(c, i, 2); },
  h32: (c, i) => { c.regs[i.reg] = (readRm(c, i, 2) << 16) >> 16; },
});

def(0x98, {
  name: 'cbw',
  h16: (c) => { c.regs16[0] = (c.regs8[0] << 24) >> 24; },
  h32: (c) => { c.regs[0] = (c.regs16[0] << 16) >> 16; },
});
def(0x99, {
  name: 'cwd',
  h16: (c) => { c.regs16[4] = c.regs16[0] & 0x8000 ? 0xffff : 0; },
  h32: (c) => { c.regs[2] = c.regs[0] >> 31; },
});

def(0xd7, {
  name: 'xlat',
  h: (c, i) => {
    const off = i.a32 ? (c.regs[3] + c.regs8[0]) | 0 : (c.regs16[6] + c.regs8[0]) & 0xffff;
    c.regs8[0] = c.rdSeg8(i.seg, off);
  },
});

// LES LDS LSS LFS LGS: offset then selector from memory; the segment load may fault, so the register is written last.
function loadFar(seg: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const off = ea(c, i);
    const lin = c.lin(i.seg, off, size + 2, false);
    const v = rdLin(c, lin, size);
    const sel = c.rd16((lin + size) | 0);
    loadSegment(c, seg, sel);
    setReg(c, i, size, v);
    if (seg === SS) c.inhibitIrq = true;
  };
}
const FAR_LOADS: [number, number][] = [[0xc4, 0], [0xc5, 3], [0x1b2, 2], [0x1b4, 4], [0x1b5, 5]];
for (const [op, seg] of FAR_LOADS) {
  def(op, { name: 'lxs', modrm: true, memOnly: true, end: seg === SS, h16: loadFar(seg, 2), h32: loadFar(seg, 4) });
}

// XADD / CMPXCHG / CMPXCHG8B
function xadd(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const src = getReg(c, i, size);
    if (i.mod === 3) {
      const dst = getRmReg(c, i, size);
      const sum = alu(c, 0, size, dst, src);
      setReg(c, i, size, dst);
      setRmReg(c, i, size, sum);
    } else {
      const lin = rmwLin(c, i, size);
      const dst = rdLin(c, lin, size);
      wrLin(c, lin, size, alu(c, 0, size, dst, src));
      setReg(c, i, size, dst);
    }
  };
}
def(0x1c0, { name: 'xadd', modrm: true, lockable: true, h: xadd(1) });
def(0x1c1, { name: 'xadd', modrm: true, lockable: true, h16: xadd(2), h32: xadd(4) });

function cmpxchg(size: Size) {
  return (c: Cpu, i: Insn): void => {
    const accMask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    const acc = (size === 4 ? c.regs[0] : size === 2 ? c.regs16[0] : c.regs8[0]) & accMask;
    let lin = 0, dst: number;
    if (i.mod === 3) dst = getRmReg(c, i, size);
    else dst = rdLin(c, (lin = rmwLin(c, i, size)), size);
    const equal = ((acc ^ dst) & accMask) === 0;
    // The destination is written either way (the bus cycle is a locked read-modify-write).
    const result = equal ? getReg(c, i, size) : dst;
    if (i.mod === 3) setRmReg(c, i, size, result);
    else wrLin(c, lin, size, result);
    alu(c, 7, size, acc, dst);
    if (!equal) {
      if (size === 4) c.regs[0] = dst;
      else if (size === 2) c.regs16[0] = dst;
      else c.regs8[0] = dst;
    }
  };
}
def(0x1b0, { name: 'cmpxchg', modrm: true, lockable: true, h: cmpxchg(1) });
def(0x1b1, { name: 'cmpxchg', modrm: true, lockable: true, h16: cmpxchg(2), h32: cmpxchg(4) });

defGroup(0x1c7, 1, {
    name: 'cmpxchg8b', memOnly: true, lockable: true,
    h: (c, i) => {
      const lin = rmwLin(c, i, 8);
      const lo = c.rd32(lin), hi = c.rd32((lin + 4) | 0);
      const equal = lo === c.regs[0] && hi === c.regs[2];
      const nlo = equal ? c.regs[3] : lo, nhi = equal ? c.regs[1] : hi;
      c.wr32(lin, nlo);
      c.wr32((lin + 4) | 0, nhi);
      c.setFlagBits(ZF, equal ? ZF : 0);
      if (!equal) {
        c.regs[0] = lo;
        c.regs[2] = hi;
      }
    },
});

// Flag instructions.
def(0xf5, { name: 'cmc', h: (c) => c.setFlagBits(CF, c.cf() ? 0 : CF) });
def(0xf8, { name: 'clc', h: (c) => c.setFlagBits(CF, 0) });
def(0xf9, { name: 'stc', h: (c) => c.setFlagBits(CF, CF) });
def(0xfc, { name: 'cld', h: (c) => { c.flags &= ~DF; } });
def(0xfd, { name: 'std', h: (c) => { c.flags |= DF; } });
def(0x9f, { name: 'lahf', h: (c) => { c.regs8[1] = c.getEflags() & 0xff; } });
def(0x9e, { name: 'sahf', h: (c) => c.setFlagBits(SF | ZF | AF | PF | CF, c.regs8[1]) });
// SALC (undocumented, present on every P6): AL = CF ? 0xFF : 0.
def(0xd6, { name: 'salc', h: (c) => { c.regs8[0] = c.cf() ? 0xff : 0; } });
