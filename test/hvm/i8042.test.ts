import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IrqLine } from '../../src/hvm/device.js';
import {
  CTR_AUXDIS,
  CTR_AUXINT,
  CTR_KBDDIS,
  CTR_KBDINT,
  CTR_XLATE,
  I8042,
  STATUS_A2,
  STATUS_AUXB,
  STATUS_IBF,
  STATUS_OBF,
  STATUS_SYS,
  STATUS_UNLOCKED,
  set2BreakCodes,
  translateSet2ToSet1,
  type I8042State,
} from '../../src/hvm/i8042.js';

/** An IRQ line that records every level change. */
class IrqStub implements IrqLine {
  level = false;
  edges = 0;
  set(level: boolean): void {
    if (level && !this.level) this.edges++;
    this.level = level;
  }
}

const DATA = 0x60;
const CMD = 0x64;

/** Linux's command encodings: low byte command, bits 15:12 bytes sent, 11:8 bytes received. */
const I8042_CMD_CTL_RCTR = 0x0120;
const I8042_CMD_CTL_WCTR = 0x1060;
const I8042_CMD_CTL_TEST = 0x01aa;
const I8042_CMD_AUX_DISABLE = 0x00a7;
const I8042_CMD_AUX_ENABLE = 0x00a8;
const I8042_CMD_AUX_TEST = 0x01a9;
const I8042_CMD_AUX_SEND = 0x10d4;
const I8042_CMD_AUX_LOOP = 0x11d3;

function make() {
  const kbd = new IrqStub();
  const aux = new IrqStub();
  let resets = 0;
  const a20: boolean[] = [];
  const dev = new I8042({ kbdIrq: kbd, auxIrq: aux, onReset: () => resets++, onA20: (on) => a20.push(on) });
  const inb = (port: number) => dev.ioRead(port, 1);
  const outb = (port: number, v: number) => dev.ioWrite(port, 1, v);

  /** i8042_flush(): false if more than 16 bytes came out. */
  const flush = (): boolean => {
    let count = 0;
    while (inb(CMD) & STATUS_OBF) {
      if (count++ >= 16) return false;
      inb(DATA);
    }
    return true;
  };

  /** __i8042_command(), polling as Linux does with interrupts off. Returns -1 on failure. */
  const command = (param: number[], cmd: number): number => {
    if (inb(CMD) & STATUS_IBF) return -1;
    outb(CMD, cmd & 0xff);
    for (let i = 0; i < ((cmd >> 12) & 0xf); i++) {
      if (inb(CMD) & STATUS_IBF) return -1;
      outb(DATA, param[i]);
    }
    for (let i = 0; i < ((cmd >> 8) & 0xf); i++) {
      if (!(inb(CMD) & STATUS_OBF)) return -1; // wait_read would time out: responses are immediate here
      if (cmd === I8042_CMD_AUX_LOOP && !(inb(CMD) & STATUS_AUXB)) return -1;
      param[i] = inb(DATA);
    }
    return 0;
  };

  /**
   * Interrupt handler: while IRQ 1 or IRQ 12 is high, read status and data
   * (i8042_interrupt). Returns the bytes with the port they were routed to.
   */
  const interrupts = (): { byte: number; aux: boolean }[] => {
    const got: { byte: number; aux: boolean }[] = [];
    for (let guard = 0; (kbd.level || aux.level) && guard < 100; guard++) {
      const str = inb(CMD);
      assert.ok(str & STATUS_OBF, 'an interrupt comes with data');
      const wasAuxLine = aux.level;
      const byte = inb(DATA);
      assert.equal((str & STATUS_AUXB) !== 0, wasAuxLine, 'IRQ 12 exactly for aux bytes');
      got.push({ byte, aux: (str & STATUS_AUXB) !== 0 });
    }
    return got;
  };

  /** A keyboard byte (i8042_kbd_write) and the bytes it answers with, through IRQ 1. */
  const kbdSend = (...bytes: number[]): number[] => {
    const out: number[] = [];
    for (const b of bytes) {
      outb(DATA, b);
      for (const r of interrupts()) {
        assert.equal(r.aux, false);
        out.push(r.byte);
      }
    }
    return out;
  };

  /** A mouse byte (i8042_aux_write: command 0xD4) and its answer, through IRQ 12. */
  const auxSend = (...bytes: number[]): number[] => {
    const out: number[] = [];
    for (const b of bytes) {
      assert.equal(command([b], I8042_CMD_AUX_SEND), 0);
      for (const r of interrupts()) {
        assert.equal(r.aux, true);
        out.push(r.byte);
      }
    }
    return out;
  };

  return { dev, kbd, aux, inb, outb, flush, command, interrupts, kbdSend, auxSend, resets: () => resets, a20 };
}

/** Bring the controller to where Linux leaves it after probing: both ports enabled with interrupts. */
function linuxProbe(t: ReturnType<typeof make>): number {
  const { command, flush } = t;
  assert.ok(flush());
  const p = [0];
  assert.equal(command(p, I8042_CMD_CTL_TEST), 0);
  let ctr = [0];
  command(ctr, I8042_CMD_CTL_RCTR);
  let value = (ctr[0] | CTR_KBDDIS | CTR_AUXDIS) & ~(CTR_KBDINT | CTR_AUXINT);
  command([value], I8042_CMD_CTL_WCTR);
  value = (value & ~(CTR_KBDDIS | CTR_AUXDIS)) | CTR_KBDINT | CTR_AUXINT;
  command([value], I8042_CMD_CTL_WCTR);
  ctr = [0];
  command(ctr, I8042_CMD_CTL_RCTR);
  assert.equal(ctr[0], value);
  return value;
}

test("Linux's i8042 probe: controller check, self-test, CTR, AUX detection and IRQ 12 test, no MUX", () => {
  const t = make();
  const { inb, command, flush, kbd, aux, interrupts } = t;

  // i8042_controller_check(): the flush finds nothing pending.
  assert.ok(flush());
  // i8042_controller_selftest().
  const p = [0];
  assert.equal(command(p, I8042_CMD_CTL_TEST), 0);
  assert.equal(p[0], 0x55);
  assert.ok(inb(CMD) & STATUS_SYS);

  // i8042_controller_init(): two equal CTR reads; the BIOS state has translation on.
  const c0 = [0];
  const c1 = [0];
  command(c0, I8042_CMD_CTL_RCTR);
  command(c1, I8042_CMD_CTL_RCTR);
  assert.equal(c0[0], c1[0]);
  assert.equal(c0[0], 0x47);
  assert.ok(c0[0] & CTR_XLATE, 'Linux keeps translation (no i8042.direct)');
  let i8042Ctr = (c0[0] | CTR_KBDDIS) & ~CTR_KBDINT;
  assert.ok(inb(CMD) & STATUS_UNLOCKED, 'no "Keylock active" warning');
  assert.equal(command([i8042Ctr], I8042_CMD_CTL_WCTR), 0);
  const back = [0];
  command(back, I8042_CMD_CTL_RCTR);
  assert.equal(back[0], i8042Ctr);
  assert.ok(flush());

  // i8042_check_aux(): internal loopback through 0xD3, answered as aux data.
  assert.ok(flush());
  const loop = [0x5a];
  assert.equal(command(loop, I8042_CMD_AUX_LOOP), 0);
  assert.equal(loop[0], 0x5a);
  // (The AUX test is only used when the loop fails, but it must answer "no error" too.)
  const auxTest = [0xff];
  assert.equal(command(auxTest, I8042_CMD_AUX_TEST), 0);
  assert.equal(auxTest[0], 0x00);
  // i8042_toggle_aux(false) / (true): the CTR bit follows.
  const q = [0];
  assert.equal(command(q, I8042_CMD_AUX_DISABLE), 0);
  command(q, I8042_CMD_CTL_RCTR);
  assert.ok(q[0] & CTR_AUXDIS);
  assert.equal(command(q, I8042_CMD_AUX_ENABLE), 0);
  command(q, I8042_CMD_CTL_RCTR);
  assert.equal(q[0] & CTR_AUXDIS, 0);
  // IRQ delivery test: enable the AUX port with its interrupt, loop 0xA5 without reading it back.
  i8042Ctr = (i8042Ctr & ~CTR_AUXDIS) | CTR_AUXINT;
  assert.equal(command([i8042Ctr], I8042_CMD_CTL_WCTR), 0);
  const auxEdges = aux.edges;
  const kbdEdges = kbd.edges;
  assert.equal(command([0xa5], I8042_CMD_AUX_LOOP & 0xf0ff), 0);
  assert.equal(aux.edges, auxEdges + 1, 'IRQ 12 raised for the looped byte');
  assert.equal(kbd.edges, kbdEdges, 'not IRQ 1');
  assert.deepEqual(interrupts(), [{ byte: 0xa5, aux: true }]); // i8042_aux_test_irq completes
  assert.equal(aux.level, false);
  // Disable the interface again.
  i8042Ctr = (i8042Ctr | CTR_AUXDIS) & ~CTR_AUXINT;
  assert.equal(command([i8042Ctr], I8042_CMD_CTL_WCTR), 0);

  // i8042_check_mux(): F0, 56 echo; A4 echoing unchanged means "no active multiplexer".
  assert.ok(flush());
  for (const send of [0xf0, 0x56, 0xa4]) {
    const m = [send];
    assert.equal(command(m, I8042_CMD_AUX_LOOP), 0);
    assert.equal(m[0], send);
  }

  // i8042_enable_kbd_port(), i8042_enable_aux_port().
  i8042Ctr = (i8042Ctr & ~(CTR_KBDDIS | CTR_AUXDIS)) | CTR_KBDINT | CTR_AUXINT;
  assert.equal(command([i8042Ctr], I8042_CMD_CTL_WCTR), 0);
  assert.equal(t.dev.commandByte, i8042Ctr);
  assert.ok(flush());
});

test('atkbd probe through IRQ 1: reset, translated GETID 0xAB 0x41, LEDs, typematic, enable', () => {
  const t = make();
  linuxProbe(t);
  const { kbdSend, kbd, dev } = t;

  // ATKBD_CMD_RESET_BAT: ACK then the self-test result, each byte its own IRQ edge.
  const edges = kbd.edges;
  assert.deepEqual(kbdSend(0xff), [0xfa, 0xaa]);
  assert.equal(kbd.edges, edges + 2);
  // ATKBD_CMD_GETID: the keyboard says AB 83; the controller translates 83 to 41.
  assert.deepEqual(kbdSend(0xf2), [0xfa, 0xab, 0x41]);
  // atkbd_deactivate, atkbd_set_leds (Num Lock), atkbd_set_repeat_rate, atkbd_activate.
  assert.deepEqual(kbdSend(0xf5), [0xfa]);
  assert.deepEqual(kbdSend(0xed, 0x02), [0xfa, 0xfa]);
  assert.equal(dev.keyboardLeds, 0x02);
  assert.deepEqual(kbdSend(0xf3, 0x00), [0xfa, 0xfa]);
  assert.deepEqual(kbdSend(0xf4), [0xfa]);
  // Echo, scan code set query (the 02 answer goes through the table: 0x41), unknown command.
  assert.deepEqual(kbdSend(0xee), [0xee]);
  assert.deepEqual(kbdSend(0xf0, 0x00), [0xfa, 0xfa, 0x41]);
  assert.deepEqual(kbdSend(0x01), [0xfe]);
  // Resend repeats the last byte sent (the FE itself here).
  assert.deepEqual(kbdSend(0xfe), [0xfe]);
  assert.deepEqual(kbdSend(0xf6), [0xfa]);
});

test('without translation the keyboard speaks set 2, and set 1 when selected', () => {
  const t = make();
  const value = linuxProbe(t);
  const { command, kbdSend, dev } = t;
  command([value & ~CTR_XLATE], I8042_CMD_CTL_WCTR);
  assert.deepEqual(kbdSend(0xf2), [0xfa, 0xab, 0x83]);
  assert.deepEqual(kbdSend(0xf0, 0x00), [0xfa, 0xfa, 0x02]);
  // Keys in set 2: make and break.
  assert.ok(dev.keyDown([0x1c]));
  assert.ok(dev.keyUp([0x1c]));
  assert.deepEqual(t.interrupts().map((r) => r.byte), [0x1c, 0xf0, 0x1c]);
  // Select set 1: the keyboard converts.
  assert.deepEqual(kbdSend(0xf0, 0x01), [0xfa, 0xfa]);
  assert.deepEqual(kbdSend(0xf0, 0x00), [0xfa, 0xfa, 0x01]);
  dev.keyDown([0x1c]);
  dev.keyUp([0x1c]);
  assert.deepEqual(t.interrupts().map((r) => r.byte), [0x1e, 0x9e]);
  // An invalid set is refused.
  assert.deepEqual(kbdSend(0xf0, 0x07), [0xfa, 0xfe]);
});

test('injected keys are translated to set 1, break codes included', () => {
  const t = make();
  linuxProbe(t);
  const { dev, interrupts } = t;
  const bytes = () => interrupts().map((r) => r.byte);
  dev.keyDown([0x1c]); // A
  dev.keyUp([0x1c]);
  assert.deepEqual(bytes(), [0x1e, 0x9e]);
  dev.keyDown([0xe0, 0x75]); // Up arrow
  dev.keyUp([0xe0, 0x75]);
  assert.deepEqual(bytes(), [0xe0, 0x48, 0xe0, 0xc8]);
  dev.keyDown([0x5a]); // Enter
  dev.keyUp([0x5a]);
  dev.keyDown([0x76]); // Esc
  assert.deepEqual(bytes(), [0x1c, 0x9c, 0x01]);
  // Print Screen: the break undoes the make in reverse order.
  assert.deepEqual(set2BreakCodes([0xe0, 0x12, 0xe0, 0x7c]), [0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12]);
  dev.keyDown([0xe0, 0x12, 0xe0, 0x7c]);
  dev.keyUp([0xe0, 0x12, 0xe0, 0x7c]);
  assert.deepEqual(bytes(), [0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa]);
  // Pause has no break code.
  assert.deepEqual(set2BreakCodes([0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]), []);
  assert.deepEqual(translateSet2ToSet1([0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]), [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]);
  // F7 (set 2 0x83) and the rest of the fixed table's upper half.
  assert.deepEqual(translateSet2ToSet1([0x83, 0x84, 0xfa, 0xaa]), [0x41, 0x54, 0xfa, 0xaa]);
  // A break prefix waiting in a half-delivered sequence is remembered.
  dev.sendScancodes([0xf0]);
  assert.deepEqual(bytes(), []);
  dev.sendScancodes([0x1c]);
  assert.deepEqual(bytes(), [0x9e]);
  // ...and does not hold up the mouse meanwhile.
  t.auxSend(0xf4);
  dev.sendScancodes([0xf0]);
  dev.mouseMove(1, 0, 0);
  assert.deepEqual(interrupts(), [
    { byte: 0x08, aux: true },
    { byte: 0x01, aux: true },
    { byte: 0x00, aux: true },
  ]);
  dev.sendScancodes([0x5a]);
  assert.deepEqual(bytes(), [0x9c]);
});

test('keys: scanning must be enabled, the buffer holds 15 bytes, and Linux can always flush', () => {
  const t = make();
  const { dev, kbdSend, flush, inb } = t;
  // Power-on: keyboard scanning; fill the buffer beyond capacity before anyone reads.
  let accepted = 0;
  for (let i = 0; i < 40; i++) if (dev.keyDown([0x1c])) accepted++;
  assert.equal(accepted, 16, 'one byte in the output buffer plus 15 held by the keyboard');
  assert.ok(flush(), "i8042_flush drains everything within its 16 reads");
  assert.equal(inb(CMD) & STATUS_OBF, 0);
  linuxProbe(t);
  assert.deepEqual(kbdSend(0xf5), [0xfa]);
  assert.equal(dev.keyDown([0x1c]), false, 'scanning disabled');
  assert.deepEqual(t.interrupts(), []);
  assert.deepEqual(kbdSend(0xf4), [0xfa]);
  assert.equal(dev.keyDown([0x1c]), true);
  assert.deepEqual(t.interrupts().map((r) => r.byte), [0x1e]);
});

test('keyboard bytes wait while the keyboard interface is disabled; writing to the keyboard enables it', () => {
  const t = make();
  const value = linuxProbe(t);
  const { command, dev, inb, outb, kbd, interrupts } = t;
  command([0], 0x00ad);
  const c = [0];
  command(c, I8042_CMD_CTL_RCTR);
  assert.ok(c[0] & CTR_KBDDIS);
  dev.keyDown([0x1c]);
  assert.equal(inb(CMD) & STATUS_OBF, 0, 'held by the keyboard');
  command([0], 0x00ae);
  assert.equal(inb(CMD) & STATUS_OBF, STATUS_OBF);
  assert.equal(kbd.level, true);
  assert.deepEqual(interrupts().map((r) => r.byte), [0x1e]);
  // Disabled through the CTR, then a byte to the keyboard re-enables the interface.
  command([value | CTR_KBDDIS], I8042_CMD_CTL_WCTR);
  outb(DATA, 0xf2);
  assert.equal(dev.commandByte & CTR_KBDDIS, 0);
  assert.deepEqual(interrupts().map((r) => r.byte), [0xfa, 0xab, 0x41]);
});

test("psmouse probe of a plain PS/2 mouse through 0xD4 and IRQ 12", () => {
  const t = make();
  linuxProbe(t);
  const { auxSend, aux, kbd, dev } = t;
  const kbdEdges = kbd.edges;
  // psmouse_probe: GETID says 00 (a mouse); then reset/disable.
  assert.deepEqual(auxSend(0xf2), [0xfa, 0x00]);
  assert.deepEqual(auxSend(0xf6), [0xfa]);
  // psmouse_reset: BAT and ID.
  const edges = aux.edges;
  assert.deepEqual(auxSend(0xff), [0xfa, 0xaa, 0x00]);
  assert.equal(aux.edges, edges + 3);
  // IntelliMouse knock (200, 100, 80) then GETID: still 00, a plain mouse.
  assert.deepEqual(auxSend(0xf3, 200, 0xf3, 100, 0xf3, 80), [0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa]);
  assert.deepEqual(auxSend(0xf2), [0xfa, 0x00]);
  // Synaptics detection: SETRES 0 x4 then GETINFO; byte 1 is not 0x47.
  assert.deepEqual(auxSend(0xe8, 0, 0xe8, 0, 0xe8, 0, 0xe8, 0), new Array<number>(8).fill(0xfa));
  const info = auxSend(0xe9);
  assert.deepEqual(info, [0xfa, 0x00, 0x00, 80]);
  assert.notEqual(info[2], 0x47);
  // ALPS E7 report: SETRES 0, three 2:1 scalings, GETINFO: the scaling bit shows; no ALPS signature.
  assert.deepEqual(auxSend(0xe8, 0, 0xe7, 0xe7, 0xe7, 0xe9), [0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x10, 0x00, 80]);
  assert.deepEqual(auxSend(0xe6, 0xea), [0xfa, 0xfa]);
  // An unknown command (e.g. Touchkit's 0x0A) is refused cleanly.
  assert.deepEqual(auxSend(0x0a), [0xfe]);
  // psmouse_initialize and activate, then movement: X +5, Y -3, left button.
  assert.deepEqual(auxSend(0xf3, 100, 0xe8, 3, 0xe6, 0xf4), new Array<number>(6).fill(0xfa));
  assert.ok(dev.mouseMove(5, -3, 1));
  assert.deepEqual(t.interrupts(), [
    { byte: 0x29, aux: true },
    { byte: 0x05, aux: true },
    { byte: 0xfd, aux: true },
  ]);
  // Overflow is flagged and clamped.
  dev.mouseMove(300, 0, 0);
  assert.deepEqual(t.interrupts().map((r) => r.byte), [0x48, 0xff, 0x00]);
  assert.equal(kbd.edges, kbdEdges, 'mouse traffic never raises IRQ 1');
  // Status request reflects stream mode, reporting on, resolution 3, rate 100.
  assert.deepEqual(auxSend(0xe9), [0xfa, 0x20, 0x03, 100]);
  // Wrap mode echoes until 0xEC.
  assert.deepEqual(auxSend(0xee, 0x12, 0x34, 0xec), [0xfa, 0x12, 0x34, 0xfa]);
  // Remote mode: movement accumulates for READ DATA.
  assert.deepEqual(auxSend(0xf0), [0xfa]);
  dev.mouseMove(2, 0, 0);
  dev.mouseMove(3, 1, 0);
  assert.deepEqual(t.interrupts(), []);
  assert.deepEqual(auxSend(0xeb), [0xfa, 0x08, 0x05, 0x01]);
  // Reset disables reporting.
  assert.deepEqual(auxSend(0xea, 0xff), [0xfa, 0xfa, 0xaa, 0x00]);
  assert.equal(dev.mouseMove(1, 1, 0), false);
});

test('mouse bytes wait while the aux interface is disabled', () => {
  const t = make();
  const value = linuxProbe(t);
  const { auxSend, command, dev, inb, aux } = t;
  assert.deepEqual(auxSend(0xf4), [0xfa]);
  command([value | CTR_AUXDIS], I8042_CMD_CTL_WCTR);
  dev.mouseMove(1, 1, 0);
  assert.equal(inb(CMD) & STATUS_OBF, 0);
  assert.equal(aux.level, false);
  command([0], I8042_CMD_AUX_ENABLE);
  assert.equal(inb(CMD) & (STATUS_OBF | STATUS_AUXB), STATUS_OBF | STATUS_AUXB);
  assert.equal(aux.level, true);
  assert.deepEqual(t.interrupts().map((r) => r.byte), [0x08, 0x01, 0x01]);
});

test('IRQ lines are levels gated by the command byte; an empty buffer reads its last byte', () => {
  const t = make();
  const value = linuxProbe(t);
  const { dev, kbd, inb, command } = t;
  dev.keyDown([0x1c]);
  assert.equal(kbd.level, true);
  // Masking the interrupt in the command byte drops the line; the byte stays.
  command([value & ~CTR_KBDINT], I8042_CMD_CTL_WCTR);
  assert.equal(kbd.level, false);
  const status = inb(CMD);
  assert.ok(status & STATUS_OBF);
  assert.equal(status & STATUS_A2, 0, 'last write went to the data port');
  const edges = kbd.edges;
  command([value], I8042_CMD_CTL_WCTR);
  assert.equal(kbd.level, true);
  assert.equal(kbd.edges, edges + 1);
  assert.equal(inb(DATA), 0x1e);
  assert.equal(kbd.level, false);
  assert.equal(inb(DATA), 0x1e, 'reading an empty buffer returns the last byte');
  assert.equal(inb(CMD) & STATUS_OBF, 0);
  // A2 is set after a write to the command port.
  t.outb(CMD, 0xa7);
  assert.ok(inb(CMD) & STATUS_A2);
  // Controller responses raise IRQ 1 when it is enabled (Linux ignores the data-less interrupt).
  t.outb(CMD, 0x20);
  assert.equal(kbd.level, true);
  assert.equal(inb(DATA), value | CTR_AUXDIS);
});

test('controller commands: RAM, input/output ports, A20, reset pulses, 0xD2, controller mode', () => {
  const t = make();
  const { inb, outb, dev, interrupts } = t;
  const reply = (cmd: number) => {
    outb(CMD, cmd);
    assert.ok(inb(CMD) & STATUS_OBF);
    return inb(DATA);
  };
  outb(CMD, 0x61);
  outb(DATA, 0x5a);
  assert.equal(reply(0x21), 0x5a);
  assert.equal(reply(0x20), 0x47);
  // Writing the command byte's SYS bit sets the status flag.
  outb(CMD, 0x60);
  outb(DATA, 0x43);
  assert.equal(inb(CMD) & STATUS_SYS, 0);
  reply(0xaa);
  assert.ok(inb(CMD) & STATUS_SYS);
  outb(CMD, 0x60);
  outb(DATA, 0x47);
  assert.equal(reply(0xa9), 0x00);
  assert.equal(reply(0xab), 0x00);
  assert.equal(reply(0xa4), 0xf1);
  assert.equal(reply(0xc0) & 0x80, 0x80, 'keyboard not inhibited');
  assert.equal(reply(0xca), 0x01);
  outb(CMD, 0xcb);
  outb(DATA, 0x00);
  assert.equal(reply(0xca), 0x00);
  // Output port: reset line and A20 high.
  assert.equal(reply(0xd0) & 0x03, 0x03);
  assert.equal(dev.a20Enabled, true);
  outb(CMD, 0xd1);
  outb(DATA, 0xcd); // A20 off, reset line high
  assert.deepEqual(t.a20, [false]);
  assert.equal(dev.a20Enabled, false);
  assert.equal(t.resets(), 0);
  assert.equal(reply(0xd0) & 0x03, 0x01);
  outb(CMD, 0xdf);
  assert.deepEqual(t.a20, [false, true]);
  outb(CMD, 0xd1);
  outb(DATA, 0xce); // reset line low: a pulse
  assert.equal(t.resets(), 1);
  assert.equal(reply(0xd0) & 0x01, 0x01, 'the reset line is released again');
  // Pulse commands: 0xFE pulses bit 0 (reset), 0xFF pulses nothing, 0xFD pulses bit 1 only.
  outb(CMD, 0xfe);
  assert.equal(t.resets(), 2);
  outb(CMD, 0xff);
  outb(CMD, 0xfd);
  assert.equal(t.resets(), 2);
  // 0xD2: a byte as if from the keyboard (IRQ 1, not translated); 0xD3 as if from the mouse.
  outb(CMD, 0xd2);
  outb(DATA, 0x1c);
  assert.deepEqual(interrupts(), [{ byte: 0x1c, aux: false }]);
  outb(CMD, 0xd3);
  outb(DATA, 0x77);
  assert.deepEqual(interrupts(), [{ byte: 0x77, aux: true }]);
  // Password load swallows bytes up to 0x00; the keyboard sees none of them.
  outb(CMD, 0xa5);
  outb(DATA, 0x31);
  outb(DATA, 0x00);
  assert.equal(inb(CMD) & STATUS_OBF, 0);
  // Multi-byte port access is split into bytes: a word read at 0x60 reads 0x60 and 0x61.
  outb(CMD, 0x20);
  assert.equal(dev.ioRead(DATA, 2), 0xff47);
});

test('save/restore keeps the output buffer, queues and pending command', () => {
  const t = make();
  linuxProbe(t);
  const { dev, inb, outb, kbdSend } = t;
  kbdSend(0xed);
  // Leave: a GETID answer half read, a mouse setting, a pending 0xD1.
  outb(DATA, 0x00); // the LED argument
  assert.equal(inb(DATA), 0xfa);
  outb(DATA, 0xf2);
  assert.equal(inb(DATA), 0xfa);
  outb(CMD, 0xd4);
  outb(DATA, 0xe8);
  const saved = JSON.parse(JSON.stringify(dev.save())) as I8042State;

  const t2 = make();
  t2.dev.restore(saved);
  assert.equal(t2.kbd.level, true, 'the output buffer (0xAB) raises IRQ 1 after restore');
  assert.equal(t2.inb(DATA), 0xab);
  assert.equal(t2.inb(DATA), 0x41);
  assert.equal(t2.inb(DATA), 0xfa); // the mouse ACK for 0xE8
  t2.outb(CMD, 0xd4);
  t2.outb(DATA, 0x01); // the resolution argument still expected by the mouse
  assert.equal(t2.inb(DATA), 0xfa);
  assert.deepEqual(t2.auxSend(0xe9), [0xfa, 0x00, 0x01, 100]);
  assert.deepEqual(t2.dev.save().keyboard, { ...saved.keyboard, queue: [] });

  const bad = (patch: (s: Record<string, unknown>) => void, what: RegExp) => {
    const s = JSON.parse(JSON.stringify(saved)) as Record<string, unknown>;
    patch(s);
    const before = JSON.stringify(t2.dev.save());
    assert.throws(() => t2.dev.restore(s as unknown as I8042State), what);
    assert.equal(JSON.stringify(t2.dev.save()), before, 'a rejected record changes nothing');
  };
  bad((s) => (s.device = 'uart16550a'), /device is/);
  bad((s) => (s.version = 2), /version/);
  bad((s) => (s.ram = [1, 2, 3]), /ram/);
  bad((s) => (s.pendingCommand = 0xa7), /pendingCommand/);
  bad((s) => ((s.keyboard as Record<string, unknown>).scancodeSet = 4), /scancodeSet/);
  bad((s) => ((s.mouse as Record<string, unknown>).resolution = 9), /resolution/);
  bad((s) => (s.controllerQueue = [0x200]), /controllerQueue/);
});

test('reset() returns to the power-on state', () => {
  const t = make();
  const value = linuxProbe(t);
  t.command([value & ~CTR_XLATE], I8042_CMD_CTL_WCTR);
  t.outb(CMD, 0xdd);
  t.dev.keyDown([0x1c]);
  t.dev.reset();
  assert.equal(t.dev.commandByte, 0x47);
  assert.equal(t.dev.a20Enabled, true);
  assert.equal(t.kbd.level, false);
  assert.equal(t.inb(CMD) & STATUS_OBF, 0);
});
