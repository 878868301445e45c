/** Decimal and ASCII adjust: DAA DAS AAA AAS AAM AAD. */
import { AF, CF, DE } from '../constants.js';
import type { Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { def, Imm } from '../opcodes.js';

/** Set CF and AF as given; SF ZF PF from AL; OF cleared. */
function bcdFlags(c: Cpu, al: number, cf: boolean, af: boolean): void {
  c.setResultFlags(7, al, cf ? CF : 0);
  if (af) c.flags |= AF;
}

function afSet(c: Cpu): boolean {
  return (c.getEflags() & AF) !== 0;
}

def(0x27, {
  name: 'daa',
  h: (c) => {
    const oldAl = c.regs8[0], oldCf = c.cf() !== 0, af0 = afSet(c);
    let al = oldAl, cf = false, af = false;
    if ((al & 0xf) > 9 || af0) {
      al += 6;
      cf = oldCf || al > 0xff;
      al &= 0xff;
      af = true;
    }
    if (oldAl > 0x99 || oldCf) {
      al = (al + 0x60) & 0xff;
      cf = true;
    } else {
      cf = false;
    }
    c.regs8[0] = al;
    bcdFlags(c, al, cf, af);
  },
});

def(0x2f, {
  name: 'das',
  h: (c) => {
    const oldAl = c.regs8[0], oldCf = c.cf() !== 0, af0 = afSet(c);
    let al = oldAl, cf = false, af = false;
    if ((al & 0xf) > 9 || af0) {
      cf = oldCf || al < 6;
      al = (al - 6) & 0xff;
      af = true;
    }
    if (oldAl > 0x99 || oldCf) {
      al = (al - 0x60) & 0xff;
      cf = true;
    }
    c.regs8[0] = al;
    bcdFlags(c, al, cf, af);
  },
});

def(0x37, {
  name: 'aaa',
  h: (c) => {
    const adjust = (c.regs8[0] & 0xf) > 9 || afSet(c);
    if (adjust) c.regs16[0] = c.regs16[0] + 0x106;
    c.regs8[0] &= 0xf;
    bcdFlags(c, c.regs8[0], adjust, adjust);
  },
});

def(0x3f, {
  name: 'aas',
  h: (c) => {
    const adjust = (c.regs8[0] & 0xf) > 9 || afSet(c);
    if (adjust) {
      c.regs16[0] = c.regs16[0] - 6;
      c.regs8[1] = c.regs8[1] - 1;
    }
    c.regs8[0] &= 0xf;
    bcdFlags(c, c.regs8[0], adjust, adjust);
  },
});

def(0xd4, {
  name: 'aam', imm: Imm.B,
  h: (c: Cpu, i: Insn) => {
    if (i.imm === 0) c.raise(DE);
    const al = c.regs8[0];
    c.regs8[1] = Math.floor(al / i.imm);
    c.regs8[0] = al % i.imm;
    bcdFlags(c, c.regs8[0], false, false);
  },
});

def(0xd5, {
  name: 'aad', imm: Imm.B,
  h: (c: Cpu, i: Insn) => {
    const al = (c.regs8[0] + c.regs8[1] * i.imm) & 0xff;
    c.regs16[0] = al;
    bcdFlags(c, al, false, false);
  },
});
