import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type IrqLine } from '../../src/hvm/device.js';
import { COM1, Uart16550, type Uart16550State } from '../../src/hvm/uart.js';

/** An IRQ line that records every level change. */
class IrqStub implements IrqLine {
  level = false;
  edges = 0;
  set(level: boolean): void {
    if (level && !this.level) this.edges++;
    this.level = level;
  }
}

const B = COM1.base;
const RBR = B, THR = B, DLL = B, IER = B + 1, DLM = B + 1, IIR = B + 2, FCR = B + 2;
const LCR = B + 3, MCR = B + 4, LSR = B + 5, MSR = B + 6, SCR = B + 7;

function make(clock?: ManualClock) {
  const irq = new IrqStub();
  const sent: number[] = [];
  const uart = new Uart16550(B, irq, { clock, onTransmit: (b) => sent.push(b) });
  const out = (port: number, v: number) => uart.ioWrite(port, 1, v);
  const inp = (port: number) => uart.ioRead(port, 1);
  return { uart, irq, sent, out, inp };
}

test('Linux 8250 autoconfig sequence identifies a 16550A', () => {
  const { out, inp } = make();
  // Scratch register test (autoconfig_8250).
  out(SCR, 0xa5);
  assert.equal(inp(SCR), 0xa5);
  out(SCR, 0x5a);
  assert.equal(inp(SCR), 0x5a);
  // IER test.
  const saveIer = inp(IER);
  out(IER, 0);
  assert.equal(inp(IER) & 0x0f, 0);
  out(IER, 0x0f);
  assert.equal(inp(IER) & 0x0f, 0x0f);
  out(IER, saveIer);
  // Loopback test.
  const saveMcr = inp(MCR);
  const saveLcr = inp(LCR);
  out(MCR, 0x1a);
  assert.equal(inp(MSR) & 0xf0, 0x90);
  out(MCR, saveMcr);
  // EFR probe (LCR 0xBF) then FIFO detection.
  out(LCR, 0xbf);
  out(FCR, 0); // EFR on a 16650; FCR here
  out(LCR, 0);
  out(FCR, 0x01);
  assert.equal(inp(IIR) >> 6, 3, 'IIR bits 7:6 = 11: 16550A');
  // autoconfig_16550a: no EFR visible at LCR 0xBF / 0x80 (reads IIR, non-zero).
  out(LCR, 0xbf);
  assert.notEqual(inp(IIR), 0);
  out(LCR, 0x80);
  assert.notEqual(inp(IIR), 0);
  // Not a TI16750: IIR bit 5 never set by FCR bit 5.
  out(LCR, 0);
  out(FCR, 0x21);
  assert.equal(inp(IIR) & 0xe0, 0xc0);
  out(FCR, 0);
  out(LCR, 0x80);
  out(FCR, 0x21);
  assert.equal(inp(IIR) & 0xe0, 0xc0);
  out(FCR, 0);
  out(LCR, 0);
  // Not an XScale: IER bit 6 (UUE) does not stick.
  out(IER, 0x40);
  assert.equal(inp(IER) & 0x40, 0);
  out(LCR, saveLcr);
  // Transmitter empty for the console's polling loop.
  assert.equal(inp(LSR) & 0x60, 0x60);
});

test('divisor latch is reached through DLAB and does not disturb IER', () => {
  const { out, inp, uart } = make();
  out(IER, 0x05);
  out(LCR, 0x83);
  out(DLL, 0x01);
  out(DLM, 0x00);
  assert.equal(inp(DLL), 0x01);
  assert.equal(inp(DLM), 0x00);
  out(LCR, 0x03);
  assert.equal(inp(IER), 0x05);
  assert.equal(inp(LCR), 0x03);
  // 115200 baud, 8N1: ten bits per character.
  assert.ok(Math.abs(uart.characterTimeNs() - 1e10 / 115200) < 1e-6);
  out(LCR, 0x80);
  out(DLM, 0x12);
  out(DLL, 0x34);
  out(LCR, 0x00);
  out(LCR, 0x80);
  assert.equal(inp(DLM), 0x12);
  assert.equal(inp(DLL), 0x34);
});

test('transmit goes to the callback and the THR-empty interrupt follows the 16550', () => {
  const { out, inp, irq, sent } = make();
  out(MCR, 0x08); // OUT2: let the IRQ reach the PIC
  out(THR, 0x41);
  assert.deepEqual(sent, [0x41]);
  assert.equal(inp(LSR) & 0x60, 0x60);
  assert.equal(irq.level, false, 'ETBEI off: no interrupt');
  // Enabling ETBEI with THRE set raises the interrupt at once.
  out(IER, 0x02);
  assert.equal(irq.level, true);
  assert.equal(inp(IIR), 0x02);
  // Reading IIR while THRE is the source cleared it.
  assert.equal(irq.level, false);
  assert.equal(inp(IIR), 0x01);
  // Writing THR clears it, the byte leaves at once and THRE re-raises it: a new edge.
  const edges = irq.edges;
  out(THR, 0x42);
  assert.deepEqual(sent, [0x41, 0x42]);
  assert.equal(irq.level, true);
  assert.equal(irq.edges, edges + 1);
  // Linux's UART_BUG_THRE check: IER off and on again re-raises.
  assert.equal(inp(IIR) & 0x0f, 0x02);
  out(IER, 0);
  out(IER, 0x02);
  assert.equal(inp(IIR) & 0x0f, 0x02);
  // Disabling ETBEI hides a pending THRE interrupt.
  out(THR, 0x43);
  out(IER, 0);
  assert.equal(irq.level, false);
  assert.equal(inp(IIR) & 0x0f, 0x01);
});

test('FIFO off: each received byte raises RX data available at once', () => {
  const { uart, out, inp, irq } = make();
  out(MCR, 0x08);
  out(IER, 0x01);
  assert.equal(uart.receive([0x61]), 1);
  assert.equal(irq.level, true);
  assert.equal(inp(IIR), 0x04, 'no FIFO bits with FCR0 clear');
  assert.equal(inp(LSR) & 0x01, 0x01);
  assert.equal(inp(RBR), 0x61);
  assert.equal(irq.level, false);
  assert.equal(inp(LSR) & 0x01, 0);
  assert.equal(inp(IIR), 0x01);
});

test('FIFO on: trigger levels 1/4/8/14 and the character timeout', () => {
  for (const [bits, level] of [[0x00, 1], [0x40, 4], [0x80, 8], [0xc0, 14]] as const) {
    const clock = new ManualClock(1000);
    const { uart, out, inp, irq } = make(clock);
    out(LCR, 0x80);
    out(DLL, 1);
    out(DLM, 0);
    out(LCR, 0x03);
    out(FCR, 0x07 | bits);
    out(MCR, 0x08);
    out(IER, 0x01);
    if (level > 1) {
      uart.receive(new Array<number>(level - 1).fill(0x30));
      assert.equal(irq.level, false, `below trigger ${level}`);
      assert.equal(inp(IIR), 0xc1);
      // Four character times later the timeout interrupt fires.
      const deadline = uart.nextDeadlineNs();
      assert.ok(Math.abs(deadline - (1000 + 4 * uart.characterTimeNs())) < 1);
      clock.ns = Math.ceil(deadline) - 2;
      uart.advance(clock.ns);
      assert.equal(irq.level, false);
      clock.ns = Math.ceil(deadline);
      uart.advance(clock.ns);
      assert.equal(irq.level, true);
      assert.equal(inp(IIR), 0xcc, 'character timeout');
      // Reading a byte clears the timeout and restarts the timer.
      assert.equal(inp(RBR), 0x30);
      assert.equal(inp(IIR), 0xc1);
      assert.equal(uart.nextDeadlineNs() > clock.ns, true);
      uart.receive([0x30]);
    }
    uart.receive([0x31]);
    assert.equal(irq.level, true, `at trigger ${level}`);
    assert.equal(inp(IIR), 0xc4);
    let count = 0;
    while (inp(LSR) & 1) {
      inp(RBR);
      count++;
    }
    assert.equal(count, level);
    assert.equal(irq.level, false);
    assert.equal(uart.nextDeadlineNs(), Infinity);
  }
});

test('FIFO reset and FIFO disable clear received data', () => {
  const { uart, out, inp } = make();
  out(FCR, 0x01);
  uart.receive([1, 2, 3]);
  out(FCR, 0x03);
  assert.equal(inp(LSR) & 1, 0);
  uart.receive([4]);
  out(FCR, 0x00);
  assert.equal(inp(LSR) & 1, 0);
  assert.equal(inp(IIR) & 0xc0, 0);
});

test('overrun sets OE and raises a line status interrupt above RX data', () => {
  const { uart, out, inp, irq } = make();
  out(FCR, 0xc1);
  out(MCR, 0x08);
  out(IER, 0x05);
  const bytes = Array.from({ length: 18 }, (_, i) => i);
  assert.equal(uart.rxSpace(), 16);
  assert.equal(uart.receive(bytes), 16);
  assert.equal(irq.level, true);
  assert.equal(inp(IIR), 0xc6, 'line status has priority');
  assert.equal(inp(LSR) & 0x03, 0x03, 'DR and OE');
  assert.equal(inp(LSR) & 0x02, 0, 'OE cleared by reading LSR');
  assert.equal(inp(IIR), 0xc4);
  for (let i = 0; i < 16; i++) assert.equal(inp(RBR), i, 'FIFO kept; the new bytes were lost');
  // 16450 mode: the newest byte overwrites RBR.
  out(FCR, 0);
  uart.receive([0x10, 0x11]);
  assert.equal(inp(LSR) & 0x03, 0x03);
  assert.equal(inp(RBR), 0x11);
});

test('loopback: THR comes back on RBR, MSR follows MCR with deltas, the IRQ is gated off', () => {
  const { out, inp, irq, sent } = make();
  out(IER, 0x0f);
  out(MCR, 0x08);
  inp(IIR); // THRE source read and cleared
  assert.equal(irq.level, false);
  inp(MSR);
  out(MCR, 0x1f);
  out(THR, 0x55);
  assert.deepEqual(sent, [], 'nothing leaves in loopback');
  assert.equal(inp(LSR) & 0x01, 1);
  assert.equal(irq.level, false, 'OUT2 is held inactive in loopback');
  assert.equal(inp(IIR) & 0x0f, 0x04, 'but IIR still reports');
  assert.equal(inp(RBR), 0x55);
  inp(IIR); // THRE
  // Default modem inputs CTS|DSR|DCD -> looped RTS|DTR|OUT1|OUT2 = all four: RI rose.
  assert.equal(inp(MSR), 0xf0);
  out(MCR, 0x10); // all outputs off: CTS, DSR, DCD fall, RI trailing edge
  assert.equal(inp(IIR) & 0x0f, 0x00, 'modem status');
  assert.equal(inp(MSR), 0x0f);
  assert.equal(inp(MSR), 0x00, 'deltas cleared by reading');
  assert.equal(inp(IIR) & 0x0f, 0x01);
});

test('OUT2 gates the interrupt to the PIC', () => {
  const { uart, out, inp, irq } = make();
  out(IER, 0x01);
  uart.receive([1]);
  assert.equal(irq.level, false);
  assert.equal(inp(IIR), 0x04);
  out(MCR, 0x08);
  assert.equal(irq.level, true);
  out(MCR, 0x00);
  assert.equal(irq.level, false);
});

test('modem input changes set delta bits and the modem status interrupt', () => {
  const { uart, out, inp, irq } = make();
  out(MCR, 0x08);
  out(IER, 0x08);
  uart.setModemInputs({ cts: false, dsr: true, ri: false, dcd: true });
  assert.equal(irq.level, true);
  assert.equal(inp(MSR), 0xa1);
  assert.equal(irq.level, false);
});

test('save/restore round trip including RX FIFO contents', () => {
  const clock = new ManualClock(5000);
  const a = make(clock);
  a.out(LCR, 0x80);
  a.out(DLL, 0x03);
  a.out(DLM, 0x00);
  a.out(LCR, 0x1b);
  a.out(FCR, 0x81);
  a.out(MCR, 0x0b);
  a.out(IER, 0x03);
  a.out(SCR, 0x77);
  a.uart.receive([0x68, 0x69, 0x21]);
  clock.ns = 6000;
  const saved = a.uart.save();
  const json = JSON.parse(JSON.stringify(saved)) as Uart16550State;
  assert.equal(json.version, 1);
  assert.deepEqual(json.rxFifo, [0x68, 0x69, 0x21]);

  const clock2 = new ManualClock(1_000_000);
  const b = make(clock2);
  b.uart.restore(json);
  assert.equal(b.irq.level, true, 'restored THRE interrupt reaches the PIC');
  assert.deepEqual(b.uart.save(), { ...saved });
  assert.ok(Math.abs(b.uart.nextDeadlineNs() - clock2.ns - (a.uart.nextDeadlineNs() - clock.ns)) < 1e-3);
  assert.equal(b.inp(LCR), 0x1b);
  assert.equal(b.inp(SCR), 0x77);
  assert.equal(b.inp(IIR), 0xc2);
  assert.equal(b.inp(RBR), 0x68);
  assert.equal(b.inp(RBR), 0x69);
  assert.equal(b.inp(RBR), 0x21);
  b.out(LCR, 0x9b);
  assert.equal(b.inp(DLL), 0x03);

  assert.throws(() => b.uart.restore({ ...saved, version: 2 as 1 }), /version/);
  assert.throws(() => b.uart.restore({ ...saved, ier: 0x100 }), /ier/);
  assert.throws(() => b.uart.restore({ ...saved, rxFifo: new Array<number>(17).fill(0) }), /rxFifo/);
  assert.throws(() => b.uart.restore({ ...saved, device: 'x' as 'uart16550a' }), /device/);
  // A failed restore changed nothing.
  assert.equal(b.inp(SCR), 0x77);
});

test('wide accesses are split into byte accesses', () => {
  const { uart, inp } = make();
  uart.ioWrite(SCR - 1, 2, 0x4200); // MSR (read-only) then SCR
  assert.equal(inp(SCR), 0x42);
  assert.equal(uart.ioRead(LSR, 2) & 0xff, 0x60);
});
