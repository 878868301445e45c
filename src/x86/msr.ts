/**
 * Model-specific registers and the CPUID policy of the processor: a P6-class
 * IA-32 part with PAE, NX, SYSENTER, CMOV, PAT, MTRRs and FXSR, and nothing
 * it does not implement (no MMX, SSE, VME, PSE-36, MCA).
 */
import {
  GP, MSR_APIC_BASE, MSR_EFER, MSR_MCG_CAP, MSR_MCG_STATUS, MSR_MISC_ENABLE, MSR_MTRRCAP, MSR_MTRR_DEF_TYPE, MSR_PAT,
  MSR_SYSENTER_CS, MSR_SYSENTER_EIP, MSR_SYSENTER_ESP, MSR_TSC,
} from './constants.js';
import type { Cpu } from './cpu.js';

/** CPUID.1:EDX feature bits (SDM vol. 2, table 3-11). */
export const FEAT_FPU = 1 << 0;
export const FEAT_PSE = 1 << 3;
export const FEAT_TSC = 1 << 4;
export const FEAT_MSR = 1 << 5;
export const FEAT_PAE = 1 << 6;
export const FEAT_CX8 = 1 << 8;
export const FEAT_APIC = 1 << 9;
export const FEAT_SEP = 1 << 11;
export const FEAT_MTRR = 1 << 12;
export const FEAT_PGE = 1 << 13;
export const FEAT_CMOV = 1 << 15;
export const FEAT_PAT = 1 << 16;
export const FEAT_FXSR = 1 << 24;
/** CPUID.80000001h:EDX.NX */
export const FEAT_NX = 1 << 20;

export const BASE_FEATURES = FEAT_FPU | FEAT_PSE | FEAT_TSC | FEAT_MSR | FEAT_PAE | FEAT_CX8 | FEAT_SEP | FEAT_MTRR |
  FEAT_PGE | FEAT_CMOV | FEAT_PAT | FEAT_FXSR;

/** Family 6, model 8, stepping 6 (a Pentium III-class signature). */
export const CPU_SIGNATURE = 0x00000686;

const BRAND = 'typevisor IA-32 P6 processor';

/** Dword `k` of an ASCII string, little-endian, NUL-padded (no Node Buffer: the CPU runs in browsers too). */
function strDword(str: string, k: number): number {
  let v = 0;
  for (let j = 3; j >= 0; j--) v = (v << 8) | (str.charCodeAt(k * 4 + j) & 0xff || 0);
  return v;
}

/** Policy knobs set by whoever builds the machine (the platform or the hypervisor). */
export interface CpuidPolicy {
  vendor: string;
  /** A local APIC is present (CPUID.1:EDX.APIC). */
  apic: boolean;
  apicId: number;
  /** Extra leaves (e.g. the hypervisor's 0x40000000 range); return null to fall through. */
  extra?: (leaf: number, subleaf: number) => [number, number, number, number] | null;
}

export const DEFAULT_POLICY: CpuidPolicy = { vendor: 'GenuineIntel', apic: false, apicId: 0 };

/** CPUID: returns [EAX, EBX, ECX, EDX]. */
export function cpuid(c: Cpu, leaf: number, subleaf: number): [number, number, number, number] {
  const p = c.cpuidPolicy;
  const extra = p.extra?.(leaf, subleaf);
  if (extra) return extra;
  switch (leaf) {
    case 0: {
      const v = p.vendor.padEnd(12, ' ');
      return [2, strDword(v, 0), strDword(v, 2), strDword(v, 1)];
    }
    case 1:
      return [CPU_SIGNATURE, (p.apicId << 24) | (1 << 16), 0, BASE_FEATURES | (p.apic ? FEAT_APIC : 0)];
    case 2:
      // One iteration, no cache or TLB descriptors.
      return [1, 0, 0, 0];
    case 0x80000000:
      return [0x80000004, 0, 0, 0];
    case 0x80000001:
      return [0, 0, 0, FEAT_NX];
    case 0x80000002: case 0x80000003: case 0x80000004: {
      const k = (leaf - 0x80000002) * 4;
      return [strDword(BRAND, k), strDword(BRAND, k + 1), strDword(BRAND, k + 2), strDword(BRAND, k + 3)];
    }
    default:
      return [0, 0, 0, 0];
  }
}

function isMtrr(msr: number): boolean {
  return (msr >= 0x200 && msr <= 0x20f) || msr === 0x250 || msr === 0x258 || msr === 0x259 || (msr >= 0x268 && msr <= 0x26f);
}

/** RDMSR: [EAX, EDX]; an MSR this CPU lacks is #GP(0). */
export function readMsr(c: Cpu, msr: number): [number, number] {
  switch (msr) {
    case MSR_TSC: {
      const t = c.readTsc();
      return [t % 0x100000000 | 0, Math.floor(t / 0x100000000) | 0];
    }
    case MSR_APIC_BASE: return [c.apicBase, 0];
    case MSR_SYSENTER_CS: return [c.sysenterCs, 0];
    case MSR_SYSENTER_ESP: return [c.sysenterEsp, 0];
    case MSR_SYSENTER_EIP: return [c.sysenterEip, 0];
    case MSR_EFER: return [c.efer, 0];
    case MSR_PAT: return [c.patLo, c.patHi];
    // Fixed-range MTRRs, write-combining, 8 variable ranges.
    case MSR_MTRRCAP: return [0x508, 0];
    case MSR_MTRR_DEF_TYPE: return [c.mtrrDefType, 0];
    case MSR_MCG_CAP: return [0, 0];
    case MSR_MCG_STATUS: return [0, 0];
    case MSR_MISC_ENABLE: return [1, 0]; // fast strings
    case 0x17: return [0, 0]; // IA32_PLATFORM_ID
    case 0x8b: return [0, 0]; // IA32_BIOS_SIGN_ID: no microcode update loaded
  }
  if (isMtrr(msr)) return c.mtrrs.get(msr) ?? [0, 0];
  return c.raise(GP, 0);
}

/** WRMSR. */
export function writeMsr(c: Cpu, msr: number, lo: number, hi: number): void {
  switch (msr) {
    case MSR_TSC: c.writeTsc((hi >>> 0) * 0x100000000 + (lo >>> 0)); return;
    case MSR_APIC_BASE: c.apicBase = (lo & 0xfffff900) | 0; c.onApicBaseWrite?.(); return;
    case MSR_SYSENTER_CS: c.sysenterCs = lo & 0xffff; return;
    case MSR_SYSENTER_ESP: c.sysenterEsp = lo; return;
    case MSR_SYSENTER_EIP: c.sysenterEip = lo; return;
    case MSR_EFER:
      if (lo & ~0x800 || hi) c.raise(GP, 0);
      c.setEfer(lo);
      return;
    case MSR_PAT: {
      // Each entry must be a valid memory type (0, 1, 4, 5, 6, 7).
      for (const v of [lo, hi]) for (let k = 0; k < 4; k++) {
        const t = (v >>> (k * 8)) & 0xff;
        if (t === 2 || t === 3 || t > 7) c.raise(GP, 0);
      }
      c.patLo = lo; c.patHi = hi;
      return;
    }
    case MSR_MTRR_DEF_TYPE:
      if (lo & ~0xcff || hi) c.raise(GP, 0);
      c.mtrrDefType = lo;
      return;
    case MSR_MCG_STATUS: return;
    case MSR_MISC_ENABLE: return;
    case 0x8b: return;
    case 0x79: return; // IA32_BIOS_UPDT_TRIG: nothing to load
  }
  if (isMtrr(msr)) {
    c.mtrrs.set(msr, [lo, hi]);
    return;
  }
  c.raise(GP, 0);
}
