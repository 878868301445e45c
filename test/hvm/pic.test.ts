/**
 * The 8259A pair (src/hvm/pic.ts), programmed the way Linux's
 * arch/x86/kernel/i8259.c does it: ICW1 0x11, ICW2 0x20/0x28, ICW3 0x04/0x02,
 * ICW4 0x01 (or 0x03 with auto-EOI), specific EOIs (0x60 | irq).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pic8259, type PicState } from '../../src/hvm/pic.js';

/** Linux's init_8259A(auto_eoi): everything masked afterwards except what the caller unmasks. */
function linuxInit(pic: Pic8259, autoEoi = false): void {
  pic.ioWrite(0x21, 1, 0xff); // mask all of 8259A-1
  pic.ioWrite(0xa1, 1, 0xff); // mask all of 8259A-2
  pic.ioWrite(0x20, 1, 0x11); // ICW1: select 8259A-1 init
  pic.ioWrite(0x21, 1, 0x20); // ICW2: IR0-7 mapped to 0x20-0x27
  pic.ioWrite(0x21, 1, 0x04); // ICW3: slave on IR2
  pic.ioWrite(0x21, 1, autoEoi ? 0x03 : 0x01); // ICW4: (auto-EOI,) 8086 mode
  pic.ioWrite(0xa0, 1, 0x11); // ICW1: select 8259A-2 init
  pic.ioWrite(0xa1, 1, 0x28); // ICW2: IR0-7 mapped to 0x28-0x2f
  pic.ioWrite(0xa1, 1, 0x02); // ICW3: slave id 2
  pic.ioWrite(0xa1, 1, 0x01); // ICW4: normal EOI
  pic.ioWrite(0x21, 1, 0xfb); // everything masked but the cascade
  pic.ioWrite(0xa1, 1, 0xff);
}

function unmask(pic: Pic8259, irq: number): void {
  const port = irq < 8 ? 0x21 : 0xa1;
  pic.ioWrite(port, 1, pic.ioRead(port, 1) & ~(1 << (irq & 7)));
}

/** Linux's mask_and_ack_8259A EOI for `irq`. */
function eoi(pic: Pic8259, irq: number): void {
  if (irq >= 8) {
    pic.ioWrite(0xa0, 1, 0x60 + (irq & 7));
    pic.ioWrite(0x20, 1, 0x60 + 2);
  } else {
    pic.ioWrite(0x20, 1, 0x60 + irq);
  }
}

function pulse(pic: Pic8259, irq: number): void {
  pic.setIrq(irq, true);
  pic.setIrq(irq, false);
}

function setup(autoEoi = false): { pic: Pic8259; intr: boolean[] } {
  const pic = new Pic8259();
  const intr: boolean[] = [];
  pic.onOutputChange = (level) => intr.push(level);
  linuxInit(pic, autoEoi);
  return { pic, intr };
}

test('Linux init sequence: masks read back, no INTR, vectors from ICW2', () => {
  const { pic } = setup();
  assert.equal(pic.ioRead(0x21, 1), 0xfb);
  assert.equal(pic.ioRead(0xa1, 1), 0xff);
  assert.equal(pic.output(), false);
  unmask(pic, 0);
  pulse(pic, 0);
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x20);
  assert.equal(pic.output(), false);
});

test('masked IRQs latch in IRR but raise no INTR until unmasked', () => {
  const { pic, intr } = setup();
  pulse(pic, 1);
  assert.equal(pic.output(), false);
  assert.deepEqual(intr, []);
  assert.equal(pic.ioRead(0x20, 1) & 0x02, 0x02); // IRR (the default OCW3 read)
  unmask(pic, 1);
  assert.equal(pic.output(), true);
  assert.deepEqual(intr, [true]);
  assert.equal(pic.ackInterrupt(), 0x21);
  assert.deepEqual(intr, [true, false]);
});

test('priority: IRQ 0 before IRQ 1; EOI unblocks the lower-priority one', () => {
  const { pic } = setup();
  unmask(pic, 0);
  unmask(pic, 1);
  unmask(pic, 4);
  pulse(pic, 4);
  pulse(pic, 1);
  pulse(pic, 0);
  assert.equal(pic.ackInterrupt(), 0x20);
  // IRQ 0 in service blocks 1 and 4.
  assert.equal(pic.output(), false);
  eoi(pic, 0);
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x21);
  assert.equal(pic.output(), false);
  // A higher-priority request interrupts a lower one in service (fully nested).
  pulse(pic, 0);
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x20);
  eoi(pic, 0);
  assert.equal(pic.output(), false); // IRQ 1 still in service blocks IRQ 4
  pic.ioWrite(0x20, 1, 0x20); // non-specific EOI clears IRQ 1
  assert.equal(pic.ackInterrupt(), 0x24);
});

test('cascade: IRQ 8-15 come from the slave with vectors 0x28-0x2f', () => {
  const { pic } = setup();
  unmask(pic, 8);
  unmask(pic, 14);
  pulse(pic, 14);
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x2e);
  // Both chips have the IRQ in service.
  pic.ioWrite(0x20, 1, 0x0b);
  pic.ioWrite(0xa0, 1, 0x0b);
  assert.equal(pic.ioRead(0x20, 1), 0x04);
  assert.equal(pic.ioRead(0xa0, 1), 0x40);
  pulse(pic, 8); // higher priority on the slave, but master IR2 is in service
  assert.equal(pic.output(), false);
  eoi(pic, 14);
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x28);
  eoi(pic, 8);
  assert.equal(pic.ioRead(0x20, 1), 0);
  assert.equal(pic.ioRead(0xa0, 1), 0);
  // Slave IRQs rank at IR2's priority on the master: below IRQ 1, above IRQ 3.
  unmask(pic, 1);
  unmask(pic, 3);
  pulse(pic, 3);
  pulse(pic, 9 + 0); // masked: no effect on the order
  unmask(pic, 9);
  pulse(pic, 1);
  assert.equal(pic.ackInterrupt(), 0x21);
  eoi(pic, 1);
  assert.equal(pic.ackInterrupt(), 0x29);
  eoi(pic, 9);
  assert.equal(pic.ackInterrupt(), 0x23);
});

test('setIrq range is checked; IRQ 2 is the cascade and has no line of its own', () => {
  const { pic } = setup();
  assert.throws(() => pic.setIrq(16, true), RangeError);
  assert.throws(() => pic.setIrq(-1, true), RangeError);
  pulse(pic, 2);
  assert.equal(pic.output(), false);
});

test('spurious IRQ 7: the request vanished (masked) before INTA; no ISR bit set', () => {
  const { pic } = setup();
  unmask(pic, 3);
  pulse(pic, 3);
  assert.equal(pic.output(), true);
  pic.ioWrite(0x21, 1, 0xff); // the CPU saw INTR, then the guest masked the line
  assert.equal(pic.ackInterrupt(), 0x27);
  pic.ioWrite(0x20, 1, 0x0b);
  assert.equal(pic.ioRead(0x20, 1), 0); // ISR empty: Linux's spurious check
});

test('a level-triggered slave line lowered before INTA: the cascade input follows, the master answers IR7', () => {
  const { pic } = setup();
  pic.ioWrite(0x4d1, 1, 0x02); // IRQ 9 level-triggered
  unmask(pic, 9);
  pic.setIrq(9, true);
  assert.equal(pic.output(), true);
  pic.ioWrite(0x20, 1, 0x0a);
  assert.equal(pic.ioRead(0x20, 1), 0x04); // master IRR shows the cascade request
  pic.setIrq(9, false);
  assert.equal(pic.ioRead(0x20, 1), 0x00);
  assert.equal(pic.ackInterrupt(), 0x27);
  pic.ioWrite(0x20, 1, 0x0b);
  pic.ioWrite(0xa0, 1, 0x0b);
  assert.equal(pic.ioRead(0x20, 1), 0);
  assert.equal(pic.ioRead(0xa0, 1), 0);
});

test('level-triggered via ELCR: stays requested until lowered; edge-only IRQs keep their ELCR bit clear', () => {
  const { pic } = setup();
  pic.ioWrite(0x4d0, 2, 0xffff);
  assert.equal(pic.ioRead(0x4d0, 1), 0xf8);
  assert.equal(pic.ioRead(0x4d1, 1), 0xde);
  assert.equal(pic.ioRead(0x4d0, 2), 0xdef8);
  pic.ioWrite(0x4d0, 2, 0x0020); // IRQ 5 level only
  unmask(pic, 5);
  pic.setIrq(5, true);
  assert.equal(pic.ackInterrupt(), 0x25);
  assert.equal(pic.output(), false); // in service
  eoi(pic, 5);
  assert.equal(pic.output(), true); // still asserted: requested again
  assert.equal(pic.ackInterrupt(), 0x25);
  pic.setIrq(5, false);
  eoi(pic, 5);
  assert.equal(pic.output(), false);
  assert.equal(pic.ioRead(0x20, 1) & 0x20, 0); // IRR follows the line
  // An edge IRQ pulsed once is delivered once.
  unmask(pic, 4);
  pic.setIrq(4, true);
  assert.equal(pic.ackInterrupt(), 0x24);
  eoi(pic, 4);
  assert.equal(pic.output(), false); // still high, but no new rising edge
  pic.setIrq(4, false);
  pic.setIrq(4, true);
  assert.equal(pic.ackInterrupt(), 0x24);
});

test('spurious IRQ 7 from a level line lowered between INTR and INTA', () => {
  const { pic } = setup();
  pic.ioWrite(0x4d0, 1, 0x08);
  unmask(pic, 3);
  unmask(pic, 4);
  pic.setIrq(3, true);
  pulse(pic, 4);
  pic.setIrq(3, false);
  assert.equal(pic.ackInterrupt(), 0x24); // the edge one is still latched
  eoi(pic, 4);
  pic.setIrq(3, true);
  assert.equal(pic.output(), true);
  pic.setIrq(3, false);
  assert.equal(pic.ackInterrupt(), 0x27);
});

test('OCW3 reads IRR and ISR; poll mode acknowledges like INTA', () => {
  const { pic } = setup();
  unmask(pic, 3);
  unmask(pic, 6);
  pulse(pic, 6);
  pulse(pic, 3);
  pic.ioWrite(0x20, 1, 0x0a); // read IRR
  assert.equal(pic.ioRead(0x20, 1), 0x48);
  assert.equal(pic.ackInterrupt(), 0x23);
  assert.equal(pic.ioRead(0x20, 1), 0x40);
  pic.ioWrite(0x20, 1, 0x0b); // read ISR
  assert.equal(pic.ioRead(0x20, 1), 0x08);
  assert.equal(pic.ioRead(0x21, 1), 0xb3); // data port still reads IMR
  eoi(pic, 3);
  pic.ioWrite(0x20, 1, 0x0c); // poll
  assert.equal(pic.ioRead(0x20, 1), 0x86);
  assert.equal(pic.ioRead(0x20, 1), 0x40); // back to the ISR read, IR6 in service
  pic.ioWrite(0x20, 1, 0x0c);
  assert.equal(pic.ioRead(0x20, 1), 0x00); // nothing deliverable
});

test('auto-EOI: no ISR bit, the next request is taken at once', () => {
  const { pic } = setup(true);
  unmask(pic, 0);
  unmask(pic, 1);
  pulse(pic, 1);
  assert.equal(pic.ackInterrupt(), 0x21);
  pic.ioWrite(0x20, 1, 0x0b);
  assert.equal(pic.ioRead(0x20, 1), 0);
  pulse(pic, 1);
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x21);
});

test('rotation: rotate on specific EOI makes the serviced IRQ lowest priority', () => {
  const { pic } = setup();
  unmask(pic, 0);
  unmask(pic, 1);
  pulse(pic, 0);
  assert.equal(pic.ackInterrupt(), 0x20);
  pic.ioWrite(0x20, 1, 0xe0); // rotate on specific EOI, IR0
  pulse(pic, 0);
  pulse(pic, 1);
  assert.equal(pic.ackInterrupt(), 0x21); // IR1 now highest
  pic.ioWrite(0x20, 1, 0xa0); // rotate on non-specific EOI: IR1 lowest, IR2 highest
  assert.equal(pic.ackInterrupt(), 0x20);
  pic.ioWrite(0x20, 1, 0xc7); // set priority: IR7 lowest again
  pic.ioWrite(0x20, 1, 0x20);
  pulse(pic, 1);
  pulse(pic, 0);
  assert.equal(pic.ackInterrupt(), 0x20);
});

test('special mask mode lets lower priorities through while a masked level is in service', () => {
  const { pic } = setup();
  unmask(pic, 0);
  unmask(pic, 5);
  pulse(pic, 0);
  assert.equal(pic.ackInterrupt(), 0x20);
  pulse(pic, 5);
  assert.equal(pic.output(), false);
  pic.ioWrite(0x21, 1, pic.ioRead(0x21, 1) | 1); // mask IR0
  pic.ioWrite(0x20, 1, 0x68); // OCW3: set special mask mode
  assert.equal(pic.output(), true);
  assert.equal(pic.ackInterrupt(), 0x25);
  pic.ioWrite(0x20, 1, 0x48); // reset special mask mode
  pic.ioWrite(0x20, 1, 0x65);
  pic.ioWrite(0x20, 1, 0x60);
  pic.ioWrite(0x20, 1, 0x0b);
  assert.equal(pic.ioRead(0x20, 1), 0);
});

test('re-initialization resets IMR, ISR and edge latches', () => {
  const { pic } = setup();
  unmask(pic, 3);
  pulse(pic, 3);
  pulse(pic, 4);
  linuxInit(pic);
  unmask(pic, 3);
  unmask(pic, 4);
  assert.equal(pic.output(), false);
  pic.ioWrite(0x20, 1, 0x0a);
  assert.equal(pic.ioRead(0x20, 1), 0);
});

test('save/restore round trip, and malformed records are refused', () => {
  const { pic } = setup();
  pic.ioWrite(0x4d1, 1, 0x0e);
  unmask(pic, 0);
  unmask(pic, 11);
  pulse(pic, 0);
  pic.setIrq(11, true);
  assert.equal(pic.ackInterrupt(), 0x20);
  const saved = pic.save();
  const copy: PicState = JSON.parse(JSON.stringify(saved)) as PicState;
  const other = new Pic8259();
  const intr: boolean[] = [];
  other.onOutputChange = (l) => intr.push(l);
  other.restore(copy);
  assert.deepEqual(other.save(), saved);
  assert.equal(other.output(), false); // IRQ 0 in service blocks the slave
  eoi(other, 0);
  assert.deepEqual(intr, [true]);
  assert.equal(other.ackInterrupt(), 0x2b);

  const bad = (mutate: (s: Record<string, unknown>) => void): void => {
    const s = JSON.parse(JSON.stringify(saved)) as Record<string, unknown>;
    mutate(s);
    const before = other.save();
    assert.throws(() => other.restore(s as unknown as PicState), /pic state record/);
    assert.deepEqual(other.save(), before);
  };
  bad((s) => { s.version = 2; });
  bad((s) => { delete s.slave; });
  bad((s) => { (s.master as Record<string, unknown>).imr = 256; });
  bad((s) => { (s.master as Record<string, unknown>).readIsr = 1; });
  bad((s) => { (s.slave as Record<string, unknown>).vectorBase = 0x29; });
  bad((s) => { (s.slave as Record<string, unknown>).elcr = 0x01; });
  bad((s) => { (s.master as Record<string, unknown>).lowestPriority = 8; });
  assert.throws(() => other.restore(null as unknown as PicState), /pic state record/);
});
