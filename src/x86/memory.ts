/**
 * Guest physical memory and the I/O seam.
 *
 * RAM lives in one SharedArrayBuffer so that a vCPU can run in any worker. The
 * CPU never indexes it by guest-physical address directly: every guest frame goes
 * through `p2m` (guest frame number -> frame in the buffer, or -1 where nothing
 * is RAM: MMIO holes, addresses past the end). That is the seam where the
 * hypervisor's per-domain P2M sits; the CPU caches the result in its TLB, so the
 * translation costs nothing on the fast path.
 *
 * Port I/O and MMIO leave the CPU through `IoBus`. Calls are synchronous: the
 * vCPU is blocked until the answer comes, whoever gives it (a device in the same
 * thread, or a device model in another thread behind an ioreq).
 */

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** Guest physical frames addressable by the CPU (4 GiB; PAE addresses above are not backed). */
export const GUEST_FRAMES = 1 << 20;

export interface IoBus {
  ioRead(port: number, size: 1 | 2 | 4): number;
  ioWrite(port: number, size: 1 | 2 | 4, value: number): void;
  mmioRead(addr: number, size: 1 | 2 | 4): number;
  mmioWrite(addr: number, size: 1 | 2 | 4, value: number): void;
}

/** A bus with nothing on it: reads float high, writes vanish, as on an empty ISA bus. */
export class NullBus implements IoBus {
  ioRead(_port: number, size: 1 | 2 | 4): number {
    return size === 4 ? -1 : (1 << (size * 8)) - 1;
  }
  ioWrite(_port: number, _size: 1 | 2 | 4, _value: number): void {}
  mmioRead(_addr: number, size: 1 | 2 | 4): number {
    return size === 4 ? -1 : (1 << (size * 8)) - 1;
  }
  mmioWrite(_addr: number, _size: 1 | 2 | 4, _value: number): void {}
}

export class GuestMemory {
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** Guest frame -> frame in `buffer`, -1 where the guest frame is not RAM. */
  readonly p2m: Int32Array;
  readonly bytes: number;

  constructor(bytes: number, buffer?: SharedArrayBuffer) {
    if (bytes <= 0 || bytes % PAGE_SIZE !== 0) throw new Error(`guest memory size ${bytes} is not a positive multiple of 4 KiB`);
    this.bytes = bytes;
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    if (this.buffer.byteLength < bytes) throw new Error('memory buffer is smaller than the guest memory size');
    // The views cover the whole buffer: frames past `bytes` hold ROM images mapped with `mapFrames`.
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.p2m = new Int32Array(GUEST_FRAMES).fill(-1);
    for (let f = 0; f < bytes >>> PAGE_SHIFT; f++) this.p2m[f] = f;
  }

  /**
   * Back guest frames [guestAddr, guestAddr + length) with the buffer's bytes
   * from `bufferOffset` (page-aligned): ROM images kept past the end of RAM,
   * or an alias of RAM.
   */
  mapFrames(guestAddr: number, bufferOffset: number, length: number): void {
    if ((guestAddr | bufferOffset | length) & (PAGE_SIZE - 1)) throw new Error('mapFrames: addresses and length must be page-aligned');
    if (bufferOffset + length > this.buffer.byteLength) throw new Error('mapFrames: range is past the end of the memory buffer');
    for (let i = 0; i < length; i += PAGE_SIZE) this.p2m[((guestAddr >>> 0) + i) / PAGE_SIZE] = (bufferOffset + i) >>> PAGE_SHIFT;
  }

  /** Turn a range of guest frames into an MMIO hole (e.g. the legacy VGA window). */
  unmap(guestAddr: number, length: number): void {
    for (let a = guestAddr; a < guestAddr + length; a += PAGE_SIZE) this.p2m[a >>> PAGE_SHIFT] = -1;
  }

  /** Host offset of a guest-physical byte, or -1 if it is not RAM. */
  offset(guestPhys: number): number {
    const f = this.p2m[guestPhys >>> PAGE_SHIFT];
    return f < 0 ? -1 : (f << PAGE_SHIFT) + (guestPhys & (PAGE_SIZE - 1));
  }

  /** Copy bytes into guest-physical memory (loaders, tests); RAM only. */
  load(guestPhys: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; ) {
      const off = this.offset(guestPhys + i);
      if (off < 0) throw new Error(`load: guest address 0x${((guestPhys + i) >>> 0).toString(16)} is not RAM`);
      const n = Math.min(data.length - i, PAGE_SIZE - ((guestPhys + i) & (PAGE_SIZE - 1)));
      this.u8.set(data.subarray(i, i + n), off);
      i += n;
    }
  }

  /** Copy bytes out of guest-physical memory; RAM only. */
  read(guestPhys: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; ) {
      const off = this.offset(guestPhys + i);
      if (off < 0) throw new Error(`read: guest address 0x${((guestPhys + i) >>> 0).toString(16)} is not RAM`);
      const n = Math.min(length - i, PAGE_SIZE - ((guestPhys + i) & (PAGE_SIZE - 1)));
      out.set(this.u8.subarray(off, off + n), i);
      i += n;
    }
    return out;
  }
}
