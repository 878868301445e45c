/**
 * The bzImage loader (src/boot/bzimage.ts): a synthetic bzImage — a setup area
 * with a real setup header and a hand-assembled 32-bit "kernel" — loaded and
 * run on the CPU to check the 32-bit boot protocol's entry state and
 * boot_params; header validation; initrd placement; the E820 helpers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CS, DS, ES, FS, GS, SS, EBP, EBX, EDI, ESI } from '../../src/x86/constants.js';
import { Cpu, Exit } from '../../src/x86/cpu.js';
import { GuestMemory } from '../../src/x86/memory.js';
import {
  BOOT_PARAMS_ADDR, CMDLINE_ADDR, E820_ACPI, E820_RAM, E820_RESERVED, GDT_ADDR,
  e820Reserve, loadBzImage, parseBzImage, standardE820, type BzImageOptions, type E820Entry,
} from '../../src/boot/bzimage.js';
import { hex } from '../x86/hex.js';

const MiB = 1 << 20;
const KERNEL_VERSION = '6.1.0-test-686-pae (typevisor@test) #1 SMP';

interface FakeImage {
  payload?: Uint8Array;
  setupSects?: number;
  version?: number;
  loadflags?: number;
  relocatable?: boolean;
  kernelAlignment?: number;
  minAlignment?: number;
  xloadflags?: number;
  prefAddress?: number;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  /** Override syssize (default: the payload's size in 16-byte units). */
  syssize?: number;
}

/** A bzImage: boot sector + setup sectors (setup header at 0x1F1, version string in the setup), then `payload`. */
function fakeBzImage(o: FakeImage = {}): Uint8Array {
  const payload = o.payload ?? hex('f4');
  const sects = o.setupSects ?? 2;
  const setupSize = ((sects || 4) + 1) * 512;
  const b = Buffer.alloc(setupSize + payload.length, 0xcc); // setup code: INT3 filler, never run
  b.fill(0, 0x1f1, 0x290);
  b[0x1f1] = sects;
  b.writeUInt32LE(o.syssize ?? Math.ceil(payload.length / 16), 0x1f4);
  b.writeUInt16LE(0xaa55, 0x1fe);
  b[0x200] = 0xeb; // jmp short: the header ends at 0x202 + 0x6a = 0x26c
  b[0x201] = 0x6a;
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(o.version ?? 0x020f, 0x206);
  b.writeUInt16LE(0x400 - 0x200, 0x20e); // kernel_version
  b.write(KERNEL_VERSION + '\0', 0x400, 'latin1');
  b[0x211] = o.loadflags ?? 0x01;
  b.writeUInt32LE(0x100000, 0x214);
  b.writeUInt32LE(0x57c0, 0x224);
  b.writeUInt32LE(o.initrdAddrMax ?? 0x7fffffff, 0x22c);
  b.writeUInt32LE(o.kernelAlignment ?? 0x1000000, 0x230);
  b[0x234] = o.relocatable ?? true ? 1 : 0;
  b[0x235] = o.minAlignment ?? 13;
  b.writeUInt16LE(o.xloadflags ?? 0, 0x236);
  b.writeUInt32LE(o.cmdlineSize ?? 2047, 0x238);
  b.writeUInt32LE(0, 0x248);
  b.writeUInt32LE(Math.min(payload.length, 16), 0x24c);
  b.writeBigUInt64LE(BigInt(o.prefAddress ?? 0x1000000), 0x258);
  b.writeUInt32LE(o.initSize ?? 0x400000, 0x260);
  b.set(payload, setupSize);
  return new Uint8Array(b);
}

/**
 * The test kernel. It records, at 0x600..: CS DS ES SS at entry, ESI, CR0,
 * EFLAGS, EBP|EDI|EBX, boot_params' e820_entries, the first 4 bytes of the
 * command line, ramdisk_image, ramdisk_size, type_of_loader, the first 4
 * bytes of the initrd, a read at 0xFFFFFFFC (4 GiB limit), e820[0].type,
 * e820[1].size; SGDT at 0x640. Then it reloads DS/ES/SS from the loader's GDT
 * and far-jumps through 0x10, writes "OK!" at 0x63C and halts.
 */
function testKernel(load: number): Uint8Array {
  const head = hex(`
    66 8c c8                ; mov ax, cs
    66 a3 00 06 00 00       ; mov [0x600], ax
    66 8c d8                ; mov ax, ds
    66 a3 02 06 00 00       ; mov [0x602], ax
    66 8c c0                ; mov ax, es
    66 a3 04 06 00 00       ; mov [0x604], ax
    66 8c d0                ; mov ax, ss
    66 a3 06 06 00 00       ; mov [0x606], ax
    89 35 08 06 00 00       ; mov [0x608], esi
    0f 20 c0                ; mov eax, cr0
    a3 0c 06 00 00          ; mov [0x60c], eax
    9c                      ; pushfd
    58                      ; pop eax
    a3 10 06 00 00          ; mov [0x610], eax
    89 e8                   ; mov eax, ebp
    09 f8                   ; or eax, edi
    09 d8                   ; or eax, ebx
    a3 14 06 00 00          ; mov [0x614], eax
    0f b6 86 e8 01 00 00    ; movzx eax, byte [esi+0x1e8]   e820_entries
    a3 18 06 00 00          ; mov [0x618], eax
    8b 9e 28 02 00 00       ; mov ebx, [esi+0x228]          cmd_line_ptr
    8b 03                   ; mov eax, [ebx]
    a3 1c 06 00 00          ; mov [0x61c], eax
    8b 86 18 02 00 00       ; mov eax, [esi+0x218]          ramdisk_image
    a3 20 06 00 00          ; mov [0x620], eax
    8b 86 1c 02 00 00       ; mov eax, [esi+0x21c]          ramdisk_size
    a3 24 06 00 00          ; mov [0x624], eax
    0f b6 86 10 02 00 00    ; movzx eax, byte [esi+0x210]   type_of_loader
    a3 28 06 00 00          ; mov [0x628], eax
    8b 86 18 02 00 00       ; mov eax, [esi+0x218]
    8b 00                   ; mov eax, [eax]                the initrd's first bytes
    a3 2c 06 00 00          ; mov [0x62c], eax
    a1 fc ff ff ff          ; mov eax, [0xfffffffc]         no #GP: 4 GiB segment limit
    a3 30 06 00 00          ; mov [0x630], eax
    8b 86 e0 02 00 00       ; mov eax, [esi+0x2e0]          e820_table[0].type
    a3 34 06 00 00          ; mov [0x634], eax
    8b 86 ec 02 00 00       ; mov eax, [esi+0x2ec]          e820_table[1].size (low dword)
    a3 38 06 00 00          ; mov [0x638], eax
    0f 01 05 40 06 00 00    ; sgdt [0x640]
    66 b8 18 00             ; mov ax, 0x18                  __BOOT_DS from the loader's GDT
    8e d8                   ; mov ds, ax
    8e c0                   ; mov es, ax
    8e d0                   ; mov ss, ax
  `);
  const next = load + head.length + 7;
  const jump = hex(`ea ${[0, 8, 16, 24].map((s) => ((next >>> s) & 0xff).toString(16).padStart(2, '0')).join(' ')} 10 00 ; jmp 0x10:next`);
  const tail = hex(`
    c7 05 3c 06 00 00 4f 4b 21 00   ; mov dword [0x63c], "OK!"
    f4                              ; hlt
  `);
  return Uint8Array.from([...head, ...jump, ...tail]);
}

function machine(memoryBytes: number): { mem: GuestMemory; cpu: Cpu } {
  const mem = new GuestMemory(memoryBytes);
  return { mem, cpu: new Cpu(mem) };
}

function options(memoryBytes: number, extra: Partial<BzImageOptions> = {}): BzImageOptions {
  return { cmdline: 'console=ttyS0 root=/dev/ram0', e820: standardE820(memoryBytes), memoryBytes, ...extra };
}

const initrdBytes = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, k) => (k * 7 + 0x1f) & 0xff);

// ---------------------------------------------------------------- parsing

test('parseBzImage reads the setup header', () => {
  const payload = new Uint8Array(1000).fill(0x90);
  const h = parseBzImage(fakeBzImage({ payload, setupSects: 3, initSize: 0x123000, prefAddress: 0x2000000 }));
  assert.equal(h.version, 0x020f);
  assert.equal(h.protocol, '2.15');
  assert.equal(h.setupSects, 3);
  assert.equal(h.setupSize, 4 * 512);
  assert.equal(h.protectedMode.length, 1000);
  assert.equal(h.syssize, 63);
  assert.equal(h.code32Start, 0x100000);
  assert.equal(h.prefAddress, 0x2000000);
  assert.equal(h.initSize, 0x123000);
  assert.equal(h.relocatable, true);
  assert.equal(h.kernelAlignment, 0x1000000);
  assert.equal(h.minAlignment, 13);
  assert.equal(h.initrdAddrMax, 0x7fffffff);
  assert.equal(h.cmdlineSize, 2047);
  assert.equal(h.headerEnd, 0x26c);
  assert.equal(h.setupHeader.length, 0x26c - 0x1f1);
  assert.equal(h.kernelVersion, KERNEL_VERSION);
  // setup_sects 0 means 4.
  assert.equal(parseBzImage(fakeBzImage({ setupSects: 0 })).setupSize, 5 * 512);
});

test('parseBzImage says what is wrong with a file that is not a usable bzImage', () => {
  const good = fakeBzImage();
  const patch = (f: (b: Buffer) => void): Uint8Array => {
    const b = Buffer.from(good);
    f(b);
    return new Uint8Array(b);
  };
  assert.throws(() => parseBzImage(new Uint8Array(100)), /not a bzImage: 100 bytes is too short/);
  assert.throws(() => parseBzImage(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, ...new Uint8Array(4096)])), /ELF file \(an uncompressed vmlinux\?\)/);
  assert.throws(() => parseBzImage(patch((b) => b.writeUInt16LE(0, 0x1fe))), /not a bzImage: no boot flag 0xaa55/);
  assert.throws(() => parseBzImage(patch((b) => b.write('XdrS', 0x202))), /not a bzImage: no "HdrS" magic/);
  assert.throws(() => parseBzImage(fakeBzImage({ version: 0x0209 })), /boot protocol 2\.09 is too old: need 2\.10 or newer/);
  assert.throws(() => parseBzImage(fakeBzImage({ loadflags: 0 })), /zImage \(LOADED_HIGH clear/);
  assert.throws(() => parseBzImage(good.subarray(0, 1000)), /truncated: setup_sects 2 means 1536 bytes of setup, the file has 1000/);
  assert.throws(() => parseBzImage(fakeBzImage({ setupSects: 2, payload: new Uint8Array(0) })), /no protected-mode kernel/);
  assert.throws(() => parseBzImage(fakeBzImage({ payload: new Uint8Array(64), syssize: 100 })), /truncated: syssize says .* 1600 bytes, the file has 64/);
  assert.throws(() => parseBzImage(fakeBzImage({ kernelAlignment: 0x3000 })), /kernel_alignment 0x3000 is not a power of two/);
  assert.throws(() => parseBzImage(fakeBzImage({ initSize: 0 })), /init_size is 0/);
  assert.throws(() => parseBzImage(patch((b) => (b[0x201] = 0x10))), /setup header ends at 0x212, before init_size/);
});

// ---------------------------------------------------------------- entry state, run on the CPU

test('the kernel starts in flat 32-bit protected mode with ESI at boot_params, and finds its boot_params', () => {
  const memoryBytes = 32 * MiB;
  const { mem, cpu } = machine(memoryBytes);
  const initrd = initrdBytes(300_000);
  const kernel = fakeBzImage({ payload: testKernel(0x100000) });
  const layout = loadBzImage(mem, cpu, kernel, options(memoryBytes, { initrd, cmdline: 'console=ttyS0 quiet' }));
  assert.equal(layout.entry, 0x100000);
  assert.equal(layout.bootParams, BOOT_PARAMS_ADDR);

  // State before the first instruction.
  assert.equal(cpu.eip, 0x100000);
  assert.equal(cpu.segSel[CS], 0x10);
  for (const s of [DS, ES, SS, FS, GS]) assert.equal(cpu.segSel[s], 0x18);
  for (const s of [CS, DS, ES, SS]) {
    assert.equal(cpu.segBase[s], 0);
    assert.equal(cpu.segLimit[s], -1, '4 GiB limit');
  }
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.regs[ESI], BOOT_PARAMS_ADDR);
  assert.equal(cpu.regs[EBX] | cpu.regs[EBP] | cpu.regs[EDI], 0);

  const exit = cpu.run(10_000);
  assert.equal(exit, Exit.Halt, cpu.shutdownReason);
  const dv = mem.dv;
  assert.equal(dv.getUint32(0x63c, true), 0x00214b4f, 'reached the end ("OK!"): the GDT\'s 0x10 and 0x18 descriptors work');
  assert.equal(dv.getUint16(0x600, true), 0x10, 'CS = __BOOT_CS');
  assert.equal(dv.getUint16(0x602, true), 0x18, 'DS = __BOOT_DS');
  assert.equal(dv.getUint16(0x604, true), 0x18, 'ES = __BOOT_DS');
  assert.equal(dv.getUint16(0x606, true), 0x18, 'SS = __BOOT_DS');
  assert.equal(dv.getUint32(0x608, true), BOOT_PARAMS_ADDR, 'ESI = boot_params');
  const cr0 = dv.getUint32(0x60c, true);
  assert.equal(cr0 & 1, 1, 'CR0.PE');
  assert.equal(cr0 >>> 31, 0, 'paging off');
  assert.equal(dv.getUint32(0x610, true) & 0x200, 0, 'interrupts off');
  assert.equal(dv.getUint32(0x614, true), 0, 'EBP = EDI = EBX = 0');
  assert.equal(dv.getUint32(0x618, true), 4, 'e820_entries');
  assert.equal(Buffer.from(mem.read(0x61c, 4)).toString('latin1'), 'cons', 'cmd_line_ptr leads to the command line');
  assert.equal(dv.getUint32(0x620, true), layout.initrd!.addr, 'ramdisk_image');
  assert.equal(dv.getUint32(0x624, true), 300_000, 'ramdisk_size');
  assert.equal(dv.getUint32(0x628, true), 0xff, 'type_of_loader');
  assert.deepEqual([...mem.read(0x62c, 4)], [...initrd.subarray(0, 4)], 'the initrd is where ramdisk_image says');
  assert.equal(dv.getUint32(0x630, true), 0xffffffff, 'a read at 4 GiB - 4 is inside the segment (the empty bus answers)');
  assert.equal(dv.getUint32(0x634, true), E820_RAM, 'e820_table[0] is RAM');
  assert.equal(dv.getUint32(0x638, true), 0xa0000 - 0x9fc00, 'e820_table[1] is the EBDA');
  assert.equal(dv.getUint16(0x640, true), 4 * 8 - 1, 'GDT limit');
  assert.equal(dv.getUint32(0x642, true), GDT_ADDR, 'GDT base');
  assert.deepEqual([dv.getUint32(GDT_ADDR + 0x10, true), dv.getUint32(GDT_ADDR + 0x14, true)], [0x0000ffff, 0x00cf9b00], '__BOOT_CS: flat 4 GiB execute/read');
  assert.deepEqual([dv.getUint32(GDT_ADDR + 0x18, true), dv.getUint32(GDT_ADDR + 0x1c, true)], [0x0000ffff, 0x00cf9300], '__BOOT_DS: flat 4 GiB read/write');
});

test('boot_params holds the setup header, the loader\'s fields, the E820 map and a no-VGA screen_info', () => {
  const memoryBytes = 64 * MiB;
  const { mem, cpu } = machine(memoryBytes);
  const kernel = fakeBzImage({ payload: testKernel(0x100000) });
  const e820 = e820Reserve(standardE820(memoryBytes), 0xe0000, 0x10000, E820_ACPI);
  const cmdline = 'console=ttyS0 init=/init rdinit=/init loglevel=8';
  const layout = loadBzImage(mem, cpu, kernel, options(memoryBytes, { e820, cmdline, initrd: initrdBytes(5000), acpiRsdp: 0xe0000 }));
  const bp = mem.read(BOOT_PARAMS_ADDR, 4096);
  const v = new DataView(bp.buffer);

  // The header as in the file, but for the fields the loader writes.
  const written = new Set<number>();
  for (const [off, len] of [[0x210, 1], [0x211, 1], [0x214, 4], [0x218, 4], [0x21c, 4], [0x228, 4], [0x23c, 4], [0x240, 8], [0x250, 8]]) {
    for (let k = 0; k < len; k++) written.add(off + k);
  }
  for (let off = 0x1f1; off < 0x26c; off++) {
    if (!written.has(off)) assert.equal(bp[off], kernel[off], `header byte ${off.toString(16)} copied`);
  }
  assert.equal(bp[0x210], 0xff, 'type_of_loader');
  assert.equal(bp[0x211], 0x01, 'loadflags: LOADED_HIGH, no KEEP_SEGMENTS, no CAN_USE_HEAP');
  assert.equal(v.getUint32(0x214, true), 0x100000, 'code32_start');
  assert.equal(v.getUint32(0x228, true), CMDLINE_ADDR, 'cmd_line_ptr');
  assert.equal(v.getUint32(0x23c, true), 0, 'hardware_subarch: PC');
  assert.equal(bp[0x1ef], 0, 'sentinel stays 0');
  assert.equal(v.getUint32(0x218, true), layout.initrd!.addr);
  assert.equal(v.getUint32(0x21c, true), 5000);
  assert.equal(v.getBigUint64(0x070, true), 0xe0000n, 'acpi_rsdp_addr');
  assert.equal(v.getUint32(0x1e0, true), (memoryBytes - MiB) / 1024, 'alt_mem_k');
  assert.equal(v.getUint16(0x002, true), 0xfc00, 'ext_mem_k (capped)');
  // screen_info: no VGA.
  assert.equal(bp[0x00f], 0, 'orig_video_isVGA');
  assert.equal(bp[0x006] | bp[0x007] | bp[0x00e], 0, 'orig_video_mode, cols, lines');

  // Command line, NUL-terminated.
  assert.equal(Buffer.from(mem.read(CMDLINE_ADDR, cmdline.length + 1)).toString('latin1'), cmdline + '\0');
  assert.deepEqual(layout.cmdline, { addr: CMDLINE_ADDR, size: cmdline.length });

  // E820 table: 20-byte entries.
  assert.equal(bp[0x1e8], e820.length);
  const table: E820Entry[] = [];
  for (let k = 0; k < bp[0x1e8]; k++) {
    const o = 0x2d0 + k * 20;
    table.push({ addr: Number(v.getBigUint64(o, true)), size: Number(v.getBigUint64(o + 8, true)), type: v.getUint32(o + 16, true) });
  }
  assert.deepEqual(table, e820);

  // The kernel's protected-mode part is at 1 MiB; the setup code is not loaded.
  assert.deepEqual([...mem.read(0x100000, 16)], [...kernel.subarray(3 * 512, 3 * 512 + 16)]);
});

test('the initrd goes page-aligned as high as it can, clear of the kernel and below initrd_addr_max', () => {
  const size = 3 * MiB + 123;
  const place = (memoryBytes: number, image: FakeImage = {}, extra: Partial<BzImageOptions> = {}): number => {
    const { mem, cpu } = machine(memoryBytes);
    const l = loadBzImage(mem, cpu, fakeBzImage(image), options(memoryBytes, { initrd: initrdBytes(size), ...extra }));
    assert.deepEqual([...mem.read(l.initrd!.addr, 64)], [...initrdBytes(64)]);
    assert.equal(l.initrd!.size, size);
    return l.initrd!.addr;
  };
  const top = (end: number): number => Math.floor((end - size) / 4096) * 4096;
  // Runtime area [16 MiB, 20 MiB): the top of a 64 MiB guest is free.
  assert.equal(place(64 * MiB), top(64 * MiB));
  // A 22 MiB guest has 2 MiB above the runtime area: too little, so below 16 MiB.
  assert.equal(place(22 * MiB), top(16 * MiB));
  // initrd_addr_max lower than the end of RAM.
  assert.equal(place(64 * MiB, { initrdAddrMax: 48 * MiB - 1 }), top(48 * MiB));
  // Reserved E820 ranges at the top (e.g. ACPI tables) are avoided.
  const e820 = e820Reserve(standardE820(64 * MiB), 62 * MiB, 2 * MiB, E820_ACPI);
  assert.equal(place(64 * MiB, {}, { e820 }), top(62 * MiB));
  // A bigger runtime area: init_size 40 MiB from 16 MiB fills 64 MiB up to 56 MiB.
  assert.equal(place(64 * MiB, { initSize: 40 * MiB }), top(64 * MiB));
  assert.equal(place(58 * MiB, { initSize: 40 * MiB }), top(16 * MiB));
  // No room anywhere.
  const { mem, cpu } = machine(20 * MiB);
  assert.throws(() => loadBzImage(mem, cpu, fakeBzImage(), options(20 * MiB, { initrd: initrdBytes(15 * MiB) })), /no room for a 15728640-byte initrd/);
});

test('a relocatable kernel can be loaded elsewhere; a non-relocatable one cannot', () => {
  const memoryBytes = 32 * MiB;
  const { mem, cpu } = machine(memoryBytes);
  const load = 0x400000;
  const l = loadBzImage(mem, cpu, fakeBzImage({ payload: testKernel(load) }), options(memoryBytes, { loadAddress: load }));
  assert.equal(l.entry, load);
  assert.equal(cpu.eip, load);
  assert.equal(mem.dv.getUint32(BOOT_PARAMS_ADDR + 0x214, true), load, 'code32_start follows the kernel');
  assert.deepEqual(l.kernelRuntime, { addr: 0x1000000, size: 0x400000 }, 'runtime start: pref_address (above the load address)');
  assert.equal(cpu.run(10_000), Exit.Halt);
  assert.equal(mem.dv.getUint32(0x63c, true), 0x00214b4f);

  // Loaded above pref_address: the runtime start is the load address aligned up to kernel_alignment.
  const big = machine(64 * MiB);
  const above = loadBzImage(big.mem, big.cpu, fakeBzImage({ kernelAlignment: 0x400000 }), options(64 * MiB, { loadAddress: 0x1202000 }));
  assert.deepEqual(above.kernelRuntime, { addr: 0x1400000, size: 0x400000 });

  const fixed = fakeBzImage({ relocatable: false });
  assert.throws(() => loadBzImage(mem, cpu, fixed, options(memoryBytes, { loadAddress: load })), /not relocatable \(relocatable_kernel = 0\): it must be loaded at code32_start 0x100000/);
  assert.throws(() => loadBzImage(mem, cpu, fakeBzImage(), options(memoryBytes, { loadAddress: 0x401000 })), /not aligned to 2\^min_alignment = 0x2000/);
  assert.throws(() => loadBzImage(mem, cpu, fakeBzImage(), options(memoryBytes, { loadAddress: 0x80000 })), /below 1 MiB/);
});

test('loadBzImage refuses what the kernel could not boot with', () => {
  const { mem, cpu } = machine(32 * MiB);
  const image = fakeBzImage();
  assert.throws(() => loadBzImage(mem, cpu, fakeBzImage({ xloadflags: 0x1 }), options(32 * MiB)), /x86-64 kernel .*IA-32 only/);
  assert.throws(() => loadBzImage(mem, cpu, fakeBzImage({ initSize: 20 * MiB }), options(32 * MiB)), /runtime area .* needs RAM up to 0x2400000 \(36 MiB\) but the guest has 0x2000000 \(32 MiB\)/);
  const holed = e820Reserve(standardE820(32 * MiB), 18 * MiB, MiB, E820_RESERVED);
  assert.throws(() => loadBzImage(mem, cpu, image, options(32 * MiB, { e820: holed })), /runtime area .* is not all RAM in the E820 map/);
  assert.throws(() => loadBzImage(mem, cpu, image, options(32 * MiB, { cmdline: 'x'.repeat(2048) })), /command line is 2048 bytes; this kernel takes at most 2047/);
  assert.throws(() => loadBzImage(mem, cpu, fakeBzImage({ cmdlineSize: 255 }), options(32 * MiB, { cmdline: 'y'.repeat(256) })), /at most 255/);
  assert.throws(() => loadBzImage(mem, cpu, image, options(32 * MiB, { cmdline: 'a\0b' })), /contains a NUL/);
  const many = Array.from({ length: 129 }, (_, k) => ({ addr: k * 4096, size: 4096, type: E820_RAM }));
  assert.throws(() => loadBzImage(mem, cpu, image, options(32 * MiB, { e820: many })), /129 E820 entries; boot_params holds at most 128/);
  assert.throws(() => loadBzImage(mem, cpu, image, options(64 * MiB)), /memoryBytes .* at most the guest memory/);
  // A kernel older than 2.14 cannot take acpi_rsdp_addr: a warning, not an error.
  const old = loadBzImage(mem, cpu, fakeBzImage({ version: 0x020c }), options(32 * MiB, { acpiRsdp: 0xe0000 }));
  assert.match(old.warnings.join('\n'), /protocol 2\.12 has no acpi_rsdp_addr/);
  assert.equal(mem.dv.getBigUint64(BOOT_PARAMS_ADDR + 0x70, true), 0n);
});

test('an exception before the kernel has an IDT is a triple fault, not a wild jump', () => {
  const { mem, cpu } = machine(32 * MiB);
  loadBzImage(mem, cpu, fakeBzImage({ payload: hex('0f 0b') }), options(32 * MiB)); // ud2
  assert.equal(cpu.run(100), Exit.Shutdown);
  assert.match(cpu.shutdownReason, /triple fault|fault/);
});

// ---------------------------------------------------------------- E820

test('standardE820 gives the PC map; e820Reserve carves ranges out of it', () => {
  assert.deepEqual(standardE820(128 * MiB), [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
    { addr: 0x100000, size: 127 * MiB, type: E820_RAM },
  ]);
  assert.throws(() => standardE820(MiB), /from 2 MiB to 4 GiB/);
  assert.deepEqual(e820Reserve(standardE820(128 * MiB), 0x7f00000, 0x10000, E820_ACPI).slice(3), [
    { addr: 0x100000, size: 0x7e00000, type: E820_RAM },
    { addr: 0x7f00000, size: 0x10000, type: E820_ACPI },
    { addr: 0x7f10000, size: 0xf0000, type: E820_RAM },
  ]);
});
