/**
 * SYSENTER and SYSEXIT (SDM vol. 2): fast transitions between CPL 3 and
 * CPL 0 through flat segments derived from IA32_SYSENTER_CS (CS, then SS = CS
 * + 8; SYSEXIT uses CS + 16 and CS + 24 with RPL 3). No descriptor is read:
 * the caches get fixed flat 4 GiB values.
 */
import { CS, IF, RF, SS, VM } from './constants.js';
import type { Cpu } from './cpu.js';

/** Flat 4 GiB code (execute/read, accessed) and data (read/write, accessed) caches at a DPL: G, D/B, P, S, type. */
const flatCode = (dpl: number) => 0xc09b | (dpl << 5);
const flatData = (dpl: number) => 0xc093 | (dpl << 5);

export function sysenter(c: Cpu): void {
  if (!c.protectedMode || (c.sysenterCs & 0xfffc) === 0) c.gp(0);
  const cs = c.sysenterCs & 0xfffc;
  c.setEflags(c.getEflags() & ~(VM | IF | RF));
  c.setSegCache(CS, cs, 0, -1, flatCode(0));
  c.setSegCache(SS, (cs + 8) & 0xffff, 0, -1, flatData(0));
  c.setCpl(0);
  c.regs[4] = c.sysenterEsp;
  c.eip = c.sysenterEip;
}

export function sysexit(c: Cpu): void {
  if (!c.protectedMode || (c.sysenterCs & 0xfffc) === 0 || c.cpl !== 0 || c.v86Mode) c.gp(0);
  const cs = ((c.sysenterCs + 16) | 3) & 0xffff;
  c.setSegCache(CS, cs, 0, -1, flatCode(3));
  c.setSegCache(SS, ((c.sysenterCs + 24) | 3) & 0xffff, 0, -1, flatData(3));
  c.setCpl(3);
  c.regs[4] = c.regs[1];
  c.eip = c.regs[2];
}
