import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PostPort,
  ResetControl,
  SystemControlPortA,
  type PostPortState,
  type ResetControlState,
  type SystemControlPortAState,
} from '../../src/hvm/sysctl.js';

test('port 0x92: A20 gate reads back, fast reset on the 0-to-1 edge of bit 0', () => {
  let resets = 0;
  const a20: boolean[] = [];
  const port = new SystemControlPortA({ onReset: () => resets++, onA20: (on) => a20.push(on) });
  assert.equal(port.ioRead(0x92, 1), 0x02, 'A20 enabled at power-on, as firmware leaves it');
  assert.equal(port.a20Enabled, true);
  // The classic "fast A20" sequence: read, set bit 1, clear bit 0, write.
  port.ioWrite(0x92, 1, (port.ioRead(0x92, 1) | 0x02) & ~0x01);
  assert.deepEqual(a20, [], 'no change, no report');
  port.ioWrite(0x92, 1, 0x00);
  assert.deepEqual(a20, [false]);
  assert.equal(port.ioRead(0x92, 1), 0x00);
  assert.equal(port.a20Enabled, false);
  assert.equal(resets, 0);
  port.ioWrite(0x92, 1, 0x03);
  assert.equal(resets, 1);
  assert.deepEqual(a20, [false, true]);
  assert.equal(port.ioRead(0x92, 1), 0x03, 'ALT_RST reads back');
  port.ioWrite(0x92, 1, 0x03);
  assert.equal(resets, 1, 'no new edge, no new reset');
  port.ioWrite(0x92, 1, 0x02);
  port.ioWrite(0x92, 1, 0x01);
  assert.equal(resets, 2);
  // Reserved bits read 0.
  port.ioWrite(0x92, 1, 0xfc);
  assert.equal(port.ioRead(0x92, 1), 0x00);
  // Power-on option.
  assert.equal(new SystemControlPortA({ onReset: () => {}, a20: false }).ioRead(0x92, 1), 0x00);
  // A word read at 0x92 reads 0x92 and a port nothing here decodes.
  port.ioWrite(0x92, 1, 0x02);
  assert.equal(port.ioRead(0x92, 2), 0xff02);
});

test('port 0x92 save/restore', () => {
  const a20: boolean[] = [];
  const port = new SystemControlPortA({ onReset: () => {}, onA20: (on) => a20.push(on) });
  port.ioWrite(0x92, 1, 0x00);
  const saved = port.save();
  assert.deepEqual(saved, { device: 'port92', version: 1, value: 0 });
  const other = new SystemControlPortA({ onReset: () => {}, onA20: (on) => a20.push(on) });
  other.restore(saved);
  assert.equal(other.ioRead(0x92, 1), 0x00);
  assert.deepEqual(a20, [false, false], 'restoring reports the new A20 state');
  assert.throws(() => other.restore({ ...saved, value: 0x80 }), /value/);
  assert.throws(() => other.restore({ ...saved, device: 'pic' } as unknown as SystemControlPortAState), /device/);
});

test("port 0xCF9: Linux's reboot=pci sequence resets, SYS_RST picks hard or soft", () => {
  const resets: boolean[] = [];
  const rc = new ResetControl({ onReset: (hard) => resets.push(hard) });
  assert.equal(rc.ioRead(0xcf9, 1), 0x00);
  // BOOT_CF9_FORCE, cold: cf9 = inb(0xcf9) & ~0x0e; outb(cf9 | 2); outb(cf9 | 0x0e).
  const cf9 = rc.ioRead(0xcf9, 1) & ~0x0e;
  rc.ioWrite(0xcf9, 1, cf9 | 0x02);
  assert.deepEqual(resets, [], 'SYS_RST alone only selects the kind of reset');
  assert.equal(rc.ioRead(0xcf9, 1), 0x02);
  rc.ioWrite(0xcf9, 1, cf9 | 0x0e);
  assert.deepEqual(resets, [true]);
  // RST_CPU is self-clearing; SYS_RST stays readable.
  assert.equal(rc.ioRead(0xcf9, 1), 0x02);
  assert.equal(rc.register, 0x02);
  // Warm reboot (0x06) and a soft reset (0x04).
  rc.ioWrite(0xcf9, 1, 0x06);
  rc.ioWrite(0xcf9, 1, 0x04);
  assert.deepEqual(resets, [true, true, false]);
  assert.equal(rc.ioRead(0xcf9, 1), 0x00);
  // Save/restore.
  rc.ioWrite(0xcf9, 1, 0x02);
  const saved = rc.save();
  const other = new ResetControl({ onReset: () => assert.fail('restore must not reset') });
  other.restore(saved);
  assert.equal(other.ioRead(0xcf9, 1), 0x02);
  assert.throws(() => other.restore({ ...saved, value: 0x04 }), /value/);
  assert.throws(() => other.restore({ ...saved, version: 2 } as unknown as ResetControlState), /version/);
});

test('port 0x80 latches POST codes', () => {
  const codes: number[] = [];
  const post = new PostPort({ onPost: (c) => codes.push(c) });
  assert.equal(post.ioRead(0x80, 1), 0x00);
  post.ioWrite(0x80, 1, 0x55);
  assert.equal(post.ioRead(0x80, 1), 0x55);
  assert.equal(post.lastCode, 0x55);
  post.ioWrite(0x80, 1, 0xaa);
  post.ioWrite(0x80, 2, 0x1234); // a wider write latches its low byte
  assert.deepEqual(codes, [0x55, 0xaa, 0x34]);
  assert.equal(post.ioRead(0x80, 1), 0x34);
  const saved = post.save();
  assert.deepEqual(saved, { device: 'post-port', version: 1, last: 0x34 });
  const other = new PostPort();
  other.restore(saved);
  assert.equal(other.ioRead(0x80, 1), 0x34);
  assert.throws(() => other.restore({ ...saved, last: 256 }), /last/);
  assert.throws(() => other.restore(null as unknown as PostPortState), /not an object/);
});
