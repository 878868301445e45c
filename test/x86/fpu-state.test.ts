/**
 * FPU state handling: FNSTENV/FLDENV and FNSAVE/FRSTOR in all four layouts, FXSAVE/FXRSTOR,
 * save()/restore(), the last-instruction/operand pointers, pending-exception (#MF / FERR#)
 * ordering, and memory faults in the middle of stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fpu, FpuState } from '../../src/x86/fpu.js';
import { hexOf, MathFault, PageFault, push, pushNum, run, setup, st, TestHost } from './fpu-testhost.js';

const MEM = 0x400;

/** A busy FPU state: several registers (normal, zero, special, empty), flags, pointers. */
function busy(): { fpu: Fpu; host: TestHost } {
  const { fpu, host } = setup();
  pushNum(fpu, host, 1.5);
  pushNum(fpu, host, 0);
  push(fpu, host, 'ffffc000000000000000');
  pushNum(fpu, host, -2.25);
  run(fpu, host, 0xdd, 0xc2); // FFREE ST(2): an empty register inside the stack
  fpu.cw = 0x0b62; // some masks cleared, RC up, PC 53
  fpu.sw |= 0x0021 | 0x4100; // pending PE, IE (masked), C3 C0
  host.insnEip = 0x1234;
  host.insnCs = 0x0008;
  host.mem[0x80] = 0;
  run(fpu, host, 0xd9, 0x00, 0x80); // FLD m32 sets the pointers (and pushes +0)
  return { fpu, host };
}

function state(fpu: Fpu): FpuState {
  return fpu.save();
}

test('FNSAVE/FRSTOR round trip in all four layouts, FNSAVE reinitializes', () => {
  for (const opsize32 of [false, true]) {
    for (const realMode of [false, true]) {
      const { fpu, host } = busy();
      host.opsize32 = opsize32;
      host.realMode = realMode;
      if (realMode) {
        // Real mode stores linear pointers with FCS/FDS folded in; start from a state whose
        // selectors are 0 so the round trip is exact.
        fpu.fcs = 0;
        fpu.fds = 0;
      }
      if (!opsize32 && !realMode) {
        // The 16-bit protected-mode image has 16-bit offsets and no FOP.
        fpu.fip &= 0xffff;
        fpu.fdp &= 0xffff;
      }
      if (!opsize32 && realMode) {
        fpu.fip &= 0xfffff;
        fpu.fdp &= 0xfffff;
      }
      const before = state(fpu);
      run(fpu, host, 0xdd, 0x30, MEM); // FNSAVE
      assert.equal(fpu.cw, 0x037f);
      assert.equal(fpu.tagWord, 0xffff);
      assert.equal(fpu.sw, 0);
      const layout = `${opsize32 ? 32 : 16}-bit ${realMode ? 'real' : 'protected'}`;
      run(fpu, host, 0xdd, 0x20, MEM); // FRSTOR (FNINIT left nothing pending)
      const after = state(fpu);
      if (!opsize32 && !realMode) after.fop = before.fop; // not in this image
      assert.deepEqual(after, before, layout);
    }
  }
});

test('environment layouts put each field where the SDM says', () => {
  const { fpu, host } = busy();
  fpu.fip = 0x00012345;
  fpu.fcs = 0x0010;
  fpu.fdp = 0x00054321;
  fpu.fds = 0x0018;
  fpu.fop = 0x1d9 & 0x7ff;
  const cw = fpu.cw;
  const sw = fpu.sw;
  const tw = fpu.tagWord;
  // 32-bit protected mode: 7 dwords, reserved upper halves all ones.
  host.opsize32 = true;
  host.realMode = false;
  run(fpu, host, 0xd9, 0x30, MEM);
  const dw = (k: number): number => host.read32(MEM + 4 * k);
  assert.deepEqual(
    [dw(0), dw(1), dw(2), dw(3), dw(4), dw(5), dw(6)],
    [(0xffff0000 | cw) >>> 0, (0xffff0000 | sw) >>> 0, (0xffff0000 | tw) >>> 0, 0x12345, (0x1d9 << 16) | 0x10, 0x54321, 0xffff0018],
  );
  // FNSTENV then masks all exceptions.
  assert.equal(fpu.cw, cw | 0x3f);
  assert.equal(fpu.errorPending, false);
  // 16-bit real mode: linear addresses (CS·16 + IP), bits 19..16 in bits 15..12 with FOP.
  fpu.cw = cw;
  host.opsize32 = false;
  host.realMode = true;
  run(fpu, host, 0xd9, 0x30, MEM);
  const w = (k: number): number => host.read16(MEM + 2 * k);
  const ip = 0x12345 + 0x100;
  const dp = 0x54321 + 0x180;
  assert.deepEqual(
    [w(3), w(4), w(5), w(6)],
    [ip & 0xffff, ((ip >>> 16) << 12) | 0x1d9, dp & 0xffff, (dp >>> 16) << 12],
  );
  // 32-bit real mode: bits 31..16 in bits 27..12.
  host.opsize32 = true;
  run(fpu, host, 0xd9, 0x30, MEM);
  assert.deepEqual([dw(3), dw(4), dw(5), dw(6)], [0xffff0000 | (ip & 0xffff), ((ip >>> 16) << 12) | 0x1d9, 0xffff0000 | (dp & 0xffff), (dp >>> 16) << 12].map((v) => v >>> 0));
  // 16-bit protected mode: CW SW TW IP CS DP DS words.
  host.realMode = false;
  host.opsize32 = false;
  run(fpu, host, 0xd9, 0x30, MEM);
  assert.deepEqual([w(3), w(4), w(5), w(6)], [0x2345, 0x10, 0x4321, 0x18]);
  // FLDENV reads the tag word's empty/non-empty bits.
  host.write16(MEM + 4, 0xfff0); // R0, R1 non-empty
  run(fpu, host, 0xd9, 0x20, MEM);
  assert.equal(fpu.valid, 0x03);
});

test('FXSAVE: abridged tag word, MXCSR, register slots; FXRSTOR round trip', () => {
  const { fpu, host } = busy();
  host.mem.fill(0xcc, MEM, MEM + 512);
  fpu.fxsave(host, MEM);
  assert.equal(host.read16(MEM), fpu.cw);
  assert.equal(host.read16(MEM + 2), fpu.sw);
  assert.equal(host.mem[MEM + 4], fpu.valid);
  assert.equal(host.mem[MEM + 4], 0xb8); // R3 R4 R5 R7 in use (R6 was freed)
  assert.equal(host.read16(MEM + 6), fpu.fop);
  assert.equal(host.read32(MEM + 8), 0x1234);
  assert.equal(host.read16(MEM + 12), 0x0008);
  assert.equal(host.read32(MEM + 16), 0x80);
  assert.equal(host.read32(MEM + 24), 0x1f80);
  assert.equal(host.get80(MEM + 32), st(fpu, 0));
  assert.equal(host.get80(MEM + 48), st(fpu, 1));
  assert.equal(host.hexAt(MEM + 160, 16), '0'.repeat(32)); // XMM0
  assert.equal(host.mem[MEM + 300], 0xcc); // the tail is left alone
  const before = fpu.save();
  const other = new Fpu();
  other.fxrstor(host, MEM);
  assert.deepEqual(other.save(), before);
});

test('save()/restore() round-trips through JSON and rejects malformed records', () => {
  const { fpu } = busy();
  const s = fpu.save();
  const copy = new Fpu();
  copy.restore(JSON.parse(JSON.stringify(s)) as FpuState);
  assert.deepEqual(copy.save(), s);
  assert.equal(copy.errorPending, fpu.errorPending);
  assert.deepEqual(copy.regs, fpu.regs);
  const bad = (patch: Record<string, unknown>, msg: RegExp): void => {
    assert.throws(() => copy.restore({ ...s, ...patch }), msg);
  };
  bad({ version: 2 }, /version/);
  bad({ cw: -1 }, /cw/);
  bad({ fip: 2 ** 32 }, /fip/);
  bad({ fop: 0x800 }, /fop/);
  bad({ regs: s.regs.slice(1) }, /regs/);
  bad({ regs: [...s.regs.slice(1), 'xyz'] }, /malformed/);
  assert.throws(() => copy.restore(null as unknown as FpuState), /not an object/);
});

test('a pending unmasked exception faults the next waiting instruction before it does anything', () => {
  const { fpu, host } = setup(0x037b); // ZE unmasked
  pushNum(fpu, host, 1);
  pushNum(fpu, host, 0);
  run(fpu, host, 0xde, 0xf9); // FDIVP ST(1), ST(0): 1/0 → ZE, unmasked: nothing stored
  assert.equal(fpu.errorPending, true);
  assert.equal(fpu.sw & 0x8080, 0x8080); // ES and B
  const before = fpu.save();
  host.insnEip = 0x2000;
  assert.throws(() => run(fpu, host, 0xd9, 0xe8), MathFault); // FLD1
  assert.throws(() => run(fpu, host, 0xdd, 0x00, MEM), MathFault); // FLD m64
  assert.throws(() => fpu.fwait(host), MathFault);
  assert.deepEqual(fpu.save(), before);
  // No-wait forms go ahead.
  run(fpu, host, 0xdd, 0x38, MEM); // FNSTSW m16
  assert.equal(host.read16(MEM), fpu.sw);
  run(fpu, host, 0xd9, 0x38, MEM); // FNSTCW
  run(fpu, host, 0xdf, 0xe0); // FNSTSW AX
  assert.equal(host.ax, fpu.sw);
  assert.equal(host.mathFaults, 3);
  assert.deepEqual(fpu.save(), before); // and they do not touch the pointers
  run(fpu, host, 0xdb, 0xe2); // FNCLEX
  assert.equal(fpu.errorPending, false);
  run(fpu, host, 0xd9, 0xe8);
  assert.equal(st(fpu), hexOf(1));
});

test('with FERR# reporting (mathFault returns) the instruction proceeds', () => {
  const { fpu, host } = setup(0x037b);
  host.faultThrows = false;
  pushNum(fpu, host, 1);
  pushNum(fpu, host, 0);
  run(fpu, host, 0xde, 0xf9);
  run(fpu, host, 0xd9, 0xe8);
  assert.equal(host.mathFaults, 1);
  assert.equal(st(fpu), hexOf(1));
});

test('FLDCW: reserved bits, and unmasking a pending exception sets ES', () => {
  const { fpu, host } = setup();
  host.write16(MEM, 0x0000);
  run(fpu, host, 0xd9, 0x28, MEM);
  assert.equal(fpu.cw, 0x0040);
  host.write16(MEM, 0xffff);
  run(fpu, host, 0xd9, 0x28, MEM);
  assert.equal(fpu.cw, 0x1f7f);
  pushNum(fpu, host, 1);
  pushNum(fpu, host, 3);
  run(fpu, host, 0xde, 0xf9); // 1/3: PE (masked)
  assert.equal(fpu.errorPending, false);
  host.write16(MEM, 0x035f); // unmask PE
  run(fpu, host, 0xd9, 0x28, MEM);
  assert.equal(fpu.errorPending, true);
  assert.throws(() => run(fpu, host, 0xd9, 0xe8), MathFault);
});

test('FIP/FCS/FOP/FDP/FDS: set by non-control instructions, kept by control ones', () => {
  const { fpu, host } = setup();
  host.insnEip = 0x4000;
  host.insnCs = 0x0023;
  host.dataSel = 0x002b;
  host.write32(MEM, 0x3f800000);
  run(fpu, host, 0xd8, 0x05, MEM); // FADD m32 (on an empty stack: still records)
  assert.deepEqual([fpu.fip, fpu.fcs, fpu.fop, fpu.fdp, fpu.fds], [0x4000, 0x23, 0x005, MEM, 0x2b]);
  host.insnEip = 0x4010;
  run(fpu, host, 0xd9, 0xc9); // FXCH: register form, FDP/FDS stay
  assert.deepEqual([fpu.fip, fpu.fop, fpu.fdp], [0x4010, 0x1c9, MEM]);
  host.insnEip = 0x4020;
  for (const [op, modrm] of [[0xd9, 0x38], [0xd9, 0x28], [0xdd, 0x38], [0xd9, 0x30], [0xd9, 0x20]]) {
    run(fpu, host, op, modrm, 0x800); // FNSTCW FLDCW FNSTSW FNSTENV FLDENV
  }
  assert.deepEqual([fpu.fip, fpu.fop, fpu.fdp], [0x4010, 0x1c9, MEM]);
});

test('a faulting store leaves the stack and status unchanged', () => {
  const { fpu, host } = setup();
  pushNum(fpu, host, 1 / 3);
  host.faultFrom = 0x8000;
  const before = fpu.save();
  assert.throws(() => run(fpu, host, 0xdd, 0x18, 0x7ffc), PageFault); // FSTP m64 straddling the fault
  assert.throws(() => run(fpu, host, 0xdf, 0x38, 0x9000), PageFault); // FISTP m64
  assert.throws(() => run(fpu, host, 0xdb, 0x38, 0x9000), PageFault); // FSTP m80
  assert.deepEqual(fpu.save(), before);
  // A faulting load leaves everything as it was too.
  assert.throws(() => run(fpu, host, 0xdd, 0x00, 0x9000), PageFault);
  assert.deepEqual(fpu.save(), before);
});
