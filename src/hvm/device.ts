/**
 * The shape every platform device has (xen/arch/x86/hvm's vpic, vpt, rtc...):
 * it answers port I/O, raises interrupt lines, keeps time through the
 * machine's virtual clock, and saves its state as a named, versioned record.
 *
 * Time is driven from outside: the machine loop asks each device for its next
 * deadline and calls `advance(now)` once time reaches it. Devices never read
 * the host clock themselves, so tests can run them on a clock they control,
 * and TSC, PIT, RTC and APIC timer all agree on one time base.
 */

/** Virtual time in nanoseconds since the machine was created. */
export interface Clock {
  nowNs(): number;
}

/** An interrupt request line as a device sees it (ISA IRQs are edge-triggered on the PIC). */
export interface IrqLine {
  set(level: boolean): void;
}

/** Port I/O handled by a device (`port` is the absolute port number). */
export interface PortDevice {
  ioRead(port: number, size: 1 | 2 | 4): number;
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void;
}

/**
 * ISA devices decode single bytes: a 2- or 4-byte access is that many byte
 * accesses at consecutive ports, little-endian.
 */
export function readBytes(port: number, size: 1 | 2 | 4, readByte: (port: number) => number): number {
  let value = 0;
  for (let i = 0; i < size; i++) value |= (readByte(port + i) & 0xff) << (8 * i);
  return value >>> 0;
}

export function writeBytes(port: number, size: 1 | 2 | 4, value: number, writeByte: (port: number, byte: number) => void): void {
  for (let i = 0; i < size; i++) writeByte(port + i, (value >>> (8 * i)) & 0xff);
}

/** A device with timed behaviour. */
export interface TimedDevice {
  /** The next time (ns) at which the device needs `advance`, or Infinity. */
  nextDeadlineNs(): number;
  /** Bring the device up to `nowNs`: fire what became due (raising lines as needed). */
  advance(nowNs: number): void;
}

/** Save/restore as a named, versioned record; `restore` validates before changing anything. */
export interface Persistent<S> {
  save(): S;
  restore(state: S): void;
}

/** A clock for tests and for callers that drive time themselves. */
export class ManualClock implements Clock {
  constructor(public ns = 0) {}
  nowNs(): number {
    return this.ns;
  }
}

/** Throw a clear error for a malformed saved record. */
export function badState(device: string, what: string): never {
  throw new Error(`${device} state record: ${what}`);
}
