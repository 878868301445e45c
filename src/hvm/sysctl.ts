/**
 * The PC's small system control ports, as a PIIX3-based board decodes them:
 *
 * - `SystemControlPortA`, port 0x92 ("fast A20 and reset", PS/2 System
 *   Control Port A, implemented by the PIIX3). Bit 1 (ALT_A20_GATE) gates A20
 *   and reads back; bit 0 (ALT_RST) requests a CPU reset on its 0-to-1
 *   transition, as the PIIX3 datasheet specifies: writing 1 while the bit
 *   already reads 1 does nothing, so software clears it before the next fast
 *   reset. Bits 7:2 are reserved on the PIIX3 and read 0. The port starts in
 *   the state firmware leaves it: A20 enabled (0x02), since the machine boots
 *   Linux directly without a BIOS.
 * - `ResetControl`, port 0xCF9 (PIIX3 Reset Control Register, RC). Bit 1
 *   (SYS_RST) chooses the kind of reset: 1 = hard (the whole system, as a
 *   power cycle), 0 = soft (INIT to the CPU). Writing with bit 2 (RST_CPU) set
 *   starts that reset at once; RST_CPU is self-clearing, so only SYS_RST reads
 *   back. Linux's `reboot=pci` writes 0x02 then 0x06 (0x0E on chipsets with
 *   FULL_RST, bit 3, reserved here). Port 0xCF9 sits inside the PCI
 *   configuration-address dword (0xCF8-0xCFB): only byte accesses reach this
 *   register; the machine must decode 0xCF9 here and the dword at 0xCF8 on the
 *   PCI bus.
 * - `PostPort`, port 0x80 (the POST diagnostic port). Writes latch the byte
 *   (the last one is kept and reported through `onPost`), reads return it.
 *   Linux writes this port for every `outb_p` I/O delay, so it is cheap.
 *
 * Multi-byte accesses are split into byte accesses at consecutive ports (the
 * ISA bus does this); bytes at ports the device does not decode read 0xFF.
 */
import { badState, readBytes, writeBytes, type Persistent, type PortDevice } from './device.js';

export const SYSTEM_CONTROL_PORT_A = 0x92;
export const RESET_CONTROL_PORT = 0xcf9;
export const POST_PORT = 0x80;

/** Port 0x92 bits. */
const PORT_A_ALT_RST = 0x01;
const PORT_A_A20 = 0x02;
const PORT_A_IMPLEMENTED = PORT_A_ALT_RST | PORT_A_A20;

/** Reset Control Register bits. */
const RC_SYS_RST = 0x02;
const RC_RST_CPU = 0x04;

function byteField(device: string, s: Record<string, unknown>, key: string, mask = 0xff): number {
  const v = s[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || (v & ~mask) !== 0) badState(device, `bad ${key}`);
  return v;
}

function header(device: string, state: unknown): Record<string, unknown> {
  if (typeof state !== 'object' || state === null) badState(device, 'not an object');
  const s = state as Record<string, unknown>;
  if (s.device !== device) badState(device, `device is ${String(s.device)}`);
  if (s.version !== 1) badState(device, `unsupported version ${String(s.version)}`);
  return s;
}

// ---------------------------------------------------------------- port 0x92

export interface SystemControlPortAState {
  device: 'port92';
  version: 1;
  /** Bits 1:0 as last written (ALT_A20_GATE, ALT_RST). */
  value: number;
}

export interface SystemControlPortAOptions {
  /** ALT_RST went from 0 to 1: the CPU is reset. */
  onReset: () => void;
  /** ALT_A20_GATE changed. */
  onA20?: (enabled: boolean) => void;
  /** A20 at power-on (default true: the state firmware leaves). */
  a20?: boolean;
}

export class SystemControlPortA implements PortDevice, Persistent<SystemControlPortAState> {
  private value: number;
  private readonly onReset: () => void;
  private readonly onA20: (enabled: boolean) => void;

  constructor(options: SystemControlPortAOptions) {
    this.onReset = options.onReset;
    this.onA20 = options.onA20 ?? (() => {});
    this.value = options.a20 === false ? 0 : PORT_A_A20;
  }

  /** Whether ALT_A20_GATE lets address line 20 through. */
  get a20Enabled(): boolean {
    return (this.value & PORT_A_A20) !== 0;
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => (p === SYSTEM_CONTROL_PORT_A ? this.value : 0xff));
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    writeBytes(port, size, value, (p, byte) => {
      if (p === SYSTEM_CONTROL_PORT_A) this.write(byte);
    });
  }

  private write(byte: number): void {
    const old = this.value;
    this.value = byte & PORT_A_IMPLEMENTED;
    if ((old ^ this.value) & PORT_A_A20) this.onA20(this.a20Enabled);
    if (this.value & PORT_A_ALT_RST & ~old) this.onReset();
  }

  save(): SystemControlPortAState {
    return { device: 'port92', version: 1, value: this.value };
  }

  restore(state: SystemControlPortAState): void {
    const s = header('port92', state);
    const value = byteField('port92', s, 'value', PORT_A_IMPLEMENTED);
    const a20Changed = ((this.value ^ value) & PORT_A_A20) !== 0;
    this.value = value;
    if (a20Changed) this.onA20(this.a20Enabled);
  }
}

// ---------------------------------------------------------------- port 0xCF9

export interface ResetControlState {
  device: 'reset-control';
  version: 1;
  /** The readable bits (SYS_RST). */
  value: number;
}

export interface ResetControlOptions {
  /** RST_CPU was written as 1: `hard` is SYS_RST (full system reset) versus a soft CPU reset (INIT). */
  onReset: (hard: boolean) => void;
}

export class ResetControl implements PortDevice, Persistent<ResetControlState> {
  private value = 0;
  private readonly onReset: (hard: boolean) => void;

  constructor(options: ResetControlOptions) {
    this.onReset = options.onReset;
  }

  /** The register as it reads. */
  get register(): number {
    return this.value;
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => (p === RESET_CONTROL_PORT ? this.value : 0xff));
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    writeBytes(port, size, value, (p, byte) => {
      if (p === RESET_CONTROL_PORT) this.write(byte);
    });
  }

  private write(byte: number): void {
    this.value = byte & RC_SYS_RST;
    if (byte & RC_RST_CPU) this.onReset((byte & RC_SYS_RST) !== 0);
  }

  save(): ResetControlState {
    return { device: 'reset-control', version: 1, value: this.value };
  }

  restore(state: ResetControlState): void {
    const s = header('reset-control', state);
    this.value = byteField('reset-control', s, 'value', RC_SYS_RST);
  }
}

// ---------------------------------------------------------------- port 0x80

export interface PostPortState {
  device: 'post-port';
  version: 1;
  last: number;
}

export interface PostPortOptions {
  /** Each POST code as it is written. */
  onPost?: (code: number) => void;
}

export class PostPort implements PortDevice, Persistent<PostPortState> {
  private last = 0;
  private readonly onPost: ((code: number) => void) | undefined;

  constructor(options: PostPortOptions = {}) {
    this.onPost = options.onPost;
  }

  /** The last POST code written (0 before any). */
  get lastCode(): number {
    return this.last;
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => (p === POST_PORT ? this.last : 0xff));
  }

  ioWrite(port: number, _size: 1 | 2 | 4, value: number): void {
    if (port === POST_PORT) {
      // Only port 0x80 is ours; a wider write latches its low byte.
      this.last = value & 0xff;
      this.onPost?.(this.last);
    }
  }

  save(): PostPortState {
    return { device: 'post-port', version: 1, last: this.last };
  }

  restore(state: PostPortState): void {
    const s = header('post-port', state);
    this.last = byteField('post-port', s, 'last');
  }
}
