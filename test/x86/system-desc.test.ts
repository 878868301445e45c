/**
 * Descriptor inspection from ring 3: LAR, LSL, VERR and VERW on every kind of
 * descriptor (valid types for each, the DPL/RPL rule, conforming code), and a
 * segment loaded through an LDT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit } from '../../src/x86/cpu.js';
import { DS } from '../../src/x86/constants.js';
import {
  CALL_GATE32, CODE_XR, CODE_XR_CONFORMING, DATA_RO, DATA_RW, gateDesc, INT_GATE32, KCODE, KDATA, LDT, le32, segDesc,
  STUBS, SysMachine, sysDesc, TSS32_AVAIL, TSS_SEL, UDATA,
} from './system-machine.js';

function inspectFromRing3(m: SysMachine, sel: number): { lar: number | null; lsl: number | null; verr: boolean; verw: boolean } {
  m.handler(0x81, STUBS + 0x81 * 16, 3);
  m.load(0x20000, [
    0xbb, ...le32(sel), //                       mov ebx, sel
    0xb8, 0xff, 0xff, 0xff, 0xff, //             mov eax, -1
    0xb9, 0xff, 0xff, 0xff, 0xff, //             mov ecx, -1
    0x0f, 0x02, 0xc3, //                         lar eax, ebx
    0x0f, 0x94, 0xc2, //                         setz dl
    0x0f, 0x03, 0xcb, //                         lsl ecx, ebx
    0x0f, 0x94, 0xc6, //                         setz dh
    0xa3, 0x00, 0x60, 0x00, 0x00, //             mov [0x6000], eax
    0x89, 0x0d, 0x04, 0x60, 0x00, 0x00, //       mov [0x6004], ecx
    0x66, 0x89, 0x15, 0x08, 0x60, 0x00, 0x00, // mov [0x6008], dx
    0x0f, 0x00, 0xe3, //                         verr bx
    0x0f, 0x94, 0xc0, //                         setz al
    0xa2, 0x0a, 0x60, 0x00, 0x00, //             mov [0x600a], al
    0x0f, 0x00, 0xeb, //                         verw bx
    0x0f, 0x94, 0xc0, //                         setz al
    0xa2, 0x0b, 0x60, 0x00, 0x00, //             mov [0x600b], al
    0xcd, 0x81, //                               int 0x81
  ]);
  m.start(3, 0x20000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 0x81);
  return {
    lar: m.r8(0x6008) ? m.r32(0x6000) : (assert.equal(m.r32(0x6000), 0xffffffff, 'LAR leaves its destination on failure'), null),
    lsl: m.r8(0x6009) ? m.r32(0x6004) : (assert.equal(m.r32(0x6004), 0xffffffff, 'LSL leaves its destination on failure'), null),
    verr: m.r8(0x600a) === 1,
    verw: m.r8(0x600b) === 1,
  };
}

test('LAR LSL VERR VERW from ring 3', () => {
  const m = new SysMachine();
  const descs: [number, [number, number]][] = [
    [0x40, segDesc(0x1000, 0xfff, DATA_RW, 3)],
    [0x48, segDesc(0, 0xfffff, DATA_RO, 3)],
    [0x50, segDesc(0, 0xffffffff, CODE_XR, 3)],
    [0x58, segDesc(0, 0xffff, 0x18, 3)], // execute-only code
    [0x60, segDesc(0, 0xffff, CODE_XR_CONFORMING, 0)],
    [0x68, segDesc(0, 0xffff, DATA_RW, 0)],
    [0x70, sysDesc(0x3000, 0x67, TSS32_AVAIL, 3)],
    [0x78, gateDesc(KCODE, 0x1000, CALL_GATE32, 3)],
    [0x80, gateDesc(KCODE, 0x1000, INT_GATE32, 3)],
    [0x88, sysDesc(0x4000, 0x2f, LDT, 3)],
    [0x90, segDesc(0, 0xffff, DATA_RW, 3, { present: false })],
  ];
  for (const [sel, d] of descs) m.setDesc(sel, d);
  m.cpu.gdtLimit = 0x1f7;
  const ar = (sel: number) => m.descHi(sel) & 0x00f0ff00;
  // selector, LAR, LSL, VERR, VERW
  const cases: [number, number | null, number | null, boolean, boolean][] = [
    [0x43, ar(0x40), 0xfff, true, true],
    [0x4b, ar(0x48), 0xfffff, true, false],
    [0x53, ar(0x50), 0xffffffff, true, false],
    [0x5b, ar(0x58), 0xffff, false, false],
    [0x63, ar(0x60), 0xffff, true, false], // conforming: visible from ring 3 despite DPL 0
    [0x6b, null, null, false, false], //     DPL 0 < CPL 3
    [KDATA | 3, null, null, false, false],
    [UDATA, ar(UDATA), 0xffffffff, true, true],
    [0x73, ar(0x70), 0x67, false, false], // TSS: LAR and LSL, no VERR/VERW
    [TSS_SEL | 3, null, null, false, false],
    [0x7b, ar(0x78), null, false, false], // call gate: LAR only
    [0x83, null, null, false, false], //     interrupt gate: neither
    [0x8b, ar(0x88), 0x2f, false, false], // LDT
    [0x93, ar(0x90), 0xffff, true, true], // not present: not checked
    [0x0003, null, null, false, false], //   null selector
    [0x1fb, null, null, false, false], //    beyond the GDT limit
    [0x44, null, null, false, false], //     TI = 1 with no LDT
  ];
  for (const [sel, lar, lsl, verr, verw] of cases) {
    const r = inspectFromRing3(m, sel);
    assert.deepEqual(r, { lar: lar === null ? null : lar >>> 0, lsl: lsl === null ? null : lsl >>> 0, verr, verw }, `selector 0x${sel.toString(16)}`);
  }
});

test('LLDT, then a data segment loaded from the LDT', () => {
  const m = new SysMachine();
  const LDT_BASE = 0x4000, LDT_SEL = 0x88;
  m.setDesc(LDT_SEL, sysDesc(LDT_BASE, 0x17, LDT, 0));
  // LDT entry 1: ring-3 data at base 0x9000, 4 KiB.
  const [lo, hi] = segDesc(0x9000, 0xfff, DATA_RW, 3);
  m.w32(LDT_BASE + 8, lo);
  m.w32(LDT_BASE + 12, hi);
  m.load(0x10000, [
    0x66, 0xb8, 0x88, 0x00, //       mov ax, LDT_SEL
    0x0f, 0x00, 0xd0, //             lldt ax
    0x66, 0xb8, 0x0f, 0x00, //       mov ax, 0x0f      (index 1, TI, RPL 3)
    0x8e, 0xd8, //                   mov ds, ax
    0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, // mov dword [0x10], 0x12345678
    0xa1, 0x00, 0x10, 0x00, 0x00, // mov eax, [0x1000]    (past the limit: #GP(0))
  ]);
  m.start(0, 0x10000);
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.r32(0x9010), 0x12345678);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(2), [0, 0x10000 + 23]);
  assert.equal(m.cpu.segSel[DS], 0x0f);
  assert.equal(m.cpu.ldtSel, LDT_SEL);
  assert.ok(m.r32(LDT_BASE + 12) & 0x100, 'accessed bit set in the LDT entry');
});
