/**
 * Bit operations and condition-driven moves: BT BTS BTR BTC, BSF BSR, BSWAP,
 * SETcc, CMOVcc.
 */
import { CF, ZF } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';
import { def, defGroup, Imm } from '../opcodes.js';
import { getReg, getRmReg, rdLin, readRm, setReg, setRmReg, Size, wrLin } from './operands.js';

/** BT family: 0 BT, 1 BTS, 2 BTR, 3 BTC. Only CF is defined; the others are left as they were. */
function applyBit(c: Cpu, kind: number, v: number, bit: number): number {
  const m = 1 << bit;
  c.setFlagBits(CF, v & m ? CF : 0);
  switch (kind) {
    case 1: return v | m;
    case 2: return v & ~m;
    case 3: return v ^ m;
    default: return v;
  }
}

/** BTx r/m, reg: with a memory operand the bit offset is signed and may reach outside the operand. */
function btReg(kind: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const off = getReg(c, i, size);
    const bits = size * 8;
    if (i.mod === 3) {
      const r = applyBit(c, kind, getRmReg(c, i, size), off & (bits - 1));
      if (kind) setRmReg(c, i, size, r);
      return;
    }
    const soff = size === 2 ? (off << 16) >> 16 : off | 0;
    const delta = Math.floor(soff / bits) * size;
    const addr = i.a32 ? (ea(c, i) + delta) | 0 : (ea(c, i) + delta) & 0xffff;
    const lin = kind ? c.rmw(i.seg, addr, size) : c.lin(i.seg, addr, size, false);
    const r = applyBit(c, kind, rdLin(c, lin, size), soff & (bits - 1));
    if (kind) wrLin(c, lin, size, r);
  };
}

function btImm(kind: number, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const bit = i.imm & (size * 8 - 1);
    if (i.mod === 3) {
      const r = applyBit(c, kind, getRmReg(c, i, size), bit);
      if (kind) setRmReg(c, i, size, r);
      return;
    }
    const lin = kind ? c.rmw(i.seg, ea(c, i), size) : c.lin(i.seg, ea(c, i), size, false);
    const r = applyBit(c, kind, rdLin(c, lin, size), bit);
    if (kind) wrLin(c, lin, size, r);
  };
}

const BT_NAMES = ['bt', 'bts', 'btr', 'btc'];
const BT_OPS = [0x1a3, 0x1ab, 0x1b3, 0x1bb];
for (let k = 0; k < 4; k++) {
  def(BT_OPS[k], { name: BT_NAMES[k], modrm: true, lockable: k !== 0, h16: btReg(k, 2), h32: btReg(k, 4) });
  defGroup(0x1ba, 4 + k, { name: BT_NAMES[k], imm: Imm.B, lockable: k !== 0, h16: btImm(k, 2), h32: btImm(k, 4) });
}

/** BSF/BSR: ZF set and destination unchanged for a zero source. */
function bitScan(reverse: boolean, size: Size) {
  return (c: Cpu, i: Insn): void => {
    const v = readRm(c, i, size) & (size === 2 ? 0xffff : -1);
    if (v === 0) {
      c.setFlagBits(ZF, ZF);
      return;
    }
    const idx = reverse ? 31 - Math.clz32(v) : 31 - Math.clz32(v & -v);
    setReg(c, i, size, idx);
    c.setFlagBits(ZF, 0);
  };
}
def(0x1bc, { name: 'bsf', modrm: true, h16: bitScan(false, 2), h32: bitScan(false, 4) });
def(0x1bd, { name: 'bsr', modrm: true, h16: bitScan(true, 2), h32: bitScan(true, 4) });

for (let r = 0; r < 8; r++) {
  def(0x1c8 + r, {
    name: 'bswap',
    // With a 16-bit operand size the result is undefined; the P6 clears the low word.
    h16: (c) => { c.regs16[r << 1] = 0; },
    h32: (c) => {
      const v = c.regs[r];
      c.regs[r] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    },
  });
}

for (let cc = 0; cc < 16; cc++) {
  def(0x190 + cc, {
    name: 'setcc', modrm: true,
    h: (c: Cpu, i: Insn) => {
      const v = c.cond(cc) ? 1 : 0;
      if (i.mod === 3) c.regs8[i.rm8] = v;
      else c.wrSeg8(i.seg, ea(c, i), v);
    },
  });
  def(0x140 + cc, {
    name: 'cmovcc', modrm: true,
    // The source is read (and may fault) whether or not the move happens.
    h16: (c: Cpu, i: Insn) => { const v = readRm(c, i, 2); if (c.cond(cc)) c.regs16[i.reg << 1] = v; },
    h32: (c: Cpu, i: Insn) => { const v = readRm(c, i, 4); if (c.cond(cc)) c.regs[i.reg] = v; },
  });
}
