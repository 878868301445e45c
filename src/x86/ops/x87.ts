/**
 * The CPU's side of the x87: ESC opcodes D8-DF, WAIT, FXSAVE/FXRSTOR. The
 * FPU itself (fpu.ts) sees memory and the rest of the CPU only through the
 * `FpuHost` below; the CPU decides #NM (CR0.EM/TS) and #MF vs FERR# (CR0.NE).
 */
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS, CS, MF, NM, UD } from '../constants.js';
import type { Cpu } from '../cpu.js';
import { ea, Insn } from '../decoder.js';
import type { FpuHost } from '../fpu.js';
import { def, defGroup } from '../opcodes.js';

/** One host object per CPU, re-aimed at the current instruction before each FPU call. */
class Host implements FpuHost {
  c!: Cpu;
  i!: Insn;
  offset = 0;
  read8(lin: number): number { return this.c.rd8(lin); }
  read16(lin: number): number { return this.c.rd16(lin); }
  read32(lin: number): number { return this.c.rd32(lin); }
  write8(lin: number, v: number): void { this.c.wr8(lin, v); }
  write16(lin: number, v: number): void { this.c.wr16(lin, v); }
  write32(lin: number, v: number): void { this.c.wr32(lin, v); }
  get opsize32(): boolean { return this.i.o32; }
  get realMode(): boolean { return this.c.realAddressing; }
  get insnCs(): number { return this.c.segSel[CS]; }
  get insnEip(): number { return this.i.eip; }
  get dataSel(): number { return this.c.segSel[this.i.seg]; }
  get dataOffset(): number { return this.offset; }
  setAx(v: number): void { this.c.regs16[0] = v; }
  getEflags(): number { return this.c.getEflags(); }
  setEflags(v: number): void { this.c.setEflags(v); }
  mathFault(): void {
    if (this.c.cr0 & CR0_NE) this.c.raise(MF);
    // CR0.NE clear: the error is reported on FERR# (IRQ 13 through the platform) and the instruction goes on.
    this.c.ferr = true;
  }
  undefinedOpcode(): never { return this.c.raise(UD); }
}
const hosts = new WeakMap<Cpu, Host>();

function hostFor(c: Cpu, i: Insn): Host {
  let h = hosts.get(c);
  if (!h) hosts.set(c, (h = new Host()));
  h.c = c;
  h.i = i;
  return h;
}

/** Linear address of the memory operand (no size check: the FPU's accesses are checked by paging; segment limits for FPU operands are checked here for the largest form, 108 bytes for FSAVE). */
function operand(c: Cpu, i: Insn, h: Host, size: number, write: boolean): number {
  if (i.mod === 3) return 0;
  h.offset = ea(c, i);
  return c.lin(i.seg, h.offset, size, write);
}

/** Operand size of a D8-DF memory form, for the segment limit check. */
function memSize(op: number, reg: number): number {
  switch (op) {
    case 0xd8: return 4;
    case 0xd9: return reg === 0 || reg === 2 || reg === 3 ? 4 : reg === 4 || reg === 6 ? 14 : 2;
    case 0xda: return 4;
    case 0xdb: return reg === 5 || reg === 7 ? 10 : 4;
    case 0xdc: return 8;
    case 0xdd: return reg === 4 || reg === 6 ? 94 : reg === 7 ? 2 : 8;
    case 0xde: return 2;
    default: return reg === 4 || reg === 6 ? 10 : reg === 5 || reg === 7 ? 8 : 2;
  }
}

function isStore(op: number, reg: number): boolean {
  switch (op) {
    case 0xd9: return reg === 2 || reg === 3 || reg === 6 || reg === 7;
    case 0xdb: return reg === 1 || reg === 2 || reg === 3 || reg === 7;
    case 0xdd: return reg === 1 || reg === 2 || reg === 3 || reg === 6 || reg === 7;
    case 0xdf: return reg === 1 || reg === 2 || reg === 3 || reg === 6 || reg === 7;
    default: return false;
  }
}

function esc(op: number) {
  return (c: Cpu, i: Insn): void => {
    // CR0.EM or CR0.TS: the instruction traps to let the OS emulate it or switch FPU state.
    if (c.cr0 & (CR0_EM | CR0_TS)) c.raise(NM);
    const h = hostFor(c, i);
    const lin = operand(c, i, h, i.o32 ? memSize(op, i.reg) : Math.min(memSize(op, i.reg), op === 0xdd ? 94 : 14), isStore(op, i.reg));
    c.fpu.execute(h, op, i.modrm, lin);
  };
}
for (let op = 0xd8; op <= 0xdf; op++) def(op, { name: 'esc', modrm: true, h: esc(op) });

def(0x9b, {
  name: 'wait',
  h: (c, i) => {
    if ((c.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.raise(NM);
    c.fpu.fwait(hostFor(c, i));
  },
});

defGroup(0x1ae, 0, {
  name: 'fxsave', memOnly: true,
  h: (c, i) => {
    if (c.cr0 & (CR0_EM | CR0_TS)) c.raise(NM);
    const h = hostFor(c, i);
    const lin = operand(c, i, h, 512, true);
    if (lin & 15) c.gp(0);
    c.fpu.fxsave(h, lin);
  },
});
defGroup(0x1ae, 1, {
  name: 'fxrstor', memOnly: true,
  h: (c, i) => {
    if (c.cr0 & (CR0_EM | CR0_TS)) c.raise(NM);
    const h = hostFor(c, i);
    const lin = operand(c, i, h, 512, false);
    if (lin & 15) c.gp(0);
    c.fpu.fxrstor(h, lin);
  },
});
