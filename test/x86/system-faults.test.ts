/**
 * Segment faults and their escalation: #GP and #SS on limit violations
 * (expand-up, expand-down, stack, branch targets past the CS limit), #NP
 * and #GP on segment loads, #DF when the
 * #GP gate is missing, triple fault -> shutdown, and a Linux-style
 * double-fault task (task gate in IDT vector 8) that repairs the faulting
 * task and returns to it with IRET.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { CR0_TS, CS, SS } from '../../src/x86/constants.js';
import {
  DATA_RW, DATA_RW_DOWN, DFSTACK_TOP, EFLAGS_NT, gateDesc, INT_GATE32, KCODE, KCODE_BASE, KDATA, le32, segDesc, STUBS,
  SysMachine, TASK_GATE, TSS, TSS2, TSS2_SEL, TSS_F, TSS_SEL, UCODE_BASE, UDATA,
} from './system-machine.js';

/** Run ring-0 code at KCODE_BASE; it must stop on an exception stub. Returns the vector and the stack at the stub. */
function ring0(m: SysMachine, code: number[]): { vector: number | null; stack: number[] } {
  m.load(KCODE_BASE, code);
  m.start(0, KCODE_BASE);
  assert.equal(m.run(), Exit.Halt);
  return { vector: m.haltedVector(), stack: m.stack(4) };
}

test('#GP(0) past the limit of an expand-up data segment', () => {
  const m = new SysMachine();
  m.setDesc(0x40, segDesc(0x6000, 0xfff, DATA_RW, 0));
  const r = ring0(m, [
    0x66, 0xb8, 0x40, 0x00, //       10000: mov ax, 0x40
    0x8e, 0xd8, //                   10004: mov ds, ax
    0xa1, 0xfc, 0x0f, 0x00, 0x00, // 10006: mov eax, [0xffc]   (last dword inside)
    0xa1, 0xfd, 0x0f, 0x00, 0x00, // 1000b: mov eax, [0xffd]   (its last byte is past the limit)
  ]);
  assert.equal(r.vector, 13);
  assert.deepEqual(r.stack.slice(0, 3), [0, 0x1000b, KCODE]);
});

test('#GP(0) at a JMP, Jcc, CALL or RET whose target is past the CS limit', () => {
  // KCODE_BASE is 0x10000; the code segment (base 0) ends at 0x10fff, the target is 0x11000.
  const target = 0x11000;
  const rel = (at: number, len: number) => le32(target - (at + len));
  // [what, code, address of the branch]
  const cases: [string, number[], number][] = [
    ['jmp rel32', [0xe9, ...rel(0x10000, 5)], 0x10000],
    ['jz rel32, taken', [0x31, 0xc0, 0x0f, 0x84, ...rel(0x10002, 6)], 0x10002], // xor eax, eax; jz
    ['call rel32', [0xe8, ...rel(0x10000, 5)], 0x10000],
    ['ret', [0x68, ...le32(target), 0xc3], 0x10005], // push target; ret
  ];
  for (const [name, code, branchAt] of cases) {
    const m = new SysMachine();
    m.load(KCODE_BASE, code);
    m.start(0, KCODE_BASE);
    m.cpu.setSegCache(CS, KCODE, 0, 0x10fff, 0xc09b); // KCODE's attributes, limit 0x10fff
    assert.equal(m.run(), Exit.Halt, name);
    assert.equal(m.haltedVector(), 13, name);
    assert.deepEqual(m.stack(2), [0, branchAt], `${name}: error code 0, EIP at the branch`);
  }
});

test('expand-down data segments: offsets above the limit up to 4 GiB (B=1) or 64 KiB (B=0)', () => {
  const m = new SysMachine();
  m.setDesc(0x48, segDesc(0, 0xfff, DATA_RW_DOWN, 0));
  let r = ring0(m, [
    0x66, 0xb8, 0x48, 0x00, //       10000: mov ax, 0x48
    0x8e, 0xd8, //                   10004: mov ds, ax
    0xa1, 0x00, 0x10, 0x00, 0x00, // 10006: mov eax, [0x1000]      (limit + 1: the lowest valid offset)
    0xa1, 0xfc, 0xff, 0xff, 0xff, // 1000b: mov eax, [0xfffffffc]
    0xa1, 0xfe, 0x0f, 0x00, 0x00, // 10010: mov eax, [0xffe]       (starts at or below the limit)
  ]);
  assert.equal(r.vector, 13);
  assert.deepEqual(r.stack.slice(0, 2), [0, 0x10010]);

  m.setDesc(0x48, segDesc(0, 0xfff, DATA_RW_DOWN, 0, { db: false }));
  r = ring0(m, [
    0x66, 0xb8, 0x48, 0x00, //       10000: mov ax, 0x48
    0x8e, 0xd8, //                   10004: mov ds, ax
    0xa1, 0xfc, 0xff, 0x00, 0x00, // 10006: mov eax, [0xfffc]     (ends at 0xffff)
    0xa1, 0xfe, 0xff, 0x00, 0x00, // 1000b: mov eax, [0xfffe]     (ends past 64 KiB)
  ]);
  assert.equal(r.vector, 13);
  assert.deepEqual(r.stack.slice(0, 2), [0, 0x1000b]);
});

test('#SS(0) when a push leaves an expand-down stack segment (ring 3, handler on the ring-0 stack)', () => {
  const m = new SysMachine();
  m.setDesc(0x58, segDesc(0, 0xfff, DATA_RW_DOWN, 3));
  m.load(UCODE_BASE, [
    0x66, 0xb8, 0x5b, 0x00, //       20000: mov ax, 0x5b
    0x8e, 0xd0, //                   20004: mov ss, ax
    0xbc, 0x04, 0x10, 0x00, 0x00, // 20006: mov esp, 0x1004
    0x50, //                         2000b: push eax           (to 0x1000: fine)
    0x50, //                         2000c: push eax           (to 0xffc: below the valid range)
  ]);
  m.start(3, UCODE_BASE);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 12);
  // Error code 0, EIP of the second push, and the interrupted SS:ESP.
  assert.deepEqual(m.stack(6), [0, 0x2000c, 0x1b, 0x10002, 0x1000, 0x5b]);
});

test('segment loads: #NP for a not-present segment, #GP(selector) for wrong types and privileges, #SS for SS', () => {
  const MOV_SREG = { es: 0xc0, ss: 0xd0, ds: 0xd8, fs: 0xe0, gs: 0xe8 };
  const cases: { name: string; sel: number; reg: keyof typeof MOV_SREG; vector: number; error: number }[] = [
    { name: 'not-present data in DS', sel: 0x60, reg: 'ds', vector: 11, error: 0x60 },
    { name: 'not-present stack in SS', sel: 0x68, reg: 'ss', vector: 12, error: 0x68 },
    { name: 'TSS descriptor in ES', sel: TSS_SEL, reg: 'es', vector: 13, error: TSS_SEL },
    { name: 'SS with RPL != CPL', sel: KDATA | 3, reg: 'ss', vector: 13, error: KDATA },
    { name: 'SS with DPL 3 data at CPL 0', sel: UDATA & ~3, reg: 'ss', vector: 13, error: UDATA & ~3 },
    { name: 'null SS', sel: 0, reg: 'ss', vector: 13, error: 0 },
    { name: 'selector past the GDT limit', sel: 0x1f8, reg: 'fs', vector: 13, error: 0x1f8 },
    { name: 'execute-only code in GS', sel: 0x70, reg: 'gs', vector: 13, error: 0x70 },
  ];
  for (const t of cases) {
    const m = new SysMachine();
    m.setDesc(0x60, segDesc(0, 0xffff, DATA_RW, 0, { present: false }));
    m.setDesc(0x68, segDesc(0, 0xffff, DATA_RW, 0, { present: false }));
    m.setDesc(0x70, segDesc(0, 0xffff, 0x18, 0)); // execute-only code
    m.cpu.gdtLimit = 0x1f7;
    const r = ring0(m, [
      0x66, 0xb8, t.sel & 0xff, t.sel >> 8, // mov ax, sel
      0x8e, MOV_SREG[t.reg], //                mov sreg, ax
    ]);
    assert.equal(r.vector, t.vector, t.name);
    assert.deepEqual(r.stack.slice(0, 2), [t.error, KCODE_BASE + 4], t.name);
  }
});

test('#DF when the #GP handler\'s gate is not present', () => {
  const m = new SysMachine();
  m.setGate(13, gateDesc(KCODE, STUBS + 13 * 16, INT_GATE32, 0, 0, false));
  const r = ring0(m, [
    0x66, 0xb8, 0x28, 0x00, // 10000: mov ax, TSS_SEL
    0x8e, 0xd8, //             10004: mov ds, ax    (#GP, whose gate is #NP: contributory twice)
  ]);
  assert.equal(r.vector, 8);
  assert.deepEqual(r.stack.slice(0, 3), [0, 0x10004, KCODE]);
});

test('triple fault: #GP from ring 3 with no usable ring-0 stack shuts the machine down', () => {
  const m = new SysMachine();
  m.w32(TSS + TSS_F.ss0, 0); // #GP -> #TS (null SS0) -> #DF -> #TS again
  m.load(UCODE_BASE, [0xf4]); // hlt at CPL 3: #GP(0)
  m.start(3, UCODE_BASE);
  assert.equal(m.run(), Exit.Shutdown);
  assert.match(m.cpu.shutdownReason, /triple fault/);
});

test('double fault through a task gate (Linux i386 style): new TSS and stack, then IRET back to the fixed task', () => {
  const m = new SysMachine();
  // A 64 KiB ring-0 stack segment, so that a stack pointer near 0 faults instead of wrapping.
  const SMALL_SS = 0x68;
  m.setDesc(SMALL_SS, segDesc(0, 0xffff, DATA_RW, 0));
  // Vector 8: task gate to TSS2, whose task runs the handler at 0x11000 on its own stack.
  m.setGate(8, gateDesc(TSS2_SEL, 0, TASK_GATE, 0));
  m.w32(TSS2 + TSS_F.eip, 0x11000);
  m.w32(TSS2 + TSS_F.eflags, 0x2);
  m.w32(TSS2 + TSS_F.esp, DFSTACK_TOP);
  m.w32(TSS2 + TSS_F.cs, KCODE);
  for (const f of [TSS_F.ss, TSS_F.ds, TSS_F.es, TSS_F.fs, TSS_F.gs]) m.w32(TSS2 + f, KDATA);
  m.load(KCODE_BASE, [
    0x66, 0xb8, 0x68, 0x00, //             10000: mov ax, SMALL_SS
    0x8e, 0xd0, //                         10004: mov ss, ax
    0xbc, 0x02, 0x00, 0x00, 0x00, //       10006: mov esp, 2
    0x50, //                               1000b: push eax   (#SS; delivering it on this stack: #SS -> #DF)
    0x89, 0x25, 0x10, 0x60, 0x00, 0x00, // 1000c: mov [0x6010], esp
    0xf4, //                               10012: hlt
  ]);
  m.load(0x11000, [
    0x58, //                                                   11000: pop eax          (the #DF error code)
    0xa3, 0x00, 0x60, 0x00, 0x00, //                           11001: mov [0x6000], eax
    0x0f, 0x00, 0xc8, //                                       11006: str eax
    0xa3, 0x04, 0x60, 0x00, 0x00, //                           11009: mov [0x6004], eax
    0x9c, //                                                   1100e: pushfd
    0x58, //                                                   1100f: pop eax
    0xa3, 0x08, 0x60, 0x00, 0x00, //                           11010: mov [0x6008], eax
    0x0f, 0xb7, 0x05, 0x00, 0x38, 0x00, 0x00, //               11015: movzx eax, word [TSS2 + link]
    0xa3, 0x0c, 0x60, 0x00, 0x00, //                           1101c: mov [0x600c], eax
    0xc7, 0x05, 0x38, 0x30, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, // 11021: mov dword [TSS + esp], 0x8000
    0xcf, //                                                   1102b: iretd           (NT: back to TSS_SEL)
    0xf4, //                                                   1102c: hlt
  ]);
  m.start(0, KCODE_BASE);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), null, 'the repaired task ran to its HLT');

  assert.equal(m.r32(0x6000), 0, '#DF error code on the new task\'s stack');
  assert.equal(m.r32(0x6004), TSS2_SEL, 'TR in the handler');
  assert.ok((m.r32(0x6008) & EFLAGS_NT) !== 0, 'NT set in the nested task');
  assert.equal(m.r32(0x600c), TSS_SEL, 'back link to the faulting task');
  // The faulting task's state was saved at the fault: EIP of the push, ESP 2, SS.
  assert.equal(m.r32(TSS + TSS_F.eip), 0x1000b);
  assert.equal(m.r16(TSS + TSS_F.ss), SMALL_SS);
  // The handler's state was saved by its IRET: EIP after the IRET, ESP with the error code popped.
  assert.equal(m.r32(TSS2 + TSS_F.eip), 0x1102c);
  assert.equal(m.r32(TSS2 + TSS_F.esp), DFSTACK_TOP);
  assert.equal(m.r32(TSS2 + TSS_F.eflags) & EFLAGS_NT, 0, 'IRET saves NT clear');
  // Back in the first task, which retried the push on the stack the handler gave it.
  const c = m.cpu;
  assert.equal(m.r32(0x6010), 0x8000 - 4);
  assert.equal(c.trSel, TSS_SEL);
  assert.equal(c.segSel[SS], SMALL_SS);
  assert.equal(c.getEflags() & EFLAGS_NT, 0);
  assert.ok(c.cr0 & CR0_TS, 'a task switch sets CR0.TS');
  assert.ok((m.descHi(TSS_SEL) & 0x200) !== 0, 'the first task is still busy');
  assert.equal(m.descHi(TSS2_SEL) & 0x200, 0, 'IRET freed the double-fault task');
});

test('IDT error codes: the IDT bit always, EXT for exceptions, not for INT n; INT n faults at the instruction', () => {
  // #UD (benign) whose gate is not present: #NP(6 * 8 + IDT + EXT).
  let m = new SysMachine();
  m.setGate(6, gateDesc(KCODE, STUBS + 6 * 16, INT_GATE32, 0, 0, false));
  let r = ring0(m, [0x0f, 0x0b]); // ud2
  assert.equal(r.vector, 11);
  assert.deepEqual(r.stack.slice(0, 2), [6 * 8 + 2 + 1, KCODE_BASE]);

  // INT n to a not-present gate: #NP(n * 8 + IDT), no EXT.
  m = new SysMachine();
  m.setGate(0x40, gateDesc(KCODE, STUBS + 0x40 * 16, INT_GATE32, 0, 0, false));
  r = ring0(m, [0x90, 0xcd, 0x40]); // nop; int 0x40
  assert.equal(r.vector, 11);
  assert.deepEqual(r.stack.slice(0, 2), [0x40 * 8 + 2, KCODE_BASE + 1]);

  // INT n from ring 3 to a DPL-0 gate: #GP(n * 8 + IDT) reported at the INT, on the ring-0 stack.
  m = new SysMachine();
  m.load(UCODE_BASE, [0x90, 0xcd, 0x30]); // nop; int 0x30
  m.start(3, UCODE_BASE);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(3), [0x30 * 8 + 2, UCODE_BASE + 1, 0x1b]);

  // An external interrupt whose vector is past the IDT limit: #GP(n * 8 + IDT + EXT), at the next instruction.
  m = new SysMachine();
  m.load(KCODE_BASE, [0x90]); // nop
  m.start(0, KCODE_BASE, 0x202);
  m.cpu.idtLimit = 0x40 * 8 - 1;
  m.cpu.pic = { ackInterrupt: () => 0x40 };
  m.cpu.irqLine = true;
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(2), [0x40 * 8 + 3, KCODE_BASE]);
});

test('#DF through a task gate when the ring-0 stack of a #GP from ring 3 is unusable', () => {
  const m = new SysMachine();
  m.w32(TSS + TSS_F.ss0, 0); // #GP from ring 3 -> #TS(EXT) on the null SS0 -> #DF
  m.setGate(8, gateDesc(TSS2_SEL, 0, TASK_GATE, 0));
  m.w32(TSS2 + TSS_F.eip, STUBS + 8 * 16);
  m.w32(TSS2 + TSS_F.eflags, 0x2);
  m.w32(TSS2 + TSS_F.esp, DFSTACK_TOP);
  m.w32(TSS2 + TSS_F.cs, KCODE);
  for (const f of [TSS_F.ss, TSS_F.ds, TSS_F.es]) m.w32(TSS2 + f, KDATA);
  m.load(UCODE_BASE, [0x90, 0xf4]); // nop; hlt (CPL 3: #GP(0))
  m.start(3, UCODE_BASE);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 8);
  assert.equal(m.cpu.trSel, TSS2_SEL);
  assert.deepEqual(m.stack(1), [0]);
  assert.equal(m.cpu.regs[4], DFSTACK_TOP - 4);
  // The interrupted ring-3 state, as the task switch saved it.
  assert.equal(m.r32(TSS + TSS_F.eip), UCODE_BASE + 1);
  assert.equal(m.r16(TSS + TSS_F.cs), 0x1b);
  assert.equal(m.r16(TSS + TSS_F.ss), UDATA);
});
