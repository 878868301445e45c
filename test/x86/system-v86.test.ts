/**
 * Virtual-8086 mode: entered from ring 0 with an IRET whose EFLAGS image has
 * VM set; real-mode style code and addressing; IOPL-sensitive instructions
 * (CLI, INT n) trapping with #GP(0) to the ring-0 monitor with the v86
 * segment registers on its stack; IRET back; and, at IOPL 3, INT n going
 * straight through the IDT, CLI allowed and IRET inside the mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { CS } from '../../src/x86/constants.js';
import { EFLAGS_VM, INT_GATE32, KCODE, KSTACK_TOP, le32, SysMachine, gateDesc } from './system-machine.js';

const V86_CS = 0x0800, V86_SS = 0x0700, V86_DS = 0x0900;

/** Ring-0 code that enters virtual-8086 mode at 0800:0000, SS:SP = 0700:1000, DS = 0900. */
function enterV86(eflags: number, gs: number): number[] {
  return [
    0x68, ...le32(gs), //             push gs
    0x6a, 0x00, //                    push fs
    0x68, 0x00, 0x09, 0x00, 0x00, //  push ds = 0x0900
    0x6a, 0x00, //                    push es
    0x68, 0x00, 0x07, 0x00, 0x00, //  push ss = 0x0700
    0x68, 0x00, 0x10, 0x00, 0x00, //  push esp = 0x1000
    0x68, ...le32(eflags), //         push eflags (VM set)
    0x68, 0x00, 0x08, 0x00, 0x00, //  push cs = 0x0800
    0x6a, 0x00, //                    push eip = 0
    0xcf, //                          iretd
  ];
}

test('v86 mode at IOPL 0: CLI and INT n trap to the ring-0 monitor, which returns with IRET', () => {
  const m = new SysMachine();
  m.load(0x10000, enterV86(EFLAGS_VM | 0x2, 0));
  // The #GP monitor: note the data segments it was entered with, log the frame
  // (10 dwords), skip CLI (1 byte) or INT n (2 bytes) and return; stop on anything else.
  m.handler(13, 0x10100);
  m.load(0x10100, [
    0x36, 0x8c, 0x1d, 0x08, 0x60, 0x00, 0x00, // 10100: mov ss:[0x6008], ds
    0x36, 0x8c, 0x05, 0x0a, 0x60, 0x00, 0x00, // 10107: mov ss:[0x600a], es
    0x36, 0x8c, 0x25, 0x0c, 0x60, 0x00, 0x00, // 1010e: mov ss:[0x600c], fs
    0x36, 0x8c, 0x2d, 0x0e, 0x60, 0x00, 0x00, // 10115: mov ss:[0x600e], gs
    0x66, 0xb8, 0x10, 0x00, //                   1011c: mov ax, KDATA
    0x8e, 0xd8, //                               10120: mov ds, ax
    0x8e, 0xc0, //                               10122: mov es, ax
    0x89, 0xe6, //                               10124: mov esi, esp
    0xa1, 0x00, 0x60, 0x00, 0x00, //             10126: mov eax, [0x6000]      (count)
    0x6b, 0xf8, 0x28, //                         1012b: imul edi, eax, 40
    0x81, 0xc7, 0x00, 0x61, 0x00, 0x00, //       1012e: add edi, 0x6100
    0xb9, 0x0a, 0x00, 0x00, 0x00, //             10134: mov ecx, 10
    0xfc, //                                     10139: cld
    0xf3, 0xa5, //                               1013a: rep movsd
    0xff, 0x05, 0x00, 0x60, 0x00, 0x00, //       1013c: inc dword [0x6000]
    0x0f, 0xb7, 0x44, 0x24, 0x08, //             10142: movzx eax, word [esp+8]  (CS)
    0xc1, 0xe0, 0x04, //                         10147: shl eax, 4
    0x03, 0x44, 0x24, 0x04, //                   1014a: add eax, [esp+4]         (+ EIP)
    0x8a, 0x18, //                               1014e: mov bl, [eax]            (the opcode)
    0x80, 0xfb, 0xfa, //                         10150: cmp bl, 0xfa  (cli)
    0x74, 0x0a, //                               10153: je skip1
    0x80, 0xfb, 0xcd, //                         10155: cmp bl, 0xcd  (int n)
    0x74, 0x01, //                               10158: je skip2
    0xf4, //                                     1015a: hlt
    0xff, 0x44, 0x24, 0x04, //                   1015b: skip2: inc dword [esp+4]
    0xff, 0x44, 0x24, 0x04, //                   1015f: skip1: inc dword [esp+4]
    0x83, 0xc4, 0x04, //                         10163: add esp, 4  (error code)
    0xcf, //                                     10166: iretd       (back to v86 mode)
  ]);
  m.load(0x8000, [
    0xb8, 0x34, 0x12, //                   0000: mov ax, 0x1234
    0xa3, 0x10, 0x00, //                   0003: mov [0x10], ax      (DS = 0900: linear 0x9010)
    0x50, //                               0006: push ax             (SS = 0700: linear 0x7ffe)
    0xfa, //                               0007: cli                 (IOPL 0: #GP(0))
    0x89, 0x26, 0x12, 0x00, //             0008: mov [0x12], sp
    0xcd, 0x21, //                         000c: int 0x21            (IOPL 0: #GP(0))
    0xc7, 0x06, 0x14, 0x00, 0x78, 0x56, // 000e: mov word [0x14], 0x5678
    0xf4, //                               0014: hlt                 (CPL 3: #GP(0), ends the test)
  ]);
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.cpu.eip, 0x1015b, 'stopped on the monitor\'s HLT');

  assert.equal(m.r32(0x6000), 3, 'three traps: CLI, INT 0x21, HLT');
  // Frames: error code, EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS.
  // #GP frames: EFLAGS has VM and RF (fault-class exceptions push RF set).
  const rest = [0x30002, 0xffe, V86_SS, 0, V86_DS, 0, 0];
  assert.deepEqual(m.dwords(0x6100, 10), [0, 0x07, V86_CS, ...rest]);
  assert.deepEqual(m.dwords(0x6128, 10), [0, 0x0c, V86_CS, ...rest]);
  assert.deepEqual(m.dwords(0x6150, 10), [0, 0x14, V86_CS, ...rest]);
  assert.deepEqual([m.r16(0x6008), m.r16(0x600a), m.r16(0x600c), m.r16(0x600e)], [0, 0, 0, 0], 'data segments nulled');
  // The v86 code ran with real-mode addressing.
  assert.equal(m.r16(0x9010), 0x1234);
  assert.equal(m.r16(0x7ffe), 0x1234);
  assert.equal(m.r16(0x9012), 0xffe);
  assert.equal(m.r16(0x9014), 0x5678);
  const c = m.cpu;
  assert.equal(c.cpl, 0);
  assert.equal(c.v86Mode, false);
  assert.equal(c.segSel[CS], KCODE);
  assert.equal(c.regs[4], KSTACK_TOP - 40);
});

test('v86 mode at IOPL 3: INT n through the IDT and back, CLI, PUSHF and IRET inside the mode', () => {
  const m = new SysMachine();
  m.load(0x10000, enterV86(EFLAGS_VM | 0x3202, 0x0a00));
  // INT 0x21: a DPL-3 interrupt gate to a ring-0 handler that logs its 9-dword frame and sets AX.
  m.setGate(0x21, gateDesc(KCODE, 0x10300, INT_GATE32, 3));
  m.load(0x10300, [
    0x66, 0xb8, 0x10, 0x00, //       mov ax, KDATA
    0x8e, 0xd8, //                   mov ds, ax
    0x8e, 0xc0, //                   mov es, ax
    0x89, 0xe6, //                   mov esi, esp
    0xbf, 0x00, 0x61, 0x00, 0x00, // mov edi, 0x6100
    0xb9, 0x09, 0x00, 0x00, 0x00, // mov ecx, 9
    0xfc, //                         cld
    0xf3, 0xa5, //                   rep movsd
    0xb8, 0xef, 0xbe, 0x00, 0x00, // mov eax, 0xbeef
    0xcf, //                         iretd
  ]);
  m.load(0x8000, [
    0xcd, 0x21, //                         0000: int 0x21
    0xa3, 0x16, 0x00, //                   0002: mov [0x16], ax
    0x9c, //                               0005: pushf
    0x58, //                               0006: pop ax
    0xa3, 0x18, 0x00, //                   0007: mov [0x18], ax
    0xfa, //                               000a: cli              (allowed at IOPL 3)
    0x9c, //                               000b: pushf
    0x0e, //                               000c: push cs
    0x68, 0x11, 0x00, //                   000d: push 0x0011
    0xcf, //                               0010: iret             (16-bit, stays in v86 mode)
    0xc7, 0x06, 0x1a, 0x00, 0x21, 0x43, // 0011: mov word [0x1a], 0x4321
    0xf4, //                               0017: hlt              (#GP(0) to the default stub)
  ]);
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 13);
  // INT 0x21's frame: EIP CS EFLAGS ESP SS ES DS FS GS.
  assert.deepEqual(m.dwords(0x6100, 9), [0x02, V86_CS, 0x23202, 0x1000, V86_SS, 0, V86_DS, 0, 0x0a00]);
  assert.equal(m.r16(0x9016), 0xbeef, 'AX from the handler');
  assert.equal(m.r16(0x9018), 0x3202, 'PUSHF in v86 mode shows IOPL 3 and IF');
  assert.equal(m.r16(0x901a), 0x4321, 'the 16-bit IRET returned to 0011');
  // The #GP frame of the final HLT: IF cleared by CLI, GS kept through the INT/IRET round trip.
  const [err, eip, cs, fl, sp, ss, es, ds, fs, gs] = m.stack(10);
  assert.deepEqual([err, eip, cs, fl, sp, ss, es, ds, fs, gs], [0, 0x17, V86_CS, 0x33002, 0x1000, V86_SS, 0, V86_DS, 0, 0x0a00]);
});
