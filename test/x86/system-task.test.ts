/**
 * Task switching: CALL to a TSS (nested: back link, NT, busy bits) and the
 * IRET that returns from it; JMP between tasks; INT n through a task gate
 * from ring 3; faults before the commit point (old task) and after it (new
 * task).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { CS } from '../../src/x86/constants.js';
import {
  EFLAGS_NT, gateDesc, KCODE, KDATA, STUBS, SysMachine, sysDesc, TASK_GATE, TSS, TSS3, TSS3_SEL, TSS32_AVAIL, TSS_F,
  TSS_SEL, UCODE, UDATA, USTACK_TOP,
} from './system-machine.js';

const TASK3_STACK = 0x60000;
const BUSY = 0x200;

/** TSS3: a ring-0 task starting at `eip` with EAX = 0x3333 on its own stack. */
function task3(m: SysMachine, eip: number, cs = KCODE): void {
  m.w32(TSS3 + TSS_F.eip, eip);
  m.w32(TSS3 + TSS_F.eflags, 0x2);
  m.w32(TSS3 + TSS_F.eax, 0x3333);
  m.w32(TSS3 + TSS_F.esp, TASK3_STACK);
  m.w32(TSS3 + TSS_F.cs, cs);
  for (const f of [TSS_F.ss, TSS_F.ds, TSS_F.es, TSS_F.fs, TSS_F.gs]) m.w32(TSS3 + f, KDATA);
}

test('CALL to a TSS nests the task; IRET with NT returns to the caller', () => {
  const m = new SysMachine();
  task3(m, 0x11000);
  m.load(0x10000, [
    0xb8, 0x11, 0x11, 0x00, 0x00, //             10000: mov eax, 0x1111
    0x9a, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00, // 10005: call TSS3_SEL:0
    0xa3, 0x10, 0x60, 0x00, 0x00, //             1000c: mov [0x6010], eax
    0xf4, //                                     10011: hlt
  ]);
  m.load(0x11000, [
    0xa3, 0x00, 0x60, 0x00, 0x00, // 11000: mov [0x6000], eax
    0x9c, //                         11005: pushfd
    0x58, //                         11006: pop eax
    0xa3, 0x04, 0x60, 0x00, 0x00, // 11007: mov [0x6004], eax
    0x0f, 0x00, 0xc8, //             1100c: str eax
    0xa3, 0x08, 0x60, 0x00, 0x00, // 1100f: mov [0x6008], eax
    0xb8, 0x44, 0x44, 0x00, 0x00, // 11014: mov eax, 0x4444
    0xcf, //                         11019: iretd
  ]);
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.cpu.eip, 0x10012);
  assert.equal(m.r32(0x6000), 0x3333, 'EAX loaded from the new TSS');
  assert.ok(m.r32(0x6004) & EFLAGS_NT, 'NT set in the called task');
  assert.equal(m.r32(0x6008), TSS3_SEL);
  assert.equal(m.r16(TSS3 + TSS_F.link), TSS_SEL, 'back link');
  assert.equal(m.r32(0x6010), 0x1111, 'EAX restored from the caller\'s TSS');
  // State saved by the switches.
  assert.equal(m.r32(TSS + TSS_F.eip), 0x1000c);
  assert.equal(m.r32(TSS + TSS_F.eax), 0x1111);
  assert.equal(m.r32(TSS3 + TSS_F.eip), 0x1101a);
  assert.equal(m.r32(TSS3 + TSS_F.eax), 0x4444);
  assert.equal(m.r32(TSS3 + TSS_F.eflags) & EFLAGS_NT, 0, 'IRET saves its task with NT clear');
  assert.ok(m.descHi(TSS_SEL) & BUSY);
  assert.equal(m.descHi(TSS3_SEL) & BUSY, 0);
  assert.equal(m.cpu.trSel, TSS_SEL);
});

test('JMP to a TSS does not nest: the old task is freed and can be jumped back to', () => {
  const m = new SysMachine();
  task3(m, 0x11100);
  m.load(0x10000, [
    0xb8, 0x11, 0x11, 0x00, 0x00, //             10000: mov eax, 0x1111
    0xea, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00, // 10005: jmp TSS3_SEL:0
    0xa3, 0x10, 0x60, 0x00, 0x00, //             1000c: mov [0x6010], eax
    0xf4, //                                     10011: hlt
  ]);
  m.load(0x11100, [
    0x9c, //                                     11100: pushfd
    0x58, //                                     11101: pop eax
    0xa3, 0x04, 0x60, 0x00, 0x00, //             11102: mov [0x6004], eax
    0xea, 0x00, 0x00, 0x00, 0x00, 0x28, 0x00, // 11107: jmp TSS_SEL:0
  ]);
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.cpu.eip, 0x10012);
  assert.equal(m.r32(0x6004) & EFLAGS_NT, 0);
  assert.equal(m.r16(TSS3 + TSS_F.link), 0, 'no back link');
  assert.equal(m.r32(0x6010), 0x1111, 'EAX of the first task, restored');
  assert.equal(m.r32(TSS3 + TSS_F.eax), 0x2, 'EAX of the second task (its PUSHFD value), saved');
  assert.equal(m.r32(TSS3 + TSS_F.eip), 0x1110e);
  assert.ok(m.descHi(TSS_SEL) & BUSY);
  assert.equal(m.descHi(TSS3_SEL) & BUSY, 0);
});

test('INT n from ring 3 through a task gate, and IRET back to ring 3', () => {
  const m = new SysMachine();
  task3(m, 0x11200);
  m.setGate(0x40, gateDesc(TSS3_SEL, 0, TASK_GATE, 3));
  m.setGate(0x81, gateDesc(KCODE, STUBS + 0x81 * 16, 0x0e, 3));
  m.load(0x11200, [
    0x0f, 0x00, 0xc8, //             11200: str eax
    0xa3, 0x08, 0x60, 0x00, 0x00, // 11203: mov [0x6008], eax
    0xcf, //                         11208: iretd
  ]);
  m.load(0x20000, [
    0xb8, 0x55, 0x55, 0x00, 0x00, //       20000: mov eax, 0x5555
    0xcd, 0x40, //                         20005: int 0x40
    0x26, 0xa3, 0x10, 0x60, 0x00, 0x00, // 20007: mov es:[0x6010], eax
    0xcd, 0x81, //                         2000d: int 0x81
  ]);
  m.start(3, 0x20000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 0x81);
  assert.equal(m.r32(0x6008), TSS3_SEL);
  assert.equal(m.r32(0x6010), 0x5555);
  // The ring-3 task's state in its TSS: CS and SS with RPL 3, EIP after INT 0x40.
  assert.equal(m.r32(TSS + TSS_F.eip), 0x20007);
  assert.equal(m.r16(TSS + TSS_F.cs), UCODE);
  assert.equal(m.r16(TSS + TSS_F.ss), UDATA);
  assert.equal(m.r32(TSS + TSS_F.esp), USTACK_TOP);
  assert.deepEqual(m.stack(5), [0x2000f, UCODE, 0x2, USTACK_TOP, UDATA]);
});

test('task switch faults: before the commit point in the old task, after it in the new one', () => {
  // TSS limit too small: #TS(new TSS) at the JMP, nothing switched.
  let m = new SysMachine();
  task3(m, 0x11100);
  m.setDesc(TSS3_SEL, sysDesc(TSS3, 0x60, TSS32_AVAIL));
  m.load(0x10000, [0xea, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00]); // jmp TSS3_SEL:0
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 10);
  assert.deepEqual(m.stack(3), [TSS3_SEL, 0x10000, KCODE]);
  assert.equal(m.cpu.trSel, TSS_SEL);

  // Busy TSS: #GP(selector).
  m = new SysMachine();
  m.load(0x10000, [0xea, 0x00, 0x00, 0x00, 0x00, 0x28, 0x00]); // jmp TSS_SEL:0 (the current task)
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(2), [TSS_SEL, 0x10000]);

  // A data segment as the new task's CS: the switch completes, then #TS(CS) in the new task.
  m = new SysMachine();
  task3(m, 0x11100, KDATA);
  m.load(0x10000, [0xea, 0x00, 0x00, 0x00, 0x00, 0x38, 0x00]); // jmp TSS3_SEL:0
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 10);
  assert.equal(m.cpu.trSel, TSS3_SEL);
  assert.equal(m.cpu.regs[4], TASK3_STACK - 16, 'frame on the new task\'s stack');
  assert.deepEqual(m.stack(3), [KDATA, 0x11100, KDATA]);
  assert.equal(m.r32(TSS + TSS_F.eip), 0x10007, 'the old task was saved');
  assert.equal(m.cpu.segSel[CS], KCODE);
});

test('CALL to a 16-bit TSS and IRET back', () => {
  const m = new SysMachine();
  const T16 = 0x4000, T16_SEL = 0x40;
  m.setDesc(T16_SEL, sysDesc(T16, 0x2b, 0x01)); // available 16-bit TSS
  m.w16(T16 + 0x0e, 0x9300); // IP
  m.w16(T16 + 0x10, 0x0002); // FLAGS
  m.w16(T16 + 0x12, 0x1616); // AX
  m.w16(T16 + 0x1a, 0x9f00); // SP
  m.w16(T16 + 0x22, KDATA); //  ES
  m.w16(T16 + 0x24, KCODE); //  CS
  m.w16(T16 + 0x26, KDATA); //  SS
  m.w16(T16 + 0x28, KDATA); //  DS
  m.load(0x9300, [
    0x66, 0xa3, 0x00, 0x60, 0x00, 0x00, // mov [0x6000], ax
    0xcf, //                               iretd   (NT: back to the caller)
  ]);
  m.load(0x10000, [
    0x9a, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, // call T16_SEL:0
    0xf4, //                                     hlt
  ]);
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.cpu.eip, 0x10008);
  assert.equal(m.r16(0x6000), 0x1616);
  assert.equal(m.r16(T16), TSS_SEL, 'back link');
  assert.equal(m.r16(T16 + 0x0e), 0x9307, 'IP saved in the 16-bit TSS');
  assert.equal(m.cpu.trSel, TSS_SEL);
  assert.equal(m.descHi(T16_SEL) & BUSY, 0);
});
