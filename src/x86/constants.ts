/** Architectural constants (Intel SDM vol. 3) shared by the CPU's files. */

// EFLAGS
export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL = 3 << 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const VM = 1 << 17;
export const AC = 1 << 18;
export const VIF = 1 << 19;
export const VIP = 1 << 20;
export const ID = 1 << 21;
/** The six status flags that arithmetic computes (lazily). */
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;
/** Bit 1 of EFLAGS always reads as 1. */
export const EFLAGS_FIXED = 1 << 1;
/** Flags a P6 lets software change at all (ID included: CPUID exists). */
export const EFLAGS_WRITABLE = ARITH_FLAGS | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

// Control registers
export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;

export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_MCE = 1 << 6;
export const CR4_PGE = 1 << 7;
export const CR4_PCE = 1 << 8;
export const CR4_OSFXSR = 1 << 9;
/** CR4 bits this CPU implements; setting any other bit is #GP(0). */
/** (PVI is absent: CPUID does not claim VME, and CLI/STI do not implement VIF.) */
export const CR4_VALID = CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | CR4_OSFXSR;

export const EFER_NXE = 1 << 11;

// Segment registers, in the order of the ModRM reg field / Sreg encoding.
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];

// General registers, in encoding order.
export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;

// Exception vectors
export const DE = 0;
export const DB = 1;
export const NMI = 2;
export const BP = 3;
export const OFV = 4;
export const BR = 5;
export const UD = 6;
export const NM = 7;
export const DFV = 8;
export const TS = 10;
export const NP = 11;
export const SS_FAULT = 12;
export const GP = 13;
export const PFV = 14;
export const MF = 16;
export const ACV = 17;
export const MC = 18;

/**
 * Descriptor attribute word as kept in segment caches: bits 8..23 of a
 * descriptor's high dword, shifted down by 8 (type, S, DPL, P, AVL, L, D/B, G).
 */
export const ATTR_TYPE = 0x0f;
export const ATTR_ACCESSED = 0x01;
export const ATTR_S = 0x10;
export const ATTR_DPL_SHIFT = 5;
export const ATTR_P = 0x80;
export const ATTR_DB = 0x4000;
export const ATTR_G = 0x8000;
/** Not part of a descriptor: marks a cache loaded from a null selector (unusable). */
export const ATTR_UNUSABLE = 0x10000;

// MSRs
export const MSR_TSC = 0x10;
export const MSR_APIC_BASE = 0x1b;
export const MSR_MTRRCAP = 0xfe;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
export const MSR_MCG_CAP = 0x179;
export const MSR_MCG_STATUS = 0x17a;
export const MSR_MISC_ENABLE = 0x1a0;
export const MSR_PAT = 0x277;
export const MSR_MTRR_DEF_TYPE = 0x2ff;
export const MSR_EFER = 0xc0000080;
