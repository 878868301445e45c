/**
 * Linux boot protocol loader for bzImage kernels, 32-bit entry, as Xen's
 * direct kernel boot (`kernel=`, `ramdisk=`, `cmdline=`) does it. Names
 * follow Linux Documentation/arch/x86/boot.rst and asm/bootparam.h.
 *
 * A bzImage file is the real-mode setup — (setup_sects || 4) sectors after
 * the boot sector, with the setup header at 0x1F1 — followed by the
 * protected-mode kernel (the decompressor and the compressed vmlinux). The
 * 32-bit boot protocol skips the real-mode setup entirely: the loader fills a
 * `struct boot_params` (the 4 KiB "zero page") itself and jumps to the
 * protected-mode kernel. Protocol 2.10 (Linux 2.6.31) or newer is required:
 * it is the first to give pref_address and init_size, which say where the
 * kernel will decompress itself, so the initrd can be kept out of the way.
 *
 * The machine after `loadBzImage`:
 * - 0x01000: GDT. 0x10 = __BOOT_CS, 0x18 = __BOOT_DS, both flat 4 GiB ring 0
 *   (entries 0 and 1 are null).
 * - 0x07000: boot_params. The setup header copied from the file (0x1F1 to
 *   0x202 + the byte at 0x201), then the loader's fields: type_of_loader
 *   0xFF (undefined loader), code32_start, cmd_line_ptr, ramdisk_image/
 *   ramdisk_size, hardware_subarch 0 (PC), the E820 map at 0x2D0 with its
 *   count at 0x1E8, alt_mem_k, and screen_info saying there is no VGA text
 *   console (lines = cols = 0, orig_video_isVGA = 0: vgacon gives up and the
 *   console is whatever console= names). acpi_rsdp_addr (0x070) when given.
 * - 0x08000: the command line, NUL-terminated (at most cmdline_size bytes).
 * - Below 0x07000: the stack, ESP = 0x7000 (the protocol does not ask for one;
 *   the decompressor makes its own from boot_params' scratch field).
 * - The protected-mode kernel at code32_start (0x100000), or at `loadAddress`
 *   for a relocatable kernel.
 * - The initrd page-aligned as high as possible below min(initrd_addr_max + 1,
 *   end of RAM), in E820 RAM above 1 MiB, clear of the loaded kernel and of
 *   the region the kernel decompresses into: init_size bytes from its
 *   runtime start (boot.rst's rule: pref_address or the load address, aligned
 *   up to kernel_alignment, for a relocatable kernel; pref_address otherwise).
 *   The kernel's KASLR, if it moves itself, avoids the initrd, the command
 *   line and boot_params on its own.
 * - CPU: CR0 = PE|ET (paging off), EFLAGS = 2 (interrupts off), CS = 0x10,
 *   DS = ES = SS = FS = GS = 0x18 with flat caches, CPL 0, ESI = boot_params,
 *   EBX = EBP = EDI = 0 (and the other registers 0), EIP = the load address,
 *   IDT limit 0: an exception before the kernel sets up its IDT is a triple
 *   fault, i.e. `Exit.Shutdown` with the reason, not a jump to garbage.
 *
 * Memory below 1 MiB holds only the loader's structures; the E820 map given
 * is the caller's (see `standardE820`), and the kernel trusts it.
 */
import { CS, DS, ES, FS, GS, SS, ESP, ESI, CR0_ET, CR0_PE } from '../x86/constants.js';
import type { Cpu } from '../x86/cpu.js';
import { PAGE_SIZE, type GuestMemory } from '../x86/memory.js';

// ---------------------------------------------------------------- setup header (file offsets = boot_params offsets)

export const HDR_SETUP_SECTS = 0x1f1;
export const HDR_SYSSIZE = 0x1f4;
export const HDR_BOOT_FLAG = 0x1fe;
export const HDR_JUMP = 0x200;
export const HDR_HEADER = 0x202;
export const HDR_VERSION = 0x206;
export const HDR_KERNEL_VERSION = 0x20e;
export const HDR_TYPE_OF_LOADER = 0x210;
export const HDR_LOADFLAGS = 0x211;
export const HDR_CODE32_START = 0x214;
export const HDR_RAMDISK_IMAGE = 0x218;
export const HDR_RAMDISK_SIZE = 0x21c;
export const HDR_HEAP_END_PTR = 0x224;
export const HDR_CMD_LINE_PTR = 0x228;
export const HDR_INITRD_ADDR_MAX = 0x22c;
export const HDR_KERNEL_ALIGNMENT = 0x230;
export const HDR_RELOCATABLE_KERNEL = 0x234;
export const HDR_MIN_ALIGNMENT = 0x235;
export const HDR_XLOADFLAGS = 0x236;
export const HDR_CMDLINE_SIZE = 0x238;
export const HDR_HARDWARE_SUBARCH = 0x23c;
export const HDR_HARDWARE_SUBARCH_DATA = 0x240;
export const HDR_PAYLOAD_OFFSET = 0x248;
export const HDR_PAYLOAD_LENGTH = 0x24c;
export const HDR_SETUP_DATA = 0x250;
export const HDR_PREF_ADDRESS = 0x258;
export const HDR_INIT_SIZE = 0x260;
export const HDR_HANDOVER_OFFSET = 0x264;
export const HDR_KERNEL_INFO_OFFSET = 0x268;

export const BOOT_FLAG = 0xaa55;
/** "HdrS", little-endian. */
export const HEADER_MAGIC = 0x53726448;
export const MIN_PROTOCOL = 0x020a;

// loadflags
export const LOADED_HIGH = 0x01;
export const KASLR_FLAG = 0x02;
export const QUIET_FLAG = 0x20;
export const KEEP_SEGMENTS = 0x40;
export const CAN_USE_HEAP = 0x80;

// xloadflags
export const XLF_KERNEL_64 = 0x01;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 0x02;
export const XLF_EFI_HANDOVER_32 = 0x04;
export const XLF_EFI_HANDOVER_64 = 0x08;
export const XLF_EFI_KEXEC = 0x10;

// ---------------------------------------------------------------- boot_params (zero page) offsets

export const BP_SIZE = 0x1000;
// screen_info (struct screen_info at 0x000)
export const BP_EXT_MEM_K = 0x002;
export const BP_ORIG_VIDEO_MODE = 0x006;
export const BP_ORIG_VIDEO_COLS = 0x007;
export const BP_ORIG_VIDEO_LINES = 0x00e;
export const BP_ORIG_VIDEO_ISVGA = 0x00f;
export const BP_ORIG_VIDEO_POINTS = 0x010;
export const BP_ACPI_RSDP_ADDR = 0x070;
export const BP_EXT_RAMDISK_IMAGE = 0x0c0;
export const BP_EXT_RAMDISK_SIZE = 0x0c4;
export const BP_EXT_CMD_LINE_PTR = 0x0c8;
export const BP_ALT_MEM_K = 0x1e0;
export const BP_SCRATCH = 0x1e4;
export const BP_E820_ENTRIES = 0x1e8;
export const BP_SENTINEL = 0x1ef;
export const BP_HDR = 0x1f1;
/** End of struct setup_header's room in boot_params (edd_mbr_sig_buffer follows). */
export const BP_HDR_END = 0x290;
export const BP_E820_TABLE = 0x2d0;
export const E820_ENTRY_SIZE = 20;
/** E820_MAX_ENTRIES_ZEROPAGE: more would need a SETUP_E820_EXT setup_data entry. */
export const E820_MAX_ENTRIES = 128;
/** acpi_rsdp_addr is read from protocol 2.14 on. */
export const PROTOCOL_ACPI_RSDP = 0x020e;

/** Ours: "undefined" boot loader ID (boot.rst: 0xFF). */
export const LOADER_TYPE_UNDEFINED = 0xff;
/** X86_SUBARCH_PC. */
export const SUBARCH_PC = 0;

// ---------------------------------------------------------------- loader layout

export const GDT_ADDR = 0x1000;
export const BOOT_PARAMS_ADDR = 0x7000;
export const CMDLINE_ADDR = 0x8000;
/** The command line must end below this (the loader's low area ends here). */
export const CMDLINE_LIMIT = 0x10000;
export const STACK_TOP = BOOT_PARAMS_ADDR;
/** Everything the loader puts outside the kernel and initrd lies below this. */
export const LOW_AREA_END = 0x100000;
export const BOOT_CS = 0x10;
export const BOOT_DS = 0x18;
/** Segment-cache attributes: present, DPL 0, 32-bit, 4 KiB granular; code execute/read, data read/write, accessed. */
const BOOT_CS_ATTR = 0xc09b, BOOT_DS_ATTR = 0xc093;
/** The same descriptors as GDT entries (low dword, high dword): base 0, limit 0xFFFFF pages. */
const BOOT_CS_DESC = [0x0000ffff, 0x00cf9b00] as const;
const BOOT_DS_DESC = [0x0000ffff, 0x00cf9300] as const;

// ---------------------------------------------------------------- E820

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** End of conventional memory: the EBDA's 1 KiB starts here. */
export const EBDA_START = 0x9fc00;
export const LOW_RAM_END = 0xa0000;
export const BIOS_START = 0xf0000;

/**
 * The usual PC memory map for `memoryBytes` of RAM: conventional memory to
 * 0x9FC00, the EBDA reserved to 0xA0000, the VGA window and option ROMs
 * absent (0xA0000-0xF0000), the BIOS reserved at 0xF0000-0x100000, and RAM
 * from 1 MiB to the end. ACPI tables and the like are carved out of it later
 * with `e820Reserve`.
 */
export function standardE820(memoryBytes: number): E820Entry[] {
  if (!Number.isInteger(memoryBytes) || memoryBytes < 2 * LOW_AREA_END || memoryBytes > 0x100000000) {
    throw new Error(`standardE820: memory size ${memoryBytes} must be an integer from 2 MiB to 4 GiB`);
  }
  return [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: EBDA_START, size: LOW_RAM_END - EBDA_START, type: E820_RESERVED },
    { addr: BIOS_START, size: LOW_AREA_END - BIOS_START, type: E820_RESERVED },
    { addr: LOW_AREA_END, size: memoryBytes - LOW_AREA_END, type: E820_RAM },
  ];
}

/**
 * Give [addr, addr + size) type `type` (e.g. E820_ACPI for ACPI tables),
 * splitting the entries it overlaps. Returns a new map sorted by address.
 */
export function e820Reserve(map: readonly E820Entry[], addr: number, size: number, type: number): E820Entry[] {
  const end = addr + size;
  const out: E820Entry[] = [];
  for (const e of map) {
    const eEnd = e.addr + e.size;
    if (eEnd <= addr || e.addr >= end) {
      out.push({ ...e });
      continue;
    }
    if (e.addr < addr) out.push({ addr: e.addr, size: addr - e.addr, type: e.type });
    if (eEnd > end) out.push({ addr: end, size: eEnd - end, type: e.type });
  }
  out.push({ addr, size, type });
  return out.sort((a, b) => a.addr - b.addr);
}

// ---------------------------------------------------------------- parsing

export interface BzImageHeader {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  version: number;
  /** The version as "2.15". */
  protocol: string;
  /** setup_sects as stored (0 means 4). */
  setupSects: number;
  /** File offset of the protected-mode kernel: ((setup_sects || 4) + 1) * 512. */
  setupSize: number;
  /** Protected-mode kernel size in 16-byte units. */
  syssize: number;
  loadflags: number;
  /** Where the protected-mode kernel is meant to be loaded and entered. */
  code32Start: number;
  /** Highest address the initrd may occupy (inclusive). */
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  /** log2 of the minimum alignment a relocated kernel needs. */
  minAlignment: number;
  xloadflags: number;
  /** Longest command line, without its NUL. */
  cmdlineSize: number;
  /** Offset and length of the compressed vmlinux within the protected-mode kernel. */
  payloadOffset: number;
  payloadLength: number;
  /** Where the kernel prefers to run (LOAD_PHYSICAL_ADDR). */
  prefAddress: number;
  /** Memory the kernel needs from its runtime start until it can read the memory map. */
  initSize: number;
  /** EFI handover entry (2.11+), 0 if none. */
  handoverOffset: number;
  /** Offset of struct kernel_info in the protected-mode kernel (2.15+), 0 before. */
  kernelInfoOffset: number;
  /** End of the setup header in the file: 0x202 + the byte at 0x201. */
  headerEnd: number;
  /** The kernel's version string (from kernel_version), or null. */
  kernelVersion: string | null;
  /** The protected-mode kernel (a view into the file). */
  protectedMode: Uint8Array;
  /** The setup header, file bytes 0x1F1 up to headerEnd (a view into the file). */
  setupHeader: Uint8Array;
}

const hex = (v: number): string => `0x${v.toString(16)}`;
const protocolName = (v: number): string => `${v >> 8}.${(v & 0xff).toString().padStart(2, '0')}`;

/** Read and check a bzImage's setup header. Errors say what is wrong. */
export function parseBzImage(bytes: Uint8Array): BzImageHeader {
  const fail = (why: string): never => {
    throw new Error(`bzImage: ${why}`);
  };
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    fail('this is an ELF file (an uncompressed vmlinux?), not a bzImage');
  }
  if (bytes.length < HDR_VERSION + 2) fail(`not a bzImage: ${bytes.length} bytes is too short to hold a setup header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u8 = (o: number): number => bytes[o];
  const u16 = (o: number): number => dv.getUint16(o, true);
  const u32 = (o: number): number => dv.getUint32(o, true);
  const u64 = (o: number): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`64-bit field at ${hex(o)} is too large (${v})`);
    return Number(v);
  };

  if (u16(HDR_BOOT_FLAG) !== BOOT_FLAG) fail(`not a bzImage: no boot flag 0xaa55 at 0x1fe (found ${hex(u16(HDR_BOOT_FLAG))})`);
  if (u32(HDR_HEADER) !== HEADER_MAGIC) fail(`not a bzImage: no "HdrS" magic at 0x202 (a pre-2.00 kernel or not a Linux kernel)`);
  const version = u16(HDR_VERSION);
  if (version < MIN_PROTOCOL) {
    fail(`boot protocol ${protocolName(version)} is too old: need ${protocolName(MIN_PROTOCOL)} or newer (Linux 2.6.31+) for pref_address and init_size`);
  }
  // The jump at 0x200 is "jmp short start_of_setup", which lands right after the header.
  if (u8(HDR_JUMP) !== 0xeb) fail(`no short jump at 0x200 (found ${hex(u8(HDR_JUMP))}): cannot tell where the setup header ends`);
  const headerEnd = HDR_HEADER + u8(HDR_JUMP + 1);
  if (headerEnd < HDR_INIT_SIZE + 4) fail(`setup header ends at ${hex(headerEnd)}, before init_size (0x260..0x264) which protocol ${protocolName(version)} has`);
  if (headerEnd > BP_HDR_END) fail(`setup header ends at ${hex(headerEnd)}, past its room in boot_params (${hex(BP_HDR_END)})`);
  const setupSects = u8(HDR_SETUP_SECTS);
  const setupSize = ((setupSects || 4) + 1) * 512;
  if (headerEnd > setupSize) fail(`setup header ends at ${hex(headerEnd)}, past the setup code (${setupSize} bytes)`);
  if (bytes.length < setupSize) fail(`truncated: setup_sects ${setupSects} means ${setupSize} bytes of setup, the file has ${bytes.length}`);
  const loadflags = u8(HDR_LOADFLAGS);
  if (!(loadflags & LOADED_HIGH)) fail('a zImage (LOADED_HIGH clear in loadflags): its kernel loads at 0x10000, which this loader does not do');

  const protectedMode = bytes.subarray(setupSize);
  if (protectedMode.length === 0) fail('no protected-mode kernel after the setup code');
  const syssize = u32(HDR_SYSSIZE);
  // syssize counts 16-byte paragraphs, rounded up.
  if (syssize * 16 > protectedMode.length + 15) {
    fail(`truncated: syssize says the protected-mode kernel is ${syssize * 16} bytes, the file has ${protectedMode.length} after the setup`);
  }
  const relocatable = u8(HDR_RELOCATABLE_KERNEL) !== 0;
  const kernelAlignment = u32(HDR_KERNEL_ALIGNMENT);
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    fail(`kernel_alignment ${hex(kernelAlignment)} is not a power of two`);
  }
  const initSize = u32(HDR_INIT_SIZE);
  if (initSize === 0) fail('init_size is 0');
  const prefAddress = u64(HDR_PREF_ADDRESS);
  const cmdlineSize = u32(HDR_CMDLINE_SIZE);
  const payloadOffset = u32(HDR_PAYLOAD_OFFSET), payloadLength = u32(HDR_PAYLOAD_LENGTH);
  if (payloadOffset + payloadLength > protectedMode.length) {
    fail(`payload_offset ${hex(payloadOffset)} + payload_length ${hex(payloadLength)} runs past the protected-mode kernel (${protectedMode.length} bytes)`);
  }

  // kernel_version: offset of a NUL-terminated string, minus 0x200 (0 = none).
  let kernelVersion: string | null = null;
  const kv = u16(HDR_KERNEL_VERSION);
  if (kv !== 0 && kv + 0x200 < setupSize) {
    let end = kv + 0x200;
    while (end < setupSize && bytes[end] !== 0) end++;
    kernelVersion = Buffer.from(bytes.buffer, bytes.byteOffset + kv + 0x200, end - kv - 0x200).toString('latin1');
  }

  return {
    version,
    protocol: protocolName(version),
    setupSects,
    setupSize,
    syssize,
    loadflags,
    code32Start: u32(HDR_CODE32_START),
    initrdAddrMax: u32(HDR_INITRD_ADDR_MAX),
    kernelAlignment,
    relocatable,
    minAlignment: u8(HDR_MIN_ALIGNMENT),
    xloadflags: u16(HDR_XLOADFLAGS),
    cmdlineSize,
    payloadOffset,
    payloadLength,
    prefAddress,
    initSize,
    handoverOffset: version >= 0x020b ? u32(HDR_HANDOVER_OFFSET) : 0,
    kernelInfoOffset: version >= 0x020f && headerEnd >= HDR_KERNEL_INFO_OFFSET + 4 ? u32(HDR_KERNEL_INFO_OFFSET) : 0,
    headerEnd,
    kernelVersion,
    protectedMode,
    setupHeader: bytes.subarray(BP_HDR, headerEnd),
  };
}

// ---------------------------------------------------------------- loading

export interface BzImageOptions {
  /** The initial ramdisk (e.g. from InitramfsBuilder.build()); absent or empty = none. */
  initrd?: Uint8Array;
  cmdline: string;
  /** The memory map the kernel gets (e.g. standardE820(memoryBytes)). */
  e820: readonly E820Entry[];
  /** Guest RAM size; at most the GuestMemory's size. */
  memoryBytes: number;
  /** Where to put the protected-mode kernel (default code32_start); elsewhere needs a relocatable kernel. */
  loadAddress?: number;
  /** Physical address of the ACPI RSDP, for boot_params.acpi_rsdp_addr (protocol 2.14+). */
  acpiRsdp?: number;
}

export interface Range {
  addr: number;
  size: number;
}

export interface BzImageLayout {
  header: BzImageHeader;
  /** Where the protected-mode kernel was loaded, and its size. */
  kernel: Range;
  /** The kernel's runtime start and init_size: memory it will decompress into. */
  kernelRuntime: Range;
  entry: number;
  bootParams: number;
  gdt: number;
  /** The command line: address and length without the NUL. */
  cmdline: Range;
  initrd: Range | null;
  e820Entries: number;
  /** Things the loader could not do as asked but that do not stop the boot. */
  warnings: string[];
}

/** [start, end) intervals: `from` minus `holes`. */
function subtract(from: [number, number][], holes: [number, number][]): [number, number][] {
  let out = from;
  for (const [hs, he] of holes) {
    const next: [number, number][] = [];
    for (const [s, e] of out) {
      if (he <= s || hs >= e) {
        next.push([s, e]);
        continue;
      }
      if (s < hs) next.push([s, hs]);
      if (he < e) next.push([he, e]);
    }
    out = next;
  }
  return out;
}

/** Usable RAM by the map: type-1 ranges minus every other type (a reserved entry wins over an overlapping RAM one). */
function ramIntervals(e820: readonly E820Entry[]): [number, number][] {
  const ram = e820.filter((e) => e.type === E820_RAM).map((e): [number, number] => [e.addr, e.addr + e.size]);
  const other = e820.filter((e) => e.type !== E820_RAM).map((e): [number, number] => [e.addr, e.addr + e.size]);
  return subtract(ram, other);
}

function covered(intervals: [number, number][], start: number, end: number): boolean {
  return subtract([[start, end]], intervals).length === 0;
}

/**
 * Load a bzImage with its command line and initrd into `mem` and set `cpu` to
 * the 32-bit boot protocol's entry state. Returns where everything went.
 * Only the state the protocol names is set; the rest of the CPU is the caller's.
 */
export function loadBzImage(mem: GuestMemory, cpu: Cpu, kernel: Uint8Array, opts: BzImageOptions): BzImageLayout {
  const hdr = parseBzImage(kernel);
  const fail = (why: string): never => {
    throw new Error(`bzImage: ${why}`);
  };
  const warnings: string[] = [];
  const { memoryBytes } = opts;
  if (!Number.isInteger(memoryBytes) || memoryBytes <= LOW_AREA_END || memoryBytes > mem.bytes) {
    fail(`memoryBytes ${memoryBytes} must be above 1 MiB and at most the guest memory (${mem.bytes} bytes)`);
  }
  if (hdr.xloadflags & XLF_KERNEL_64) {
    fail(`an x86-64 kernel (XLF_KERNEL_64 in xloadflags${hdr.kernelVersion ? `, ${hdr.kernelVersion}` : ''}): this CPU is IA-32 only, use an i386 (686/686-pae) kernel`);
  }

  // Where the kernel goes, and where it will run (boot.rst, init_size).
  const load = opts.loadAddress ?? hdr.code32Start;
  if (load !== hdr.code32Start) {
    if (!hdr.relocatable) fail(`kernel is not relocatable (relocatable_kernel = 0): it must be loaded at code32_start ${hex(hdr.code32Start)}, not ${hex(load)}`);
    const align = 2 ** hdr.minAlignment;
    if (load % align !== 0) fail(`load address ${hex(load)} is not aligned to 2^min_alignment = ${hex(align)}`);
  }
  if (load < LOW_AREA_END) fail(`load address ${hex(load)} is below 1 MiB, where the loader's tables are`);
  const kernelRange: Range = { addr: load, size: hdr.protectedMode.length };
  let runtime: number;
  if (hdr.relocatable) {
    const base = Math.max(load, hdr.prefAddress);
    runtime = Math.ceil(base / hdr.kernelAlignment) * hdr.kernelAlignment;
  } else {
    runtime = hdr.prefAddress;
  }
  const runtimeRange: Range = { addr: runtime, size: hdr.initSize };

  // The memory map.
  if (opts.e820.length > E820_MAX_ENTRIES) fail(`${opts.e820.length} E820 entries; boot_params holds at most ${E820_MAX_ENTRIES}`);
  for (const e of opts.e820) {
    const ok = [e.addr, e.size].every((v) => Number.isSafeInteger(v) && v >= 0) && Number.isInteger(e.type) && e.type >= 0 && e.type <= 0xffffffff;
    if (!ok) fail(`bad E820 entry ${JSON.stringify(e)}`);
  }

  const ram = ramIntervals(opts.e820);
  for (const [what, r] of [['protected-mode kernel', kernelRange], ['kernel runtime area (init_size from its runtime start)', runtimeRange]] as const) {
    const end = r.addr + r.size;
    if (end > memoryBytes) {
      fail(`the ${what} needs RAM up to ${hex(end)} (${Math.ceil(end / 2 ** 20)} MiB) but the guest has ${hex(memoryBytes)} (${memoryBytes / 2 ** 20} MiB)`);
    }
    if (!covered(ram, r.addr, end)) fail(`the ${what} [${hex(r.addr)}, ${hex(end)}) is not all RAM in the E820 map`);
  }

  // Command line.
  const cmdline = Buffer.from(opts.cmdline, 'utf8');
  if (cmdline.includes(0)) fail('the command line contains a NUL');
  if (cmdline.length > hdr.cmdlineSize) fail(`the command line is ${cmdline.length} bytes; this kernel takes at most ${hdr.cmdlineSize} (cmdline_size)`);
  if (CMDLINE_ADDR + cmdline.length + 1 > CMDLINE_LIMIT) fail(`the command line is ${cmdline.length} bytes; the loader has room for ${CMDLINE_LIMIT - CMDLINE_ADDR - 1}`);

  // The initrd: page-aligned, as high as possible under the limit, in RAM clear of the kernel.
  let initrd: Range | null = null;
  if (opts.initrd !== undefined && opts.initrd.length > 0) {
    const size = opts.initrd.length;
    const limit = Math.min(hdr.initrdAddrMax + 1, memoryBytes, 0x100000000);
    const free = subtract(
      ram.map(([s, e]): [number, number] => [Math.max(s, LOW_AREA_END), Math.min(e, limit)]).filter(([s, e]) => s < e),
      [[kernelRange.addr, kernelRange.addr + kernelRange.size], [runtimeRange.addr, runtimeRange.addr + runtimeRange.size]],
    ).sort((a, b) => b[1] - a[1]);
    for (const [s, e] of free) {
      const addr = Math.floor((e - size) / PAGE_SIZE) * PAGE_SIZE;
      if (addr >= s) {
        initrd = { addr, size };
        break;
      }
    }
    if (initrd === null) {
      fail(`no room for a ${size}-byte initrd: it must lie in E820 RAM between 1 MiB and ${hex(limit)} (initrd_addr_max ${hex(hdr.initrdAddrMax)}, end of RAM ${hex(memoryBytes)}), clear of the kernel [${hex(kernelRange.addr)}, ${hex(kernelRange.addr + kernelRange.size)}) and its runtime area [${hex(runtimeRange.addr)}, ${hex(runtimeRange.addr + runtimeRange.size)})`);
    }
  }

  // boot_params.
  const bp = new Uint8Array(BP_SIZE);
  const v = new DataView(bp.buffer);
  bp.set(hdr.setupHeader, BP_HDR);
  // screen_info: no VGA text console (vgacon gives up when lines or cols is 0).
  v.setUint8(BP_ORIG_VIDEO_MODE, 0);
  v.setUint8(BP_ORIG_VIDEO_COLS, 0);
  v.setUint8(BP_ORIG_VIDEO_LINES, 0);
  v.setUint8(BP_ORIG_VIDEO_ISVGA, 0);
  v.setUint16(BP_ORIG_VIDEO_POINTS, 0, true);
  // Memory above 1 MiB, in KiB, for kernels that fall back from E820: the RAM run starting at 1 MiB.
  const above1M = ram.find(([s, e]) => s <= LOW_AREA_END && e > LOW_AREA_END);
  const altMemK = above1M ? Math.floor((Math.min(above1M[1], memoryBytes, 0x100000000) - LOW_AREA_END) / 1024) : 0;
  v.setUint32(BP_ALT_MEM_K, altMemK, true);
  v.setUint16(BP_EXT_MEM_K, Math.min(altMemK, 0xfc00), true);
  if (opts.acpiRsdp !== undefined) {
    if (hdr.version >= PROTOCOL_ACPI_RSDP) v.setBigUint64(BP_ACPI_RSDP_ADDR, BigInt(opts.acpiRsdp), true);
    else warnings.push(`protocol ${hdr.protocol} has no acpi_rsdp_addr (2.14+): the kernel must find the RSDP by scanning`);
  }
  // Setup header fields the loader fills in.
  v.setUint8(HDR_TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  v.setUint8(HDR_LOADFLAGS, (hdr.loadflags & ~(KEEP_SEGMENTS | CAN_USE_HEAP)) | LOADED_HIGH);
  v.setUint32(HDR_CODE32_START, load, true);
  v.setUint32(HDR_RAMDISK_IMAGE, initrd?.addr ?? 0, true);
  v.setUint32(HDR_RAMDISK_SIZE, initrd?.size ?? 0, true);
  v.setUint32(BP_EXT_RAMDISK_IMAGE, 0, true);
  v.setUint32(BP_EXT_RAMDISK_SIZE, 0, true);
  v.setUint32(HDR_CMD_LINE_PTR, CMDLINE_ADDR, true);
  v.setUint32(BP_EXT_CMD_LINE_PTR, 0, true);
  v.setUint32(HDR_HARDWARE_SUBARCH, SUBARCH_PC, true);
  v.setBigUint64(HDR_HARDWARE_SUBARCH_DATA, 0n, true);
  v.setBigUint64(HDR_SETUP_DATA, 0n, true);
  // E820.
  v.setUint8(BP_E820_ENTRIES, opts.e820.length);
  opts.e820.forEach((e, k) => {
    const o = BP_E820_TABLE + k * E820_ENTRY_SIZE;
    v.setBigUint64(o, BigInt(e.addr), true);
    v.setBigUint64(o + 8, BigInt(e.size), true);
    v.setUint32(o + 16, e.type, true);
  });

  // GDT: null, unused, __BOOT_CS, __BOOT_DS.
  const gdt = new Uint8Array(4 * 8);
  const g = new DataView(gdt.buffer);
  for (const [sel, [lo, hi]] of [[BOOT_CS, BOOT_CS_DESC], [BOOT_DS, BOOT_DS_DESC]] as const) {
    g.setUint32(sel, lo, true);
    g.setUint32(sel + 4, hi, true);
  }

  // Memory.
  mem.load(GDT_ADDR, gdt);
  mem.load(BOOT_PARAMS_ADDR, bp);
  mem.load(CMDLINE_ADDR, Uint8Array.from([...cmdline, 0]));
  mem.load(load, hdr.protectedMode);
  if (initrd !== null && opts.initrd !== undefined) mem.load(initrd.addr, opts.initrd);
  cpu.invalidateAllCode();

  // CPU: the 32-bit boot protocol's entry state.
  cpu.setCr0(CR0_PE | CR0_ET);
  cpu.gdtBase = GDT_ADDR;
  cpu.gdtLimit = gdt.length - 1;
  cpu.idtBase = 0;
  cpu.idtLimit = 0;
  cpu.setSegCache(CS, BOOT_CS, 0, -1, BOOT_CS_ATTR);
  for (const s of [DS, ES, SS, FS, GS]) cpu.setSegCache(s, BOOT_DS, 0, -1, BOOT_DS_ATTR);
  cpu.setCpl(0);
  cpu.setEflags(0x2);
  cpu.regs.fill(0);
  cpu.regs[ESI] = BOOT_PARAMS_ADDR;
  cpu.regs[ESP] = STACK_TOP;
  cpu.eip = load;
  cpu.halted = false;

  return {
    header: hdr,
    kernel: kernelRange,
    kernelRuntime: runtimeRange,
    entry: load,
    bootParams: BOOT_PARAMS_ADDR,
    gdt: GDT_ADDR,
    cmdline: { addr: CMDLINE_ADDR, size: cmdline.length },
    initrd,
    e820Entries: opts.e820.length,
    warnings,
  };
}
