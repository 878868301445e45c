/**
 * Privilege transitions: ring 3 -> ring 0 through an interrupt gate and back
 * with IRET, call gates with parameter copying and RETF to ring 3, direct far
 * transfers to conforming and non-conforming code, and IRET's EFLAGS rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { CS, DS, ES, GS } from '../../src/x86/constants.js';
import {
  CALL_GATE16, CALL_GATE32, CODE_XR_CONFORMING, INT_GATE16, le32, DFSTACK_TOP, FREE_SEL, gateDesc, KCODE, KCODE_BASE, KDATA, KSTACK_TOP, segDesc, STUBS,
  SysMachine, TASK_GATE, TSS, TSS2, TSS2_SEL, TSS_F, UCODE_BASE, UDATA, USTACK_TOP,
} from './system-machine.js';

/** Kernel code that copies the 6 dwords at ESP to 0x6100 (later events reuse the ring-0 stack). */
const COPY_FRAME = [
  0x89, 0xe6, //                   mov esi, esp
  0xbf, 0x00, 0x61, 0x00, 0x00, // mov edi, 0x6100
  0xb9, 0x06, 0x00, 0x00, 0x00, // mov ecx, 6
  0xfc, //                         cld
  0xf3, 0xa5, //                   rep movsd
];

/** Vector 0x81: a DPL-3 gate to its HLT stub, the way user code ends a test. */
function withExitGate(m: SysMachine): void {
  m.handler(0x81, STUBS + 0x81 * 16, 3);
}

test('ring 3 -> ring 0 through an interrupt gate and back with IRET', () => {
  const m = new SysMachine();
  withExitGate(m);
  m.handler(0x80, KCODE_BASE, 3);
  m.load(KCODE_BASE, [
    ...COPY_FRAME,
    0x89, 0x25, 0x00, 0x60, 0x00, 0x00, // mov [0x6000], esp   (DS is still the user's)
    0xb9, 0x10, 0x00, 0x00, 0x00, //       mov ecx, KDATA
    0x8e, 0xd9, //                         mov ds, ecx         (DPL 0: IRET to ring 3 must null it)
    0xcf, //                               iretd
  ]);
  m.load(UCODE_BASE, [
    0xb8, 0x11, 0x11, 0x11, 0x11, //             20000: mov eax, 0x11111111
    0xcd, 0x80, //                               20005: int 0x80
    0x26, 0x89, 0x25, 0x10, 0x60, 0x00, 0x00, // 20007: mov es:[0x6010], esp
    0xa1, 0x00, 0x60, 0x00, 0x00, //             2000e: mov eax, [0x6000]  (DS is null now: #GP(0))
  ]);
  m.start(3, UCODE_BASE, 0x202);
  assert.equal(m.run(), Exit.Halt);

  // The ring-0 frame of INT 0x80, on the TSS's ESP0 stack: EIP CS EFLAGS ESP SS.
  assert.equal(m.r32(0x6000), KSTACK_TOP - 20);
  assert.deepEqual(m.dwords(0x6100, 5), [0x20007, 0x1b, 0x202, USTACK_TOP, UDATA]);
  // Back in ring 3 with the user stack.
  assert.equal(m.r32(0x6010), USTACK_TOP);
  // IRET nulled DS (DPL 0 < CPL 3) and kept ES; the access through DS faulted with #GP(0).
  assert.equal(m.haltedVector(), 13);
  const c = m.cpu;
  assert.equal(c.segSel[DS], 0);
  assert.equal(c.segSel[ES], UDATA);
  assert.equal(c.cpl, 0);
  assert.equal(c.regs[4], KSTACK_TOP - 24);
  assert.deepEqual(m.stack(6), [0, 0x2000e, 0x1b, 0x10202, USTACK_TOP, UDATA]);
});

test('call gate to ring 0 copies parameters; RETF 8 returns to ring 3 and pops them on both stacks', () => {
  const m = new SysMachine();
  withExitGate(m);
  const GATE = FREE_SEL; // DPL 3, 2 dword parameters, to KCODE:0x10100
  m.setDesc(GATE, gateDesc(KCODE, 0x10100, CALL_GATE32, 3, 2));
  m.load(0x10100, [
    ...COPY_FRAME,
    0x26, 0x89, 0x25, 0x00, 0x60, 0x00, 0x00, // mov es:[0x6000], esp
    0x8b, 0x44, 0x24, 0x08, //                   mov eax, [esp+8]       (parameter 0)
    0x26, 0xa3, 0x04, 0x60, 0x00, 0x00, //       mov es:[0x6004], eax
    0xb9, 0x10, 0x00, 0x00, 0x00, //             mov ecx, KDATA
    0x8e, 0xd9, //                               mov ds, ecx
    0xca, 0x08, 0x00, //                         retf 8
  ]);
  m.load(0x20100, [
    0x68, 0x01, 0x00, 0xaa, 0xaa, //             20100: push 0xaaaa0001   (parameter 1)
    0x68, 0x02, 0x00, 0xbb, 0xbb, //             20105: push 0xbbbb0002   (parameter 0)
    0x9a, 0x00, 0x00, 0x00, 0x00, 0x43, 0x00, // 2010a: call 0x43:0       (the gate, RPL 3)
    0x26, 0x89, 0x25, 0x10, 0x60, 0x00, 0x00, // 20111: mov es:[0x6010], esp
    0xcd, 0x81, //                               20118: int 0x81
  ]);
  m.start(3, 0x20100);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 0x81);
  // Inner stack: EIP CS param0 param1 ESP SS, below ESP0.
  assert.equal(m.r32(0x6000), KSTACK_TOP - 24);
  assert.deepEqual(m.dwords(0x6100, 6), [0x20111, 0x1b, 0xbbbb0002, 0xaaaa0001, USTACK_TOP - 8, UDATA]);
  assert.equal(m.r32(0x6004), 0xbbbb0002);
  // RETF 8 released the parameters on the caller's stack too.
  assert.equal(m.r32(0x6010), USTACK_TOP);
  assert.equal(m.cpu.segSel[DS], 0, 'DS (DPL 0) nulled by the return to ring 3');
  assert.equal(m.cpu.segSel[GS], UDATA);
  assert.deepEqual(m.stack(5), [0x2011a, 0x1b, 0x2, USTACK_TOP, UDATA]);
});

test('call gate faults: gate DPL, not present, bad inner stack', () => {
  const cases: { name: string; setup: (m: SysMachine) => void; vector: number; error: number }[] = [
    { name: 'gate DPL 0 from ring 3', setup: (m) => m.setDesc(FREE_SEL, gateDesc(KCODE, 0x10100, CALL_GATE32, 0)), vector: 13, error: FREE_SEL },
    { name: 'gate not present', setup: (m) => m.setDesc(FREE_SEL, gateDesc(KCODE, 0x10100, CALL_GATE32, 3, 0, false)), vector: 11, error: FREE_SEL },
    {
      name: 'null SS0 in the TSS',
      setup: (m) => { m.setDesc(FREE_SEL, gateDesc(KCODE, 0x10100, CALL_GATE32, 3)); m.w32(TSS + TSS_F.ss0, 0); },
      vector: 10, error: 0,
    },
    {
      name: 'SS0 with the wrong RPL',
      setup: (m) => { m.setDesc(FREE_SEL, gateDesc(KCODE, 0x10100, CALL_GATE32, 3)); m.w32(TSS + TSS_F.ss0, KDATA | 3); },
      vector: 10, error: KDATA,
    },
    {
      name: 'gate to a data segment',
      setup: (m) => m.setDesc(FREE_SEL, gateDesc(KDATA, 0x10100, CALL_GATE32, 3)),
      vector: 13, error: KDATA,
    },
  ];
  for (const t of cases) {
    const m = new SysMachine();
    // A #TS about the ring-0 stack cannot use that stack: take it in a task of its own.
    m.setGate(10, gateDesc(TSS2_SEL, 0, TASK_GATE, 0));
    m.w32(TSS2 + TSS_F.eip, STUBS + 10 * 16);
    m.w32(TSS2 + TSS_F.eflags, 0x2);
    m.w32(TSS2 + TSS_F.esp, DFSTACK_TOP);
    m.w32(TSS2 + TSS_F.cs, KCODE);
    for (const f of [TSS_F.ss, TSS_F.ds, TSS_F.es]) m.w32(TSS2 + f, KDATA);
    t.setup(m);
    m.load(0x20100, [
      0x9a, 0x00, 0x00, 0x00, 0x00, 0x43, 0x00, // call 0x43:0
    ]);
    m.start(3, 0x20100);
    assert.equal(m.run(), Exit.Halt, t.name);
    assert.equal(m.haltedVector(), t.vector, t.name);
    // The fault is reported at the CALL, with nothing of the transfer done.
    if (t.vector === 10) {
      assert.deepEqual(m.stack(1), [t.error], t.name);
      assert.equal(m.r32(TSS + TSS_F.eip), 0x20100, t.name);
      assert.equal(m.r32(TSS + TSS_F.esp), USTACK_TOP, t.name);
      assert.equal(m.r32(TSS + TSS_F.cs), 0x1b, t.name);
    } else {
      assert.deepEqual(m.stack(6), [t.error, 0x20100, 0x1b, 0x10002, USTACK_TOP, UDATA], t.name);
    }
  }
});

test('far CALL to conforming code stays at CPL 3; far JMP to ring-0 code is #GP(selector)', () => {
  const m = new SysMachine();
  const CONF = 0x58;
  m.setDesc(CONF, segDesc(0, 0xffffffff, CODE_XR_CONFORMING, 0));
  m.load(0x10200, [
    0x26, 0x8c, 0x0d, 0x20, 0x60, 0x00, 0x00, // mov es:[0x6020], cs
    0xcb, //                                     retf
  ]);
  m.load(0x20200, [
    0x9a, 0x00, 0x02, 0x01, 0x00, 0x5b, 0x00, // 20200: call 0x5b:0x10200
    0x26, 0x89, 0x25, 0x10, 0x60, 0x00, 0x00, // 20207: mov es:[0x6010], esp
    0xea, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00, // 2020e: jmp 0x08:0x10000
  ]);
  m.start(3, 0x20200);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.r16(0x6020), 0x5b, 'CS.RPL = CPL = 3 in conforming code');
  assert.equal(m.r32(0x6010), USTACK_TOP);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(3), [KCODE, 0x2020e, 0x1b]);
  assert.ok((m.descHi(CONF) & 0x100) !== 0, 'accessed bit set');
});

test('IRET at CPL 3 cannot change IF or IOPL; IRET at CPL 0 can', () => {
  const m = new SysMachine();
  withExitGate(m);
  m.handler(0x80, KCODE_BASE, 3);
  m.load(0x20300, [
    0x9c, //                               20300: pushfd
    0x58, //                               20301: pop eax
    0x25, 0xff, 0xfd, 0xff, 0xff, //       20302: and eax, ~IF
    0x0d, 0x00, 0x30, 0x00, 0x00, //       20307: or eax, IOPL3
    0x50, //                               2030c: push eax
    0x0e, //                               2030d: push cs
    0x68, 0x14, 0x03, 0x02, 0x00, //       2030e: push 0x20314
    0xcf, //                               20313: iretd        (same privilege)
    0x9c, //                               20314: pushfd
    0x58, //                               20315: pop eax
    0x26, 0xa3, 0x00, 0x60, 0x00, 0x00, // 20316: mov es:[0x6000], eax
    0xcd, 0x80, //                         2031c: int 0x80
  ]);
  m.load(KCODE_BASE, [
    0x6a, 0x23, //                         push UDATA
    0x68, 0x00, 0xff, 0x02, 0x00, //       push 0x2ff00
    0x68, 0x02, 0x30, 0x00, 0x00, //       push 0x3002    (IOPL 3, IF 0)
    0x6a, 0x1b, //                         push UCODE
    0x68, 0x00, 0x04, 0x02, 0x00, //       push 0x20400
    0xcf, //                               iretd          (to ring 3)
  ]);
  m.load(0x20400, [
    0x9c, //                               pushfd
    0x58, //                               pop eax
    0x26, 0xa3, 0x04, 0x60, 0x00, 0x00, // mov es:[0x6004], eax
    0xcd, 0x81, //                         int 0x81
  ]);
  m.start(3, 0x20300, 0x202);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 0x81);
  assert.equal(m.r32(0x6000), 0x202, 'IF kept, IOPL unchanged at CPL 3');
  assert.equal(m.r32(0x6004), 0x3002, 'IOPL and IF loaded at CPL 0');
  assert.equal(m.cpu.segSel[CS], KCODE);
});

test('16-bit interrupt and call gates push 16-bit frames; IRET and RETF with a 16-bit operand return through them', () => {
  const m = new SysMachine();
  withExitGate(m);
  m.setGate(0x82, gateDesc(KCODE, 0x9100, INT_GATE16, 3));
  m.setDesc(FREE_SEL + 8, gateDesc(KCODE, 0x9200, CALL_GATE16, 3, 1)); // selector 0x48: one word of parameters
  m.load(0x8000, [
    0xbc, 0x00, 0x90, 0x00, 0x00, //             08000: mov esp, 0x9000
    0xcd, 0x82, //                               08005: int 0x82
    0x26, 0x89, 0x25, 0x10, 0x60, 0x00, 0x00, // 08007: mov es:[0x6010], esp
    0x66, 0x68, 0x55, 0x44, //                   0800e: push word 0x4455
    0x9a, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x00, // 08012: call 0x4b:0
    0x26, 0x89, 0x25, 0x14, 0x60, 0x00, 0x00, // 08019: mov es:[0x6014], esp
    0xcd, 0x81, //                               08020: int 0x81
  ]);
  const copyTo = (dst: number) => [
    0x89, 0xe6, //                   mov esi, esp
    0xbf, ...le32(dst), //           mov edi, dst
    0xb9, 0x03, 0x00, 0x00, 0x00, // mov ecx, 3
    0xfc, //                         cld
    0xf3, 0xa5, //                   rep movsd
  ];
  m.load(0x9100, [...copyTo(0x6100), 0x66, 0xcf]); //             ...; iretw
  m.load(0x9200, [...copyTo(0x6120), 0x66, 0xca, 0x02, 0x00]); // ...; retfw 2
  m.start(3, 0x8000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 0x81);
  const words = (at: number) => Array.from({ length: 5 }, (_, k) => m.r16(at + k * 2));
  assert.deepEqual(words(0x6100), [0x8007, 0x1b, 0x2, 0x9000, UDATA], 'IP CS FLAGS SP SS');
  assert.deepEqual(words(0x6120), [0x8019, 0x1b, 0x4455, 0x8ffe, UDATA], 'IP CS param SP SS');
  assert.equal(m.r32(0x6010), 0x9000);
  assert.equal(m.r32(0x6014), 0x9000);
});
