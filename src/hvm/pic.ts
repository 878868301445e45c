/**
 * The PC/AT interrupt controller: two Intel 8259A PICs in cascade (master at
 * ports 0x20/0x21, slave at 0xA0/0xA1, slave INT wired to master IR2) plus the
 * EISA edge/level control registers (ELCR, ports 0x4D0/0x4D1).
 *
 * Design notes (behaviour follows the 8259A datasheet; Xen's vpic.c was a
 * model of behaviour only):
 *
 * - Each chip keeps the datasheet's registers: IRR (interrupt request), ISR
 *   (in service), IMR (mask), plus the input line levels for edge detection.
 *   An edge-triggered input sets its IRR bit on a low-to-high transition and
 *   the bit stays set until the INTA cycle takes it, even if the line falls
 *   first (devices here "pulse" their lines, as emulated ISA devices do). A
 *   level-triggered input (ELCR bit, or LTIM in ICW1) makes IRR follow the line.
 * - Priority: `lowestPriority` is the IR with the lowest priority (7 after
 *   ICW1); rotation commands move it. A request is delivered if it is not
 *   masked and has higher priority than every IR in service (in special mask
 *   mode, masked in-service levels do not block; in special fully nested mode
 *   the master lets a slave request through while IR2 is in service).
 * - Cascade: the master's IR2 request bit mirrors the slave's INT output, so
 *   it behaves as a level input. An INTA that the master resolves to IR2 is
 *   passed on to the slave, which supplies the vector. The ISA IRQ 2 line is
 *   the cascade itself, so `setIrq(2, ...)` has no effect.
 * - Spurious interrupts: if at INTA time no request qualifies any more (the
 *   level line was lowered, or the IR got masked after INTR was raised) the
 *   chip answers with its IR7 vector and sets no ISR bit, as the 8259A does.
 * - Initialization: ICW1 (command port, bit 4 set) starts the sequence;
 *   ICW2 (vector base, bits 7-3), ICW3 only if not single mode, ICW4 only if
 *   ICW1.IC4. Afterwards data-port writes are OCW1 (IMR); command-port writes
 *   are OCW2 (bit 3 clear) or OCW3 (bit 3 set).
 * - Multi-byte port accesses are split into byte accesses at consecutive
 *   ports, as the ISA bus does.
 */
import { badState, readBytes, writeBytes, type PortDevice, type Persistent } from './device.js';

/** Steps of the initialization sequence: what the next data-port write is. */
const READY = 0;
const EXPECT_ICW2 = 1;
const EXPECT_ICW3 = 2;
const EXPECT_ICW4 = 3;

const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_LTIM = 0x08;
const ICW1_SELECT = 0x10;

const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;

const OCW3_SELECT = 0x08;
const OCW3_RIS = 0x01;
const OCW3_RR = 0x02;
const OCW3_P = 0x04;
const OCW3_SMM = 0x20;
const OCW3_ESMM = 0x40;

const CASCADE_IR = 2;

/** ELCR bits that are hard-wired to edge mode: IRQ 0, 1, 2 on the master, IRQ 8 and 13 on the slave. */
const ELCR_WRITABLE = [0xf8, 0xde] as const;

export const PIC_MASTER_COMMAND = 0x20;
export const PIC_MASTER_DATA = 0x21;
export const PIC_SLAVE_COMMAND = 0xa0;
export const PIC_SLAVE_DATA = 0xa1;
export const ELCR_MASTER = 0x4d0;
export const ELCR_SLAVE = 0x4d1;

/** One chip's saved registers. */
export interface PicChipState {
  irr: number;
  isr: number;
  imr: number;
  /** Input line levels (for edge detection). */
  lines: number;
  elcr: number;
  /** ICW2 bits 7-3. */
  vectorBase: number;
  lowestPriority: number;
  /** READY (0), or which ICW (2, 3, 4 as 1, 2, 3) the next data-port write is. */
  initStep: number;
  /** ICW1 bits as written (IC4, SNGL, LTIM). */
  icw1: number;
  icw3: number;
  /** ICW4 bits as written (µPM, AEOI, M/S, BUF, SFNM); 0 if ICW4 was not expected. */
  icw4: number;
  rotateOnAutoEoi: boolean;
  specialMask: boolean;
  /** OCW3 RIS: the command port reads ISR instead of IRR. */
  readIsr: boolean;
  /** OCW3 P: the next read is a poll. */
  poll: boolean;
}

export interface PicState {
  version: 1;
  master: PicChipState;
  slave: PicChipState;
}

/** Highest-priority set bit in `bits` given the lowest-priority IR, or -1. */
function highestPriorityIr(bits: number, lowestPriority: number): number {
  for (let k = 1; k <= 8; k++) {
    const ir = (lowestPriority + k) & 7;
    if (bits & (1 << ir)) return ir;
  }
  return -1;
}

/** One 8259A. */
class Chip8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  lines = 0;
  elcr = 0;
  vectorBase = 0;
  lowestPriority = 7;
  initStep = READY;
  icw1 = 0;
  icw3 = 0;
  icw4 = 0;
  rotateOnAutoEoi = false;
  specialMask = false;
  readIsr = false;
  poll = false;

  constructor(readonly isMaster: boolean) {}

  get levelBits(): number {
    return this.icw1 & ICW1_LTIM ? 0xff : this.elcr;
  }

  get autoEoi(): boolean {
    return (this.icw4 & ICW4_AEOI) !== 0;
  }

  /** Rank of an IR: 0 is the highest priority. */
  private rank(ir: number): number {
    return (ir - this.lowestPriority - 1) & 7;
  }

  setInput(ir: number, level: boolean): void {
    const bit = 1 << ir;
    if (this.levelBits & bit) {
      this.irr = level ? this.irr | bit : this.irr & ~bit;
    } else if (level && !(this.lines & bit)) {
      this.irr |= bit;
    }
    this.lines = level ? this.lines | bit : this.lines & ~bit;
  }

  /** The IR this chip would signal on INT now, or -1. */
  deliverable(): number {
    const pending = this.irr & ~this.imr & 0xff;
    if (!pending) return -1;
    const ir = highestPriorityIr(pending, this.lowestPriority);
    let blocking = this.isr;
    if (this.specialMask) blocking &= ~this.imr;
    if (this.isMaster && ir === CASCADE_IR && this.icw4 & ICW4_SFNM) blocking &= ~(1 << CASCADE_IR);
    const inService = highestPriorityIr(blocking, this.lowestPriority);
    if (inService >= 0 && this.rank(inService) <= this.rank(ir)) return -1;
    return ir;
  }

  /** The INTA cycle's register updates for `ir` (already resolved). */
  acknowledge(ir: number): void {
    const bit = 1 << ir;
    if (!(this.levelBits & bit)) this.irr &= ~bit;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowestPriority = ir;
    } else {
      this.isr |= bit;
    }
  }

  writeCommand(value: number): void {
    if (value & ICW1_SELECT) {
      this.icw1 = value & (ICW1_IC4 | ICW1_SNGL | ICW1_LTIM);
      this.initStep = EXPECT_ICW2;
      this.imr = 0;
      this.isr = 0;
      // The edge sense latches are reset: a line already high must go low and high again.
      this.irr &= this.levelBits;
      this.lowestPriority = 7;
      this.specialMask = false;
      this.readIsr = false;
      this.poll = false;
      this.rotateOnAutoEoi = false;
      if (!(value & ICW1_IC4)) this.icw4 = 0;
    } else if (value & OCW3_SELECT) {
      if (value & OCW3_ESMM) this.specialMask = (value & OCW3_SMM) !== 0;
      if (value & OCW3_RR) this.readIsr = (value & OCW3_RIS) !== 0;
      this.poll = (value & OCW3_P) !== 0;
    } else {
      this.writeOcw2(value);
    }
  }

  /** OCW2: R (bit 7), SL (bit 6), EOI (bit 5), L2-L0. */
  private writeOcw2(value: number): void {
    const level = value & 7;
    switch (value >> 5) {
      case 0b001: { // non-specific EOI
        const ir = highestPriorityIr(this.isr, this.lowestPriority);
        if (ir >= 0) this.isr &= ~(1 << ir);
        break;
      }
      case 0b011: // specific EOI
        this.isr &= ~(1 << level);
        break;
      case 0b101: { // rotate on non-specific EOI
        const ir = highestPriorityIr(this.isr, this.lowestPriority);
        if (ir >= 0) {
          this.isr &= ~(1 << ir);
          this.lowestPriority = ir;
        }
        break;
      }
      case 0b100: // set rotate in automatic EOI mode
        this.rotateOnAutoEoi = true;
        break;
      case 0b000: // clear rotate in automatic EOI mode
        this.rotateOnAutoEoi = false;
        break;
      case 0b111: // rotate on specific EOI
        this.isr &= ~(1 << level);
        this.lowestPriority = level;
        break;
      case 0b110: // set priority
        this.lowestPriority = level;
        break;
      default: // 0b010: no operation
        break;
    }
  }

  writeData(value: number): void {
    switch (this.initStep) {
      case EXPECT_ICW2:
        this.vectorBase = value & 0xf8;
        this.initStep = this.icw1 & ICW1_SNGL ? this.afterIcw3() : EXPECT_ICW3;
        break;
      case EXPECT_ICW3:
        this.icw3 = value;
        this.initStep = this.afterIcw3();
        break;
      case EXPECT_ICW4:
        this.icw4 = value & 0x1f;
        this.initStep = READY;
        break;
      default:
        this.imr = value;
        break;
    }
  }

  private afterIcw3(): number {
    return this.icw1 & ICW1_IC4 ? EXPECT_ICW4 : READY;
  }

  /** A poll read: acknowledges the highest request like INTA; bit 7 says whether there was one. */
  pollRead(): number {
    this.poll = false;
    const ir = this.deliverable();
    if (ir < 0) return 0;
    this.acknowledge(ir);
    return 0x80 | ir;
  }

  save(): PicChipState {
    return {
      irr: this.irr, isr: this.isr, imr: this.imr, lines: this.lines, elcr: this.elcr,
      vectorBase: this.vectorBase, lowestPriority: this.lowestPriority, initStep: this.initStep,
      icw1: this.icw1, icw3: this.icw3, icw4: this.icw4, rotateOnAutoEoi: this.rotateOnAutoEoi,
      specialMask: this.specialMask, readIsr: this.readIsr, poll: this.poll,
    };
  }

  restore(s: PicChipState): void {
    Object.assign(this, s);
  }
}

const BYTE_FIELDS = ['irr', 'isr', 'imr', 'lines', 'elcr', 'vectorBase', 'icw1', 'icw3', 'icw4'] as const;
const BOOL_FIELDS = ['rotateOnAutoEoi', 'specialMask', 'readIsr', 'poll'] as const;

function validateChip(raw: unknown, name: string, elcrWritable: number): PicChipState {
  if (typeof raw !== 'object' || raw === null) badState('pic', `${name} is not an object`);
  const r = raw as Record<string, unknown>;
  for (const f of BYTE_FIELDS) {
    const v = r[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xff) badState('pic', `${name}.${f} is not a byte`);
  }
  for (const f of BOOL_FIELDS) {
    if (typeof r[f] !== 'boolean') badState('pic', `${name}.${f} is not a boolean`);
  }
  const lp = r.lowestPriority;
  if (typeof lp !== 'number' || !Number.isInteger(lp) || lp < 0 || lp > 7) badState('pic', `${name}.lowestPriority out of range`);
  const step = r.initStep;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < READY || step > EXPECT_ICW4) badState('pic', `${name}.initStep out of range`);
  const s = raw as PicChipState;
  if (s.vectorBase & 7) badState('pic', `${name}.vectorBase is not a multiple of 8`);
  if (s.elcr & ~elcrWritable) badState('pic', `${name}.elcr sets an edge-only IRQ`);
  // Copy the known fields only, so nothing foreign lands on the chip.
  return {
    irr: s.irr, isr: s.isr, imr: s.imr, lines: s.lines, elcr: s.elcr, vectorBase: s.vectorBase,
    lowestPriority: s.lowestPriority, initStep: s.initStep, icw1: s.icw1, icw3: s.icw3, icw4: s.icw4,
    rotateOnAutoEoi: s.rotateOnAutoEoi, specialMask: s.specialMask, readIsr: s.readIsr, poll: s.poll,
  };
}

/** The master/slave 8259A pair with ELCR. */
export class Pic8259 implements PortDevice, Persistent<PicState> {
  private readonly master = new Chip8259(true);
  private readonly slave = new Chip8259(false);
  private intr = false;

  /** Called whenever the INTR output to the CPU changes. */
  onOutputChange?: (level: boolean) => void;

  /** Drive ISA IRQ `irq` (0..15) to `level`. */
  setIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new RangeError(`pic: no IRQ ${irq}`);
    if (irq === CASCADE_IR) return;
    if (irq < 8) this.master.setInput(irq, level);
    else this.slave.setInput(irq - 8, level);
    this.update();
  }

  /** The INTR line to the CPU. */
  output(): boolean {
    return this.intr;
  }

  /** The INTA cycle: the vector of the highest-priority request (or the spurious IR7 vector). */
  ackInterrupt(): number {
    const m = this.master;
    const ir = m.deliverable();
    let vector: number;
    if (ir < 0) {
      vector = m.vectorBase | 7;
    } else {
      m.acknowledge(ir);
      if (ir === CASCADE_IR) {
        const sir = this.slave.deliverable();
        if (sir < 0) {
          vector = this.slave.vectorBase | 7;
        } else {
          this.slave.acknowledge(sir);
          vector = this.slave.vectorBase | sir;
        }
      } else {
        vector = m.vectorBase | ir;
      }
    }
    this.update();
    return vector;
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    return readBytes(port, size, (p) => this.readByte(p));
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    writeBytes(port, size, value, (p, b) => this.writeByte(p, b));
  }

  private chipAt(port: number): Chip8259 | null {
    switch (port) {
      case PIC_MASTER_COMMAND: case PIC_MASTER_DATA: return this.master;
      case PIC_SLAVE_COMMAND: case PIC_SLAVE_DATA: return this.slave;
      default: return null;
    }
  }

  private readByte(port: number): number {
    if (port === ELCR_MASTER) return this.master.elcr;
    if (port === ELCR_SLAVE) return this.slave.elcr;
    const chip = this.chipAt(port);
    if (!chip) return 0xff;
    let value: number;
    if (chip.poll) {
      value = chip.pollRead();
      this.update();
    } else if (port & 1) {
      value = chip.imr;
    } else {
      value = chip.readIsr ? chip.isr : chip.irr;
    }
    return value;
  }

  private writeByte(port: number, value: number): void {
    if (port === ELCR_MASTER || port === ELCR_SLAVE) {
      const index = port - ELCR_MASTER;
      const chip = index ? this.slave : this.master;
      chip.elcr = value & ELCR_WRITABLE[index];
      // Inputs now level-triggered show their line in IRR.
      const level = chip.levelBits;
      chip.irr = (chip.irr & ~level) | (chip.lines & level);
    } else {
      const chip = this.chipAt(port);
      if (!chip) return;
      if (port & 1) chip.writeData(value);
      else chip.writeCommand(value);
    }
    this.update();
  }

  /** Recompute the cascade input and the INTR output. */
  private update(): void {
    const slaveInt = this.slave.deliverable() >= 0;
    const cascadeBit = 1 << CASCADE_IR;
    this.master.irr = slaveInt ? this.master.irr | cascadeBit : this.master.irr & ~cascadeBit;
    this.master.lines = slaveInt ? this.master.lines | cascadeBit : this.master.lines & ~cascadeBit;
    const intr = this.master.deliverable() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onOutputChange?.(intr);
    }
  }

  save(): PicState {
    return { version: 1, master: this.master.save(), slave: this.slave.save() };
  }

  restore(state: PicState): void {
    const raw = state as unknown;
    if (typeof raw !== 'object' || raw === null) badState('pic', 'not an object');
    const r = raw as Record<string, unknown>;
    if (r.version !== 1) badState('pic', `unsupported version ${String(r.version)}`);
    const master = validateChip(r.master, 'master', ELCR_WRITABLE[0]);
    const slave = validateChip(r.slave, 'slave', ELCR_WRITABLE[1]);
    this.master.restore(master);
    this.slave.restore(slave);
    this.update();
  }
}
