/**
 * The I/O permission bitmap (SDM vol. 1, 18.5.2): consulted for IN, OUT, INS
 * and OUTS when CPL > IOPL or in virtual-8086 mode. The bitmap starts at the
 * offset in the 32-bit TSS's word at 66h; each port's bit must be clear, and
 * every byte read must lie within the TSS limit. A 16-bit TSS has no bitmap.
 */
import { ATTR_UNUSABLE } from './constants.js';
import type { Cpu } from './cpu.js';
import { TSS32_AVAIL, TSS32_BUSY } from './descriptors.js';

const IOMAP_BASE = 0x66;

/** #GP(0) unless ports port..port+size-1 are all allowed by the bitmap. */
export function checkIoPermission(c: Cpu, port: number, size: number): void {
  const type = c.trAttr & 0xf;
  const limit = c.trLimit >>> 0;
  if ((type !== TSS32_AVAIL && type !== TSS32_BUSY) || c.trAttr & ATTR_UNUSABLE || limit < IOMAP_BASE + 1) c.gp(0);
  const base = c.rdSys16((c.trBase + IOMAP_BASE) | 0);
  // The processor reads the two bytes that hold the bits of an access (it may straddle a byte).
  const off = base + ((port & 0xffff) >>> 3);
  if (off + 1 > limit) c.gp(0);
  const bits = c.rdSys16((c.trBase + off) | 0);
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) c.gp(0);
}
