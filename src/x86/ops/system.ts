/**
 * System instructions: CLI/STI, control and debug register moves, descriptor
 * table registers, LMSW/SMSW/CLTS, INVLPG/INVD/WBINVD, CPUID, RDTSC, RDMSR/
 * WRMSR, SYSENTER/SYSEXIT, the 0F 00 group (SLDT STR LLDT LTR VERR VERW),
 * LAR, LSL, ARPL, UD2 and the hint NOPs.
 */
import {
  CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR4_DE, CR4_TSD, CR4_VALID, IF, IOPL, UD, ZF,
} from '../constants.js';
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';
import { lar, lldt, lsl, ltr, verr, verw } from '../descriptors.js';
import { sysenter, sysexit } from '../interrupts.js';
import { readMsr, writeMsr, cpuid } from '../msr.js';
import { def, defGroup } from '../opcodes.js';
import { readRm, writeRm } from './operands.js';

/** Instructions only CPL 0 may run: #GP(0) elsewhere (virtual-8086 mode included). */
function requireCpl0(c: Cpu): void {
  if (c.cpl !== 0) c.gp(0);
}

/** Instructions that do not exist in real or virtual-8086 mode. */
function requireProtected(c: Cpu): void {
  if (c.realAddressing) c.raise(UD);
}

def(0xfa, {
  name: 'cli',
  h: (c) => {
    if (c.protectedMode && c.cpl > (c.flags & IOPL) >> 12) c.gp(0);
    c.flags &= ~IF;
  },
});
def(0xfb, {
  name: 'sti', end: true,
  h: (c) => {
    if (c.protectedMode && c.cpl > (c.flags & IOPL) >> 12) c.gp(0);
    if (!(c.flags & IF)) c.inhibitIrq = true;
    c.flags |= IF;
  },
});

// MOV to/from control registers: always 32-bit, register operand only (mod is ignored).
def(0x120, {
  name: 'mov', modrm: true, end: true,
  h: (c, i) => {
    requireCpl0(c);
    let v: number;
    switch (i.reg) {
      case 0: v = c.cr0; break;
      case 2: v = c.cr2; break;
      case 3: v = c.cr3; break;
      case 4: v = c.cr4; break;
      default: return c.raise(UD);
    }
    c.regs[i.rm] = v;
  },
});
def(0x122, {
  name: 'mov', modrm: true, end: true,
  h: (c, i) => {
    requireCpl0(c);
    const v = c.regs[i.rm];
    switch (i.reg) {
      case 0:
        if ((v & CR0_PG && !(v & CR0_PE)) || (v & CR0_NW && !(v & CR0_CD))) c.gp(0);
        c.setCr0(v);
        break;
      case 2: c.cr2 = v; break;
      case 3: c.setCr3(v); break;
      case 4:
        if (v & ~CR4_VALID) c.gp(0);
        c.setCr4(v);
        break;
      default: c.raise(UD);
    }
  },
});
def(0x121, {
  name: 'mov', modrm: true,
  h: (c, i) => {
    requireCpl0(c);
    let r = i.reg;
    if (r === 4 || r === 5) {
      if (c.cr4 & CR4_DE) c.raise(UD);
      r += 2;
    }
    c.regs[i.rm] = c.dr[r];
  },
});
def(0x123, {
  name: 'mov', modrm: true, end: true,
  h: (c, i) => {
    requireCpl0(c);
    let r = i.reg;
    if (r === 4 || r === 5) {
      if (c.cr4 & CR4_DE) c.raise(UD);
      r += 2;
    }
    const v = c.regs[i.rm];
    if (r === 6) c.dr[6] = (v & 0x0000e00f) | (0xffff0ff0 | 0);
    else if (r === 7) c.dr[7] = (v & ~0xd800) | 0x400;
    else c.dr[r] = v;
  },
});

// 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG.
function storeTable(base: () => number, limit: () => number) {
  return (c: Cpu, i: Insn): void => {
    const lin = c.lin(i.seg, ea(c, i), 6, true);
    c.translate(lin, 1);
    c.translate((lin + 5) | 0, 1);
    c.wr16(lin, limit());
    c.wr32((lin + 2) | 0, base());
  };
}
function loadTable(set: (base: number, limit: number) => void) {
  return (c: Cpu, i: Insn): void => {
    requireCpl0(c);
    const lin = c.lin(i.seg, ea(c, i), 6, false);
    const limit = c.rd16(lin);
    let base = c.rd32((lin + 2) | 0);
    if (!i.o32) base &= 0xffffff;
    set(base, limit);
  };
}
defGroup(0x101, 0, { name: 'sgdt', memOnly: true, h: (c, i) => storeTable(() => c.gdtBase, () => c.gdtLimit)(c, i) });
defGroup(0x101, 1, { name: 'sidt', memOnly: true, h: (c, i) => storeTable(() => c.idtBase, () => c.idtLimit)(c, i) });
defGroup(0x101, 2, { name: 'lgdt', memOnly: true, h: (c, i) => loadTable((b, l) => { c.gdtBase = b; c.gdtLimit = l; })(c, i) });
defGroup(0x101, 3, { name: 'lidt', memOnly: true, h: (c, i) => loadTable((b, l) => { c.idtBase = b; c.idtLimit = l; })(c, i) });
defGroup(0x101, 4, {
  name: 'smsw',
  h: (c, i) => {
    if (i.mod === 3 && i.o32) c.regs[i.rm] = c.cr0;
    else writeRm(c, i, 2, c.cr0 & 0xffff);
  },
});
defGroup(0x101, 6, {
  name: 'lmsw', end: true,
  h: (c, i) => {
    requireCpl0(c);
    const v = readRm(c, i, 2);
    // LMSW sets PE but never clears it; it writes MP, EM and TS.
    c.setCr0((c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & CR0_PE));
  },
});
defGroup(0x101, 7, {
  name: 'invlpg', memOnly: true, end: true,
  h: (c, i) => {
    requireCpl0(c);
    c.invlpg((c.segBase[i.seg] + ea(c, i)) | 0);
  },
});

def(0x106, { name: 'clts', h: (c) => { requireCpl0(c); c.cr0 &= ~CR0_TS; } });
def(0x108, { name: 'invd', h: (c) => requireCpl0(c) });
def(0x109, { name: 'wbinvd', h: (c) => requireCpl0(c) });
def(0x10b, { name: 'ud2', end: true, h: (c) => c.raise(UD) });
// 0F 18-1F: prefetch and hint NOPs, which take a ModRM operand and do nothing.
for (let op = 0x118; op <= 0x11f; op++) def(op, { name: 'nop', modrm: true, h: () => {} });

def(0x1a2, {
  name: 'cpuid',
  h: (c) => {
    const r = cpuid(c, c.regs[0] >>> 0, c.regs[1] >>> 0);
    c.regs[0] = r[0];
    c.regs[3] = r[1];
    c.regs[1] = r[2];
    c.regs[2] = r[3];
  },
});
def(0x131, {
  name: 'rdtsc',
  h: (c) => {
    if (c.cr4 & CR4_TSD && c.cpl !== 0 && c.protectedMode) c.gp(0);
    const t = c.readTsc();
    c.regs[0] = t % 0x100000000 | 0;
    c.regs[2] = Math.floor(t / 0x100000000) | 0;
  },
});
def(0x132, {
  name: 'rdmsr',
  h: (c) => {
    requireCpl0(c);
    const v = readMsr(c, c.regs[1] >>> 0);
    c.regs[0] = v[0];
    c.regs[2] = v[1];
  },
});
def(0x130, {
  name: 'wrmsr', end: true,
  h: (c) => {
    requireCpl0(c);
    writeMsr(c, c.regs[1] >>> 0, c.regs[0], c.regs[2]);
  },
});
def(0x133, { name: 'rdpmc', h: (c) => c.gp(0) });
def(0x134, { name: 'sysenter', end: true, h: (c) => sysenter(c) });
def(0x135, { name: 'sysexit', end: true, h: (c) => sysexit(c) });

// 0F 00: SLDT STR LLDT LTR VERR VERW (protected mode only).
defGroup(0x100, 0, {
  name: 'sldt',
  h: (c, i) => {
    requireProtected(c);
    if (i.mod === 3 && i.o32) c.regs[i.rm] = c.ldtSel;
    else writeRm(c, i, 2, c.ldtSel);
  },
});
defGroup(0x100, 1, {
  name: 'str',
  h: (c, i) => {
    requireProtected(c);
    if (i.mod === 3 && i.o32) c.regs[i.rm] = c.trSel;
    else writeRm(c, i, 2, c.trSel);
  },
});
defGroup(0x100, 2, { name: 'lldt', end: true, h: (c, i) => { requireProtected(c); requireCpl0(c); lldt(c, readRm(c, i, 2)); } });
defGroup(0x100, 3, { name: 'ltr', end: true, h: (c, i) => { requireProtected(c); requireCpl0(c); ltr(c, readRm(c, i, 2)); } });
defGroup(0x100, 4, { name: 'verr', h: (c, i) => { requireProtected(c); c.setFlagBits(ZF, verr(c, readRm(c, i, 2)) ? ZF : 0); } });
defGroup(0x100, 5, { name: 'verw', h: (c, i) => { requireProtected(c); c.setFlagBits(ZF, verw(c, readRm(c, i, 2)) ? ZF : 0); } });

def(0x102, {
  name: 'lar', modrm: true,
  h: (c, i) => {
    requireProtected(c);
    const v = lar(c, readRm(c, i, 2));
    if (v === null) {
      c.setFlagBits(ZF, 0);
      return;
    }
    if (i.o32) c.regs[i.reg] = v;
    else c.regs16[i.reg << 1] = v;
    c.setFlagBits(ZF, ZF);
  },
});
def(0x103, {
  name: 'lsl', modrm: true,
  h: (c, i) => {
    requireProtected(c);
    const v = lsl(c, readRm(c, i, 2));
    if (v === null) {
      c.setFlagBits(ZF, 0);
      return;
    }
    if (i.o32) c.regs[i.reg] = v;
    else c.regs16[i.reg << 1] = v;
    c.setFlagBits(ZF, ZF);
  },
});

def(0x63, {
  name: 'arpl', modrm: true,
  h: (c, i) => {
    requireProtected(c);
    const dst = readRm(c, i, 2), src = c.regs16[i.reg << 1];
    if ((dst & 3) < (src & 3)) {
      writeRm(c, i, 2, (dst & ~3) | (src & 3));
      c.setFlagBits(ZF, ZF);
    } else {
      c.setFlagBits(ZF, 0);
    }
  },
});

