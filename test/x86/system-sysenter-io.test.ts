/**
 * SYSENTER/SYSEXIT (flat segments derived from IA32_SYSENTER_CS, CPL and
 * flag changes, the #GP(0) cases) and the TSS I/O permission bitmap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit, FAULT } from '../../src/x86/cpu.js';
import type { Cpu } from '../../src/x86/cpu.js';
import { CS, GP } from '../../src/x86/constants.js';
import { checkIoPermission } from '../../src/x86/interrupts.js';
import { NullBus } from '../../src/x86/memory.js';
import {
  KCODE, KDATA, KSTACK_TOP, SysMachine, sysDesc, TSS, TSS32_AVAIL, TSS_F, TSS_SEL, UCODE, UDATA, USTACK_TOP,
} from './system-machine.js';

test('SYSENTER from ring 3 and SYSEXIT back; SYSEXIT at CPL 3 is #GP(0)', () => {
  const m = new SysMachine();
  const c = m.cpu;
  m.load(0x20000, [
    0x89, 0xe1, //                               20000: mov ecx, esp       (return ESP)
    0xba, 0x09, 0x00, 0x02, 0x00, //             20002: mov edx, 0x20009   (return EIP)
    0x0f, 0x34, //                               20007: sysenter
    0x26, 0x89, 0x25, 0x10, 0x60, 0x00, 0x00, // 20009: mov es:[0x6010], esp
    0x26, 0x8c, 0x0d, 0x14, 0x60, 0x00, 0x00, // 20010: mov es:[0x6014], cs
    0x26, 0x8c, 0x15, 0x18, 0x60, 0x00, 0x00, // 20017: mov es:[0x6018], ss
    0x0f, 0x35, //                               2001e: sysexit            (CPL 3: #GP(0))
  ]);
  m.load(0x10000, [
    0x89, 0x25, 0x00, 0x60, 0x00, 0x00, // 10000: mov [0x6000], esp
    0x8c, 0x0d, 0x04, 0x60, 0x00, 0x00, // 10006: mov [0x6004], cs
    0x8c, 0x15, 0x08, 0x60, 0x00, 0x00, // 1000c: mov [0x6008], ss
    0x9c, //                               10012: pushfd
    0x58, //                               10013: pop eax
    0xa3, 0x0c, 0x60, 0x00, 0x00, //       10014: mov [0x600c], eax
    0x0f, 0x35, //                         10019: sysexit
  ]);
  m.start(3, 0x20000, 0x202);
  c.sysenterCs = KCODE;
  c.sysenterEsp = KSTACK_TOP - 0x100;
  c.sysenterEip = 0x10000;
  assert.equal(m.run(), Exit.Halt);
  // Ring 0: CS = SYSENTER_CS, SS = CS + 8, ESP from the MSR, IF cleared.
  assert.equal(m.r32(0x6000), KSTACK_TOP - 0x100);
  assert.equal(m.r16(0x6004), KCODE);
  assert.equal(m.r16(0x6008), KDATA);
  assert.equal(m.r32(0x600c), 0x2);
  // Ring 3 again: CS = SYSENTER_CS + 16 | 3, SS = + 24 | 3, ESP from ECX.
  assert.equal(m.r32(0x6010), USTACK_TOP);
  assert.equal(m.r16(0x6014), UCODE);
  assert.equal(m.r16(0x6018), UDATA);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(6), [0, 0x2001e, UCODE, 0x10002, USTACK_TOP, UDATA]);
});

test('SYSENTER is #GP(0) with a null SYSENTER_CS and in real mode', () => {
  const m = new SysMachine();
  m.load(0x20000, [0x0f, 0x34]); // sysenter
  m.start(3, 0x20000);
  m.cpu.sysenterCs = 3; // index 0: null whatever the RPL
  assert.equal(m.run(), Exit.Halt);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(3), [0, 0x20000, UCODE]);

  // Real mode: IVT vector 13 -> 0000:0500 (HLT).
  const c = m.cpu;
  c.reset();
  c.sysenterCs = KCODE;
  m.w32(13 * 4, 0x00000500);
  m.load(0x500, [0xf4]);
  m.load(0x7c00, [0x0f, 0x34]);
  c.loadRealSeg(CS, 0);
  c.eip = 0x7c00;
  assert.equal(m.run(), Exit.Halt);
  assert.equal(c.eip, 0x501);
  assert.deepEqual([m.r16(0xfffa), m.r16(0xfffc)], [0x7c00, 0], 'IP and CS of the SYSENTER on the stack');
});

class RecordingBus extends NullBus {
  readonly log: string[] = [];
  override ioRead(port: number, size: 1 | 2 | 4): number {
    this.log.push(`in ${port.toString(16)}/${size}`);
    return super.ioRead(port, size);
  }
  override ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    this.log.push(`out ${port.toString(16)}/${size}=${value.toString(16)}`);
  }
}

/** The main TSS with an I/O bitmap at 0x68 for ports 0-0xFF (+ the terminating byte): 0x70, 0x71, 0x80, 0x87 allowed. */
function withBitmap(m: SysMachine): void {
  m.setDesc(TSS_SEL, sysDesc(TSS, 0x68 + 32, TSS32_AVAIL));
  m.w16(TSS + TSS_F.iomap, 0x68);
  for (let k = 0; k <= 32; k++) m.w8(TSS + 0x68 + k, 0xff);
  m.w8(TSS + 0x68 + 0x0e, 0xfc); // ports 0x70, 0x71
  m.w8(TSS + 0x68 + 0x10, 0x7e); // ports 0x80 and 0x87
}

test('I/O bitmap: IN/OUT at CPL 3 > IOPL allowed for one port and denied for the next', () => {
  const m = new SysMachine();
  const bus = new RecordingBus();
  m.cpu.bus = bus;
  withBitmap(m);
  m.load(0x20000, [
    0xb0, 0x11, //       20000: mov al, 0x11
    0xe6, 0x80, //       20002: out 0x80, al
    0x66, 0xe5, 0x70, // 20004: in ax, 0x70
    0xe6, 0x81, //       20007: out 0x81, al   (#GP(0))
  ]);
  m.start(3, 0x20000);
  assert.equal(m.run(), Exit.Halt);
  assert.deepEqual(bus.log, ['out 80/1=11', 'in 70/2']);
  assert.equal(m.haltedVector(), 13);
  assert.deepEqual(m.stack(2), [0, 0x20007]);
});

function allowed(c: Cpu, port: number, size: number): boolean {
  try {
    checkIoPermission(c, port, size);
    return true;
  } catch (e) {
    if (e !== FAULT) throw e;
    assert.equal(c.excVector, GP);
    assert.equal(c.excError, 0);
    return false;
  }
}

test('I/O bitmap: every bit of a multi-byte access, bytes past the TSS limit, 16-bit TSSs', () => {
  const m = new SysMachine();
  withBitmap(m);
  m.start(3, 0x20000);
  const c = m.cpu;
  assert.equal(allowed(c, 0x80, 1), true);
  assert.equal(allowed(c, 0x81, 1), false);
  assert.equal(allowed(c, 0x70, 2), true);
  assert.equal(allowed(c, 0x70, 4), false, '0x72 and 0x73 denied');
  assert.equal(allowed(c, 0x71, 2), false);
  assert.equal(allowed(c, 0x87, 1), true);
  assert.equal(allowed(c, 0x87, 2), false, 'straddles into the next byte, where 0x88 is denied');
  assert.equal(allowed(c, 0xff, 1), false);
  assert.equal(allowed(c, 0x100, 1), false, 'beyond the TSS limit');
  assert.equal(allowed(c, 0xffff, 1), false);
  // The base beyond the limit: no bitmap, everything denied.
  m.w16(TSS + TSS_F.iomap, 0x1000);
  assert.equal(allowed(c, 0x80, 1), false);
  m.w16(TSS + TSS_F.iomap, 0x68);
  // A 16-bit TSS has no bitmap.
  c.trAttr = (c.trAttr & ~0xf) | 0x3;
  assert.equal(allowed(c, 0x80, 1), false);
});
