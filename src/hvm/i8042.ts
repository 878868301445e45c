/**
 * The Intel 8042 keyboard controller of the PC/AT and PS/2 (ports 0x60 data,
 * 0x64 status/command), with a PS/2 keyboard on its first port (IRQ 1) and a
 * plain PS/2 mouse on its auxiliary port (IRQ 12).
 *
 * Design notes (behaviour from the 8042/PS/2 technical references and from
 * what Linux's i8042, atkbd, psmouse and libps2 drivers send and expect):
 *
 * - The controller is infinitely fast: the input buffer is consumed as soon
 *   as it is written, so IBF always reads 0, and command responses appear at
 *   once. Status A2 (bit 3) tells whether the last write went to the command
 *   port (1) or the data port (0); bit 4 reads 1 (keyboard not inhibited by
 *   the keylock); SYS (bit 2) follows command-byte bit 2 and is set by the
 *   self-test.
 * - Output buffer: one byte is visible at a time. Bytes waiting to enter it
 *   come from three queues, in priority order: controller responses, the
 *   keyboard, the mouse. A device's bytes only move in while its interface
 *   clock is enabled (command-byte bits 4 and 5; commands 0xAD/0xAE and
 *   0xA7/0xA8 set and clear them). Sending a byte to a device (port 0x60, or
 *   0xD4) enables its interface again, as the AT firmware does. Reading port
 *   0x60 empties the buffer and the next waiting byte moves in at once;
 *   reading it while empty returns the last byte again.
 * - Interrupts are levels, as on the board: IRQ 1 is high while the output
 *   buffer holds a non-aux byte and command-byte bit 0 is set; IRQ 12 while it
 *   holds an aux byte (status AUXB) and bit 1 is set. Reading port 0x60 drops
 *   the line before the next byte moves in, so every byte gives the
 *   edge-triggered PIC a fresh rising edge.
 * - Translation (command-byte bit 6, XLATE): keyboard bytes are converted
 *   from scan code set 2 to set 1 by the 8042's fixed table as they enter the
 *   output buffer; a 0xF0 prefix is swallowed and sets bit 7 of the next
 *   translated byte (so the break F0 1C reads as 0x9E). Responses the
 *   keyboard gives go through the same table (GET ID 0xAB 0x83 reads as
 *   0xAB 0x41); controller responses, 0xD2 and mouse bytes are not
 *   translated.
 * - Controller commands: 0x20-0x3F read RAM (0x20 = command byte), 0x60-0x7F
 *   write RAM, 0xA4 password check (0xF1, none installed), 0xA5 load password
 *   (bytes up to 0x00, ignored), 0xA7/0xA8 aux disable/enable, 0xA9/0xAB
 *   interface tests (0x00), 0xAA self-test (0x55), 0xAD/0xAE keyboard
 *   disable/enable, 0xC0 input port, 0xCA/0xCB controller mode (reads 0x01,
 *   PS/2 mode), 0xD0/0xD1 output port, 0xD2/0xD3 write the keyboard/aux output
 *   buffer (0xD3 is the loopback Linux uses to find the aux port and test
 *   IRQ 12), 0xD4 write to the mouse, 0xDD/0xDF A20 off/on, 0xE0 test inputs,
 *   0xF0-0xFF pulse output-port bits 3:0 (a 0 in bit 0, as in 0xFE, pulses the
 *   CPU reset line). Others are ignored. The active-multiplexing commands are
 *   not implemented: Linux's MUX probe gets its 0xA4 loopback byte back
 *   unchanged and concludes "no MUX".
 * - Output port (0xD0/0xD1): bit 0 is the CPU reset line (writing 0 pulses
 *   it: `onReset`; it reads back 1), bit 1 gates A20 (`onA20`), bits 4 and 5
 *   read the IRQ 1 / IRQ 12 output-buffer-full lines.
 * - Power-on state is what a BIOS leaves: self-test passed (SYS set), command
 *   byte 0x47 (translation, both interrupts, both interfaces enabled), A20 on,
 *   keyboard scanning in set 2, mouse reporting off.
 * - Keyboard: a PS/2 MF2 keyboard (ID 0xAB 0x83) that answers 0xFF reset
 *   (0xFA 0xAA), 0xF2, 0xF4, 0xF5, 0xF6, 0xED + LEDs, 0xF3 + typematic, 0xF0 +
 *   set (0 queries; sets 1-3 accepted), 0xEE echo, 0xF7-0xFA (set 3 modes,
 *   acknowledged), 0xFE resend; anything else gets 0xFE. Keys come from the
 *   host as set-2 byte sequences (`sendScancodes`, `keyDown`, `keyUp`) while
 *   scanning is enabled; with set 1 selected (and no translation) they are
 *   converted to set 1; set 3 is accepted but keys still come in set 2. The
 *   keyboard holds at most 15 bytes of key data (the 16th place is the
 *   output buffer, so Linux's 16-byte flush always drains the controller);
 *   key events that do not fit are dropped whole.
 * - Mouse: a plain PS/2 mouse (ID 0x00, no wheel). Linux's psmouse probe
 *   finds it: every extension probe (IntelliMouse knock, Synaptics, ALPS,
 *   Logitech...) gets ordinary answers that match none of them, and the
 *   driver settles on "PS/2 Generic Mouse". It answers 0xFF reset (0xFA 0xAA
 *   0x00), 0xF2 (0xFA 0x00), 0xF4/0xF5/0xF6, 0xE6/0xE7 scaling, 0xE8 +
 *   resolution, 0xF3 + rate, 0xE9 status (0xFA and three bytes), 0xEA stream,
 *   0xF0 remote, 0xEB read data, 0xEE/0xEC wrap mode, 0xFE resend; others get
 *   0xFE. `mouseMove` queues a movement packet in stream mode with reporting
 *   on, and accumulates for 0xEB in remote mode.
 */
import { badState, readBytes, writeBytes, type IrqLine, type Persistent, type PortDevice } from './device.js';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
export const I8042_KBD_IRQ = 1;
export const I8042_AUX_IRQ = 12;

/** Status register bits. */
export const STATUS_OBF = 0x01;
export const STATUS_IBF = 0x02;
export const STATUS_SYS = 0x04;
export const STATUS_A2 = 0x08;
export const STATUS_UNLOCKED = 0x10;
export const STATUS_AUXB = 0x20;

/** Command byte bits. */
export const CTR_KBDINT = 0x01;
export const CTR_AUXINT = 0x02;
export const CTR_SYS = 0x04;
export const CTR_KBDDIS = 0x10;
export const CTR_AUXDIS = 0x20;
export const CTR_XLATE = 0x40;

/** Output port bits. */
const OUT_RESET = 0x01;
const OUT_A20 = 0x02;
const OUT_KBD_OBF = 0x10;
const OUT_AUX_OBF = 0x20;

const POWER_ON_CTR = CTR_XLATE | CTR_SYS | CTR_AUXINT | CTR_KBDINT; // 0x47
/** Reset line and A20 high, keyboard clock/data high, bits 2-3 unused (read 1). */
const POWER_ON_OUTPUT_PORT = 0xcf;
/** Keyboard not inhibited, no manufacturing jumper, 512K on board, colour display. */
const INPUT_PORT = 0xb0;
/** Controller mode (0xCA): bit 0 set = PS/2 (MCA-style) interface. */
const POWER_ON_MODE = 0x01;

/** A controller-queue entry with this bit came through the aux side (0xD3). */
const AUX_FLAG = 0x100;

/** PS/2 device replies. */
const ACK = 0xfa;
const RESEND = 0xfe;
const BAT_OK = 0xaa;
const ECHO = 0xee;

/** Bytes of key or movement data a device holds (see the header). */
const DEVICE_BUFFER = 15;

/**
 * The 8042's scan code translation table (set 2 → set 1) for bytes 0x00-0x7F;
 * bytes 0x80-0xFF pass unchanged except 0x83 (F7) → 0x41 and 0x84 (SysRq) → 0x54.
 */
const XLATE_LOW = [
  'ff 43 41 3f 3d 3b 3c 58 64 44 42 40 3e 0f 29 59', // 0x00
  '65 38 2a 70 1d 10 02 5a 66 71 2c 1f 1e 11 03 5b', // 0x10
  '67 2e 2d 20 12 05 04 5c 68 39 2f 21 14 13 06 5d', // 0x20
  '69 31 30 23 22 15 07 5e 6a 72 32 24 16 08 09 5f', // 0x30
  '6b 33 25 17 18 0b 0a 60 6c 34 35 26 27 19 0c 61', // 0x40
  '6d 73 28 74 1a 0d 62 6e 3a 36 1c 1b 75 2b 63 76', // 0x50
  '55 56 77 78 79 7a 0e 7b 7c 4f 7d 4b 47 7e 7f 6f', // 0x60
  '52 53 50 4c 4d 48 01 45 57 4e 51 4a 37 49 46 54', // 0x70
]
  .join(' ')
  .split(' ')
  .map((h) => parseInt(h, 16));

const XLATE: Uint8Array = (() => {
  const t = new Uint8Array(256);
  t.set(XLATE_LOW);
  for (let i = 128; i < 256; i++) t[i] = i;
  t[0x83] = 0x41;
  t[0x84] = 0x54;
  return t;
})();

/** Translate a set-2 byte stream to set 1 as the 8042 does (0xF0 sets bit 7 of the next byte). */
export function translateSet2ToSet1(bytes: readonly number[]): number[] {
  const out: number[] = [];
  let breakPrefix = false;
  for (const b of bytes) {
    if (b === 0xf0) {
      breakPrefix = true;
      continue;
    }
    out.push(XLATE[b & 0xff] | (breakPrefix ? 0x80 : 0));
    breakPrefix = false;
  }
  return out;
}

/** The set-2 break sequence of a make sequence (E0-prefixed units in reverse order, each with F0); [] for Pause. */
export function set2BreakCodes(make: readonly number[]): number[] {
  if (make.length === 0 || make[0] === 0xe1) return [];
  const units: number[][] = [];
  for (let i = 0; i < make.length; i++) {
    if (make[i] === 0xe0 && i + 1 < make.length) {
      units.push([0xe0, 0xf0, make[i + 1]]);
      i++;
    } else {
      units.push([0xf0, make[i]]);
    }
  }
  return units.reverse().flat();
}

function isByte(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;
}

function byteArray(v: unknown, max: number, limit = 0xff): number[] | null {
  if (!Array.isArray(v) || v.length > max) return null;
  for (const b of v) if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > limit) return null;
  return [...(v as number[])];
}

// ------------------------------------------------------------------ keyboard

export interface Ps2KeyboardState {
  queue: number[];
  scanning: boolean;
  scancodeSet: number;
  leds: number;
  typematic: number;
  /** Command waiting for its argument byte (0xED, 0xF3, 0xF0), or 0. */
  expecting: number;
  lastSent: number;
}

class Ps2Keyboard {
  queue: number[] = [];
  scanning = true;
  scancodeSet = 2;
  leds = 0;
  typematic = 0x2b; // 10.9 characters/s after 500 ms
  expecting = 0;
  lastSent = BAT_OK;

  private send(...bytes: number[]): void {
    for (const b of bytes) {
      this.queue.push(b);
      this.lastSent = b;
    }
  }

  private defaults(): void {
    this.scancodeSet = 2;
    this.typematic = 0x2b;
    this.leds = 0;
  }

  /** A byte from the host (controller). */
  write(byte: number): void {
    const cmd = this.expecting;
    if (cmd) {
      this.expecting = 0;
      if (cmd === 0xed) {
        this.leds = byte & 0x07;
        this.send(ACK);
      } else if (cmd === 0xf3) {
        this.typematic = byte & 0x7f;
        this.send(ACK);
      } else if (byte === 0) {
        this.send(ACK, this.scancodeSet);
      } else if (byte <= 3) {
        this.scancodeSet = byte;
        this.send(ACK);
      } else {
        this.send(RESEND);
      }
      return;
    }
    switch (byte) {
      case 0xed: // set LEDs
      case 0xf3: // set typematic rate/delay
      case 0xf0: // get/set scan code set
        this.expecting = byte;
        this.send(ACK);
        break;
      case 0xee:
        this.send(ECHO);
        break;
      case 0xf2:
        this.send(ACK, 0xab, 0x83);
        break;
      case 0xf4: // enable scanning (clears the buffer)
        this.queue = [];
        this.scanning = true;
        this.send(ACK);
        break;
      case 0xf5: // disable scanning, defaults
        this.queue = [];
        this.defaults();
        this.scanning = false;
        this.send(ACK);
        break;
      case 0xf6: // defaults
        this.queue = [];
        this.defaults();
        this.send(ACK);
        break;
      case 0xf7: // set 3: all keys typematic / make-break / make / all
      case 0xf8:
      case 0xf9:
      case 0xfa:
        this.send(ACK);
        break;
      case 0xfe: // resend
        this.queue.push(this.lastSent);
        break;
      case 0xff: // reset and self-test
        this.queue = [];
        this.defaults();
        this.scanning = true;
        this.send(ACK, BAT_OK);
        break;
      default:
        this.send(RESEND);
    }
  }

  /** Key data from the host as set-2 bytes; false if not accepted. */
  keys(set2: readonly number[], translated: boolean): boolean {
    if (!this.scanning || set2.length === 0) return this.scanning;
    const bytes = this.scancodeSet === 1 && !translated ? translateSet2ToSet1(set2) : set2.map((b) => b & 0xff);
    if (this.queue.length + bytes.length > DEVICE_BUFFER) return false;
    this.send(...bytes);
    return true;
  }

  save(): Ps2KeyboardState {
    return {
      queue: [...this.queue],
      scanning: this.scanning,
      scancodeSet: this.scancodeSet,
      leds: this.leds,
      typematic: this.typematic,
      expecting: this.expecting,
      lastSent: this.lastSent,
    };
  }

  static validate(raw: unknown): Ps2KeyboardState {
    if (typeof raw !== 'object' || raw === null) badState('i8042', 'keyboard is not an object');
    const k = raw as Record<string, unknown>;
    const queue = byteArray(k.queue, 64);
    if (!queue) badState('i8042', 'bad keyboard.queue');
    if (typeof k.scanning !== 'boolean') badState('i8042', 'bad keyboard.scanning');
    if (k.scancodeSet !== 1 && k.scancodeSet !== 2 && k.scancodeSet !== 3) badState('i8042', 'bad keyboard.scancodeSet');
    if (!isByte(k.leds) || k.leds > 7) badState('i8042', 'bad keyboard.leds');
    if (!isByte(k.typematic) || k.typematic > 0x7f) badState('i8042', 'bad keyboard.typematic');
    if (k.expecting !== 0 && k.expecting !== 0xed && k.expecting !== 0xf3 && k.expecting !== 0xf0) {
      badState('i8042', 'bad keyboard.expecting');
    }
    if (!isByte(k.lastSent)) badState('i8042', 'bad keyboard.lastSent');
    return {
      queue,
      scanning: k.scanning,
      scancodeSet: k.scancodeSet,
      leds: k.leds,
      typematic: k.typematic,
      expecting: k.expecting,
      lastSent: k.lastSent,
    };
  }

  load(s: Ps2KeyboardState): void {
    this.queue = [...s.queue];
    this.scanning = s.scanning;
    this.scancodeSet = s.scancodeSet;
    this.leds = s.leds;
    this.typematic = s.typematic;
    this.expecting = s.expecting;
    this.lastSent = s.lastSent;
  }
}

// ------------------------------------------------------------------ mouse

export interface Ps2MouseState {
  queue: number[];
  reporting: boolean;
  remote: boolean;
  wrap: boolean;
  scaling21: boolean;
  resolution: number;
  sampleRate: number;
  /** Command waiting for its argument byte (0xE8, 0xF3), or 0. */
  expecting: number;
  lastSent: number;
  /** Buttons held: bit 0 left, bit 1 right, bit 2 middle. */
  buttons: number;
  /** Movement not yet reported (remote mode). */
  dx: number;
  dy: number;
}

class Ps2Mouse {
  queue: number[] = [];
  reporting = false;
  remote = false;
  wrap = false;
  scaling21 = false;
  resolution = 2; // 4 counts/mm
  sampleRate = 100;
  expecting = 0;
  lastSent = 0;
  buttons = 0;
  dx = 0;
  dy = 0;

  private send(...bytes: number[]): void {
    for (const b of bytes) {
      this.queue.push(b);
      this.lastSent = b;
    }
  }

  private defaults(): void {
    this.reporting = false;
    this.remote = false;
    this.scaling21 = false;
    this.resolution = 2;
    this.sampleRate = 100;
    this.dx = this.dy = 0;
  }

  write(byte: number): void {
    const cmd = this.expecting;
    if (cmd) {
      this.expecting = 0;
      if (cmd === 0xe8) this.resolution = byte & 3;
      else this.sampleRate = byte;
      this.send(ACK);
      return;
    }
    if (this.wrap && byte !== 0xec && byte !== 0xff) {
      this.send(byte);
      return;
    }
    switch (byte) {
      case 0xe6:
        this.scaling21 = false;
        this.send(ACK);
        break;
      case 0xe7:
        this.scaling21 = true;
        this.send(ACK);
        break;
      case 0xe8: // set resolution
      case 0xf3: // set sample rate
        this.expecting = byte;
        this.send(ACK);
        break;
      case 0xe9: // status request
        this.send(ACK, this.statusByte(), this.resolution, this.sampleRate);
        break;
      case 0xea: // stream mode
        this.remote = false;
        this.dx = this.dy = 0;
        this.send(ACK);
        break;
      case 0xeb: // read data
        this.send(ACK, ...this.packet(this.dx, this.dy));
        this.dx = this.dy = 0;
        break;
      case 0xec: // reset wrap mode
        this.wrap = false;
        this.send(ACK);
        break;
      case 0xee: // set wrap mode
        this.wrap = true;
        this.send(ACK);
        break;
      case 0xf0: // remote mode
        this.remote = true;
        this.dx = this.dy = 0;
        this.send(ACK);
        break;
      case 0xf2:
        this.send(ACK, 0x00);
        break;
      case 0xf4:
        this.queue = [];
        this.reporting = true;
        this.send(ACK);
        break;
      case 0xf5:
        this.queue = [];
        this.reporting = false;
        this.send(ACK);
        break;
      case 0xf6:
        this.queue = [];
        this.defaults();
        this.send(ACK);
        break;
      case 0xfe:
        this.queue.push(this.lastSent);
        break;
      case 0xff:
        this.queue = [];
        this.defaults();
        this.wrap = false;
        this.send(ACK, BAT_OK, 0x00);
        break;
      default:
        this.send(RESEND);
    }
  }

  private statusByte(): number {
    const b = this.buttons;
    return (
      (this.remote ? 0x40 : 0) |
      (this.reporting ? 0x20 : 0) |
      (this.scaling21 ? 0x10 : 0) |
      (b & 1 ? 0x04 : 0) | // left
      (b & 4 ? 0x02 : 0) | // middle
      (b & 2 ? 0x01 : 0) // right
    );
  }

  /** A standard 3-byte packet (dy positive is up). */
  private packet(dx: number, dy: number): number[] {
    const clamp = (v: number) => Math.max(-256, Math.min(255, v));
    const x = clamp(dx);
    const y = clamp(dy);
    const b0 =
      (this.buttons & 7) |
      0x08 |
      (x < 0 ? 0x10 : 0) |
      (y < 0 ? 0x20 : 0) |
      (x !== dx ? 0x40 : 0) |
      (y !== dy ? 0x80 : 0);
    return [b0, x & 0xff, y & 0xff];
  }

  move(dx: number, dy: number, buttons: number): boolean {
    this.buttons = buttons & 7;
    if (this.wrap) return false;
    if (this.remote) {
      this.dx += dx;
      this.dy += dy;
      return true;
    }
    if (!this.reporting || this.queue.length + 3 > DEVICE_BUFFER) return false;
    this.send(...this.packet(dx, dy));
    return true;
  }

  save(): Ps2MouseState {
    return {
      queue: [...this.queue],
      reporting: this.reporting,
      remote: this.remote,
      wrap: this.wrap,
      scaling21: this.scaling21,
      resolution: this.resolution,
      sampleRate: this.sampleRate,
      expecting: this.expecting,
      lastSent: this.lastSent,
      buttons: this.buttons,
      dx: this.dx,
      dy: this.dy,
    };
  }

  static validate(raw: unknown): Ps2MouseState {
    if (typeof raw !== 'object' || raw === null) badState('i8042', 'mouse is not an object');
    const m = raw as Record<string, unknown>;
    const queue = byteArray(m.queue, 64);
    if (!queue) badState('i8042', 'bad mouse.queue');
    for (const key of ['reporting', 'remote', 'wrap', 'scaling21']) {
      if (typeof m[key] !== 'boolean') badState('i8042', `bad mouse.${key}`);
    }
    if (!isByte(m.resolution) || m.resolution > 3) badState('i8042', 'bad mouse.resolution');
    if (!isByte(m.sampleRate)) badState('i8042', 'bad mouse.sampleRate');
    if (m.expecting !== 0 && m.expecting !== 0xe8 && m.expecting !== 0xf3) badState('i8042', 'bad mouse.expecting');
    if (!isByte(m.lastSent)) badState('i8042', 'bad mouse.lastSent');
    if (!isByte(m.buttons) || m.buttons > 7) badState('i8042', 'bad mouse.buttons');
    for (const key of ['dx', 'dy']) {
      const v = m[key];
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) badState('i8042', `bad mouse.${key}`);
    }
    return {
      queue,
      reporting: m.reporting as boolean,
      remote: m.remote as boolean,
      wrap: m.wrap as boolean,
      scaling21: m.scaling21 as boolean,
      resolution: m.resolution,
      sampleRate: m.sampleRate,
      expecting: m.expecting,
      lastSent: m.lastSent,
      buttons: m.buttons,
      dx: m.dx as number,
      dy: m.dy as number,
    };
  }

  load(s: Ps2MouseState): void {
    this.queue = [...s.queue];
    this.reporting = s.reporting;
    this.remote = s.remote;
    this.wrap = s.wrap;
    this.scaling21 = s.scaling21;
    this.resolution = s.resolution;
    this.sampleRate = s.sampleRate;
    this.expecting = s.expecting;
    this.lastSent = s.lastSent;
    this.buttons = s.buttons;
    this.dx = s.dx;
    this.dy = s.dy;
  }
}

// ------------------------------------------------------------------ controller

/** Controller commands that take a data byte through port 0x60. */
const TAKES_DATA = new Set([0xa5, 0xcb, 0xd1, 0xd2, 0xd3, 0xd4]);

export interface I8042State {
  device: 'i8042';
  version: 1;
  /** The 32 bytes of controller RAM; byte 0 is the command byte. */
  ram: number[];
  sysFlag: boolean;
  /** Status A2: the last write went to the command port. */
  lastWasCommand: boolean;
  outputPort: number;
  controllerMode: number;
  /** Controller command waiting for its data byte, or 0. */
  pendingCommand: number;
  outputFull: boolean;
  outputAux: boolean;
  outputByte: number;
  /** Controller responses waiting for the output buffer (bit 8: from the aux side). */
  controllerQueue: number[];
  /** A translated 0xF0 is waiting for the byte it marks as a break. */
  xlateBreak: boolean;
  keyboard: Ps2KeyboardState;
  mouse: Ps2MouseState;
}

export interface I8042Options {
  /** IRQ 1. */
  kbdIrq: IrqLine;
  /** IRQ 12. */
  auxIrq: IrqLine;
  /** The CPU reset line was pulsed (output port bit 0 written 0, or a pulse command such as 0xFE). */
  onReset: () => void;
  /** Output port bit 1 (A20 gate) changed. */
  onA20?: (enabled: boolean) => void;
}

export class I8042 implements PortDevice, Persistent<I8042State> {
  private readonly kbdIrq: IrqLine;
  private readonly auxIrq: IrqLine;
  private readonly onReset: () => void;
  private readonly onA20: (enabled: boolean) => void;

  private ram = new Uint8Array(32);
  private sysFlag = true;
  private lastWasCommand = false;
  private outputPort = POWER_ON_OUTPUT_PORT;
  private controllerMode = POWER_ON_MODE;
  private pendingCommand = 0;
  private outputFull = false;
  private outputAux = false;
  private outputByte = 0;
  private controllerQueue: number[] = [];
  private xlateBreak = false;
  private readonly keyboard = new Ps2Keyboard();
  private readonly mouse = new Ps2Mouse();
  private kbdLevel = false;
  private auxLevel = false;

  constructor(options: I8042Options) {
    this.kbdIrq = options.kbdIrq;
    this.auxIrq = options.auxIrq;
    this.onReset = options.onReset;
    this.onA20 = options.onA20 ?? (() => {});
    this.ram[0] = POWER_ON_CTR;
  }

  // ---- host side ----

  /** Raw bytes from the keyboard in scan code set 2 (make or break sequences). False if dropped. */
  sendScancodes(set2: readonly number[]): boolean {
    const ok = this.keyboard.keys(set2, (this.ctr & CTR_XLATE) !== 0);
    this.pump();
    return ok;
  }

  /** A key went down: its set-2 make sequence, e.g. [0x1C] for A or [0xE0, 0x75] for Up. */
  keyDown(make: readonly number[]): boolean {
    return this.sendScancodes(make);
  }

  /** A key went up: the break sequence derived from its set-2 make sequence. */
  keyUp(make: readonly number[]): boolean {
    const brk = set2BreakCodes(make);
    return brk.length === 0 || this.sendScancodes(brk);
  }

  /** Mouse movement (dy positive is up) and buttons (bit 0 left, 1 right, 2 middle). */
  mouseMove(dx: number, dy: number, buttons = 0): boolean {
    const ok = this.mouse.move(Math.trunc(dx), Math.trunc(dy), buttons);
    this.pump();
    return ok;
  }

  /** The keyboard LEDs as last set (bit 0 Scroll Lock, 1 Num Lock, 2 Caps Lock). */
  get keyboardLeds(): number {
    return this.keyboard.leds;
  }

  /** Output port bit 1. */
  get a20Enabled(): boolean {
    return (this.outputPort & OUT_A20) !== 0;
  }

  /** The command byte (controller RAM byte 0). */
  get commandByte(): number {
    return this.ram[0];
  }

  /** Back to the power-on state (the IRQ lines drop). */
  reset(): void {
    const a20Before = this.a20Enabled;
    this.ram = new Uint8Array(32);
    this.ram[0] = POWER_ON_CTR;
    this.sysFlag = true;
    this.lastWasCommand = false;
    this.outputPort = POWER_ON_OUTPUT_PORT;
    this.controllerMode = POWER_ON_MODE;
    this.pendingCommand = 0;
    this.outputFull = false;
    this.outputAux = false;
    this.outputByte = 0;
    this.controllerQueue = [];
    this.xlateBreak = false;
    this.keyboard.load(new Ps2Keyboard().save());
    this.mouse.load(new Ps2Mouse().save());
    this.updateIrqs();
    if (!a20Before) this.onA20(true);
  }

  // ---- port I/O ----

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => {
      if (p === I8042_DATA_PORT) return this.readData();
      if (p === I8042_COMMAND_PORT) return this.readStatus();
      return 0xff;
    });
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    writeBytes(port, size, value, (p, byte) => {
      if (p === I8042_DATA_PORT) this.writeData(byte);
      else if (p === I8042_COMMAND_PORT) this.writeCommand(byte);
    });
  }

  private get ctr(): number {
    return this.ram[0];
  }

  private readStatus(): number {
    return (
      (this.outputFull ? STATUS_OBF : 0) |
      (this.sysFlag ? STATUS_SYS : 0) |
      (this.lastWasCommand ? STATUS_A2 : 0) |
      STATUS_UNLOCKED |
      (this.outputFull && this.outputAux ? STATUS_AUXB : 0)
    );
  }

  private readData(): number {
    const byte = this.outputByte;
    if (this.outputFull) {
      this.outputFull = false;
      this.outputAux = false;
      this.updateIrqs(); // drop the line so the next byte gives a new edge
      this.pump();
    }
    return byte;
  }

  private writeData(byte: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCommand;
    if (cmd === 0) {
      // To the keyboard; sending to it enables its interface.
      this.ram[0] &= ~CTR_KBDDIS;
      this.keyboard.write(byte);
      this.pump();
      return;
    }
    this.pendingCommand = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd & 0x1f] = byte;
      if (cmd === 0x60) this.sysFlag = (byte & CTR_SYS) !== 0;
    } else {
      switch (cmd) {
        case 0xa5: // password bytes, terminated by 0x00
          if (byte !== 0) this.pendingCommand = cmd;
          break;
        case 0xcb:
          this.controllerMode = byte;
          break;
        case 0xd1:
          this.writeOutputPort(byte);
          break;
        case 0xd2:
          this.controllerQueue.push(byte);
          break;
        case 0xd3:
          this.controllerQueue.push(byte | AUX_FLAG);
          break;
        case 0xd4:
          this.ram[0] &= ~CTR_AUXDIS;
          this.mouse.write(byte);
          break;
      }
    }
    this.pump();
  }

  private respond(byte: number): void {
    this.controllerQueue.push(byte & 0xff);
  }

  private writeCommand(cmd: number): void {
    this.lastWasCommand = true;
    this.pendingCommand = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) {
      this.respond(this.ram[cmd & 0x1f]);
    } else if ((cmd >= 0x60 && cmd <= 0x7f) || TAKES_DATA.has(cmd)) {
      this.pendingCommand = cmd;
    } else if (cmd >= 0xf0) {
      // Pulse output-port bits 3:0 that are 0 in the command; bit 0 is the reset line.
      if ((cmd & OUT_RESET) === 0) this.onReset();
    } else {
      switch (cmd) {
        case 0xa4: // password installed?
          this.respond(0xf1);
          break;
        case 0xa7:
          this.ram[0] |= CTR_AUXDIS;
          break;
        case 0xa8:
          this.ram[0] &= ~CTR_AUXDIS;
          break;
        case 0xa9: // aux interface test
        case 0xab: // keyboard interface test
          this.respond(0x00);
          break;
        case 0xaa: // controller self-test
          this.sysFlag = true;
          this.respond(0x55);
          break;
        case 0xad:
          this.ram[0] |= CTR_KBDDIS;
          break;
        case 0xae:
          this.ram[0] &= ~CTR_KBDDIS;
          break;
        case 0xc0:
          this.respond(INPUT_PORT);
          break;
        case 0xca:
          this.respond(this.controllerMode);
          break;
        case 0xd0:
          this.respond(this.readOutputPort());
          break;
        case 0xdd:
          this.writeOutputPort(this.outputPort & ~OUT_A20);
          break;
        case 0xdf:
          this.writeOutputPort(this.outputPort | OUT_A20);
          break;
        case 0xe0: // test inputs (keyboard clock and data)
          this.respond(0x00);
          break;
        default:
          break; // not implemented: ignored
      }
    }
    this.pump();
  }

  private readOutputPort(): number {
    let v = this.outputPort & ~(OUT_KBD_OBF | OUT_AUX_OBF);
    if (this.outputFull) v |= this.outputAux ? OUT_AUX_OBF : OUT_KBD_OBF;
    return v;
  }

  private writeOutputPort(byte: number): void {
    const old = this.outputPort;
    // The reset line is pulsed, not held: it reads back high.
    this.outputPort = byte | OUT_RESET;
    if ((old ^ this.outputPort) & OUT_A20) this.onA20(this.a20Enabled);
    if ((byte & OUT_RESET) === 0) this.onReset();
  }

  /** Move the next waiting byte into an empty output buffer and update the IRQ lines. */
  private pump(): void {
    if (!this.outputFull) {
      const ctl = this.controllerQueue.shift();
      if (ctl !== undefined) {
        this.load(ctl & 0xff, (ctl & AUX_FLAG) !== 0);
      } else {
        if (!(this.ctr & CTR_KBDDIS)) this.pumpKeyboard();
        // (A lone translated 0xF0 yields nothing: the mouse may go.)
        if (!this.outputFull && !(this.ctr & CTR_AUXDIS) && this.mouse.queue.length > 0) {
          this.load(this.mouse.queue.shift() as number, true);
        }
      }
    }
    this.updateIrqs();
  }

  private pumpKeyboard(): void {
    const queue = this.keyboard.queue;
    while (queue.length > 0) {
      const b = queue.shift() as number;
      if (!(this.ctr & CTR_XLATE)) {
        this.load(b, false);
        return;
      }
      if (b === 0xf0) {
        this.xlateBreak = true;
        continue;
      }
      this.load(XLATE[b] | (this.xlateBreak ? 0x80 : 0), false);
      this.xlateBreak = false;
      return;
    }
  }

  private load(byte: number, aux: boolean): void {
    this.outputByte = byte;
    this.outputAux = aux;
    this.outputFull = true;
  }

  private updateIrqs(force = false): void {
    const kbd = this.outputFull && !this.outputAux && (this.ctr & CTR_KBDINT) !== 0;
    const aux = this.outputFull && this.outputAux && (this.ctr & CTR_AUXINT) !== 0;
    if (kbd !== this.kbdLevel || force) {
      this.kbdLevel = kbd;
      this.kbdIrq.set(kbd);
    }
    if (aux !== this.auxLevel || force) {
      this.auxLevel = aux;
      this.auxIrq.set(aux);
    }
  }

  // ---- save/restore ----

  save(): I8042State {
    return {
      device: 'i8042',
      version: 1,
      ram: [...this.ram],
      sysFlag: this.sysFlag,
      lastWasCommand: this.lastWasCommand,
      outputPort: this.outputPort,
      controllerMode: this.controllerMode,
      pendingCommand: this.pendingCommand,
      outputFull: this.outputFull,
      outputAux: this.outputAux,
      outputByte: this.outputByte,
      controllerQueue: [...this.controllerQueue],
      xlateBreak: this.xlateBreak,
      keyboard: this.keyboard.save(),
      mouse: this.mouse.save(),
    };
  }

  restore(state: I8042State): void {
    const name = 'i8042';
    if (typeof state !== 'object' || (state as unknown) === null) badState(name, 'not an object');
    const s = state as unknown as Record<string, unknown>;
    if (s.device !== name) badState(name, `device is ${String(s.device)}`);
    if (s.version !== 1) badState(name, `unsupported version ${String(s.version)}`);
    const ram = byteArray(s.ram, 32);
    if (!ram || ram.length !== 32) badState(name, 'bad ram');
    for (const key of ['sysFlag', 'lastWasCommand', 'outputFull', 'outputAux', 'xlateBreak']) {
      if (typeof s[key] !== 'boolean') badState(name, `bad ${key}`);
    }
    for (const key of ['outputPort', 'controllerMode', 'outputByte']) {
      if (!isByte(s[key])) badState(name, `bad ${key}`);
    }
    const pending = s.pendingCommand;
    if (
      !isByte(pending) ||
      (pending !== 0 && !(pending >= 0x60 && pending <= 0x7f) && !TAKES_DATA.has(pending))
    ) {
      badState(name, 'bad pendingCommand');
    }
    const controllerQueue = byteArray(s.controllerQueue, 64, 0x1ff);
    if (!controllerQueue) badState(name, 'bad controllerQueue');
    const keyboard = Ps2Keyboard.validate(s.keyboard);
    const mouse = Ps2Mouse.validate(s.mouse);

    const a20Before = this.a20Enabled;
    this.ram = Uint8Array.from(ram);
    this.sysFlag = s.sysFlag as boolean;
    this.lastWasCommand = s.lastWasCommand as boolean;
    this.outputPort = (s.outputPort as number) | OUT_RESET;
    this.controllerMode = s.controllerMode as number;
    this.pendingCommand = pending;
    this.outputFull = s.outputFull as boolean;
    this.outputAux = (s.outputAux as boolean) && this.outputFull;
    this.outputByte = s.outputByte as number;
    this.controllerQueue = controllerQueue;
    this.xlateBreak = s.xlateBreak as boolean;
    this.keyboard.load(keyboard);
    this.mouse.load(mouse);
    this.updateIrqs(true);
    if (a20Before !== this.a20Enabled) this.onA20(this.a20Enabled);
  }
}
