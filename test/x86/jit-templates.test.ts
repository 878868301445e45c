/**
 * The block compiler's templates against the interpreter, family by family:
 * random blocks of the instructions a family covers (every encoding, operand
 * size, register and addressing form, LOCK prefixes, the invalid forms that
 * must fall back to their handler), random register values from a pool of
 * edge cases, memory operands that mostly hit RAM but sometimes an unmapped
 * or read-only page, a page-crossing access or MMIO, so that faults happen in
 * the middle of compiled blocks. Each block runs on two machines, interpreted
 * and compiled (jit-harness.ts), and everything architectural must match.
 * Every family also has to have run its blocks compiled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATA, hexBytes, MMIO, READ_ONLY, runBoth, Scenario, STACK, STACK_TOP, UNMAPPED, CODE_BYTES, IRQ_PORT, STOP_PORT, TRIGGER } from './jit-harness.js';
import { Rng } from './rng.js';
import { jitStats } from '../../src/x86/jit.js';

const SEED = Number(process.env.JIT_SEED ?? 0x1badb002) >>> 0;
const CASES = Number(process.env.JIT_CASES ?? 300);

const EDGE = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff];
const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

/** Builds random instructions; register roles keep most memory operands pointing at the data pages. */
class Gen {
  constructor(readonly rng: Rng) {}

  value(): number {
    const r = this.rng;
    switch (r.below(4)) {
      case 0: return r.pick(EDGE) | 0;
      case 1: return r.below(64);
      case 2: return (r.pick(EDGE) + r.below(5) - 2) | 0;
      default: return r.u32() | 0;
    }
  }

  /** An address for a pointer register: mostly in the two RAM data pages, sometimes a page that faults or is MMIO. */
  pointer(): number {
    const r = this.rng;
    const roll = r.below(100);
    if (roll < 4) return UNMAPPED + r.below(0x1000);
    if (roll < 8) return READ_ONLY + r.below(0x1000);
    if (roll < 11) return MMIO + r.below(0x1000);
    if (roll < 15) return DATA + 0x1000 - r.below(8); // accesses that cross into the next page
    if (roll < 18) return DATA + 0x2000 - r.below(8); // ... into the unmapped one
    return DATA + (r.chance(0.7) ? r.below(0x1f00) & ~3 : r.below(0x1f00));
  }

  regs(): number[] {
    const r = this.rng;
    const regs = [this.value(), r.chance(0.5) ? r.below(40) : this.value(), r.chance(0.3) ? 0 : this.value(), this.pointer(),
      STACK_TOP - 0x100 - 4 * r.below(32), this.pointer(), r.chance(0.5) ? r.below(0x400) : this.pointer(), r.chance(0.5) ? r.below(0x400) : this.pointer()];
    if (r.chance(0.1)) regs[EBP] = regs[ESP] + 4 * r.below(16); // a frame for LEAVE
    return regs;
  }

  /** A register to write: mostly EAX/ECX/EDX, sometimes a pointer register (any but ESP). */
  dst(): number {
    const r = this.rng;
    return r.chance(0.8) ? r.below(3) : r.pick([EBX, EBP, ESI, EDI]);
  }

  imm(size: number): number[] {
    const v = this.value();
    return size === 1 ? [v & 0xff] : size === 2 ? [v & 0xff, (v >>> 8) & 0xff] : le32(v);
  }

  /** ModRM (+ SIB + displacement) with `reg` in the reg field; a register operand with probability `regP`. */
  modrm(reg: number, regP = 0.4, rmReg = this.dst()): { bytes: number[]; a16: boolean; mem: boolean } {
    const r = this.rng;
    if (r.chance(regP)) return { bytes: [0xc0 | (reg << 3) | rmReg], a16: false, mem: false };
    if (r.chance(0.05)) {
      // 16-bit addressing (0x67): [bx+si], [bp+di+d8], [disp16]...
      const mod = r.below(3), rm = r.below(8);
      const bytes = [(mod << 6) | (reg << 3) | rm];
      if (mod === 1) bytes.push(r.below(256));
      else if (mod === 2 || (mod === 0 && rm === 6)) bytes.push(r.below(256), r.below(256));
      return { bytes, a16: true, mem: true };
    }
    const disp8 = () => (r.chance(0.5) ? r.below(0x40) : (r.below(0x100) - 0x80) & 0xff);
    const disp32 = () => le32(r.chance(0.8) ? r.below(0x200) - 0x100 : this.value());
    switch (r.below(5)) {
      case 0: return { bytes: [(reg << 3) | r.pick([EBX, ESI, EDI, EAX])], a16: false, mem: true };
      case 1: return { bytes: [0x40 | (reg << 3) | r.pick([EBX, EBP, ESI, EDI]), disp8()], a16: false, mem: true };
      case 2: return { bytes: [0x80 | (reg << 3) | r.pick([EBX, EBP, ESI, EDI]), ...disp32()], a16: false, mem: true };
      case 3: return { bytes: [0x05 | (reg << 3), ...le32(this.pointer())], a16: false, mem: true };
      default: {
        // SIB: base + index * scale (+ disp); index 4 = none, base 5 with mod 0 = disp32 only.
        const mod = r.below(3);
        const base = r.pick([EBX, ESP, EBP, ESI, EDI]);
        const index = r.pick([4, ESI, EDI, ECX]);
        const scale = r.below(4);
        const bytes = [(mod << 6) | (reg << 3) | 4, (scale << 6) | (index << 3) | base];
        if (mod === 1) bytes.push(disp8());
        else if (mod === 2 || (mod === 0 && base === EBP)) bytes.push(...(mod === 0 ? le32(this.pointer()) : disp32()));
        return { bytes, a16: false, mem: true };
      }
    }
  }

  /** Operand-size prefix for v-sized forms, sometimes. */
  osize(): { prefix: number[]; size: 2 | 4 } {
    return this.rng.chance(0.2) ? { prefix: [0x66], size: 2 } : { prefix: [], size: 4 };
  }
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** An instruction: prefixes, opcode bytes, ModRM and the immediate. */
function insn(g: Gen, prefix: number[], opcode: number[], m: { bytes: number[]; a16: boolean; mem: boolean } | null, imm: number[] = []): number[] {
  const p = [...prefix];
  if (m?.a16) p.push(0x67);
  // LOCK: valid on a memory destination of a lockable instruction, #UD elsewhere (the handler runs).
  if (g.rng.chance(m?.mem ? 0.1 : 0.01)) p.unshift(0xf0);
  // A segment override now and then (SS and DS are flat here; the override must be honoured).
  if (m?.mem && g.rng.chance(0.05)) p.unshift(g.rng.pick([0x36, 0x3e, 0x26, 0x64]));
  return [...p, ...opcode, ...(m?.bytes ?? []), ...imm];
}

type InsnGen = (g: Gen) => number[];

const alu: InsnGen = (g) => {
  const r = g.rng;
  const op = r.below(8);
  const form = r.below(9);
  const { prefix, size } = g.osize();
  switch (form) {
    case 0: return insn(g, [], [op * 8], g.modrm(r.below(8), 0.4, r.below(8)));
    case 1: return insn(g, prefix, [op * 8 + 1], g.modrm(g.dst()));
    case 2: return insn(g, [], [op * 8 + 2], g.modrm(r.below(8), 0.4, r.below(8)));
    case 3: return insn(g, prefix, [op * 8 + 3], g.modrm(g.dst()));
    case 4: return insn(g, [], [op * 8 + 4], null, g.imm(1));
    case 5: return insn(g, prefix, [op * 8 + 5], null, g.imm(size));
    case 6: return insn(g, [], [r.pick([0x80, 0x82])], g.modrm(op, 0.4, r.below(8)), g.imm(1));
    case 7: return insn(g, prefix, [0x81], g.modrm(op), g.imm(size));
    default: return insn(g, prefix, [0x83], g.modrm(op), g.imm(1));
  }
};

/** F6 /0../3: TEST takes an imm8, NOT and NEG do not. */
const unary8: InsnGen = (g) => {
  const sub = g.rng.below(4);
  return insn(g, [], [0xf6], g.modrm(sub, 0.4, g.rng.below(8)), sub < 2 ? g.imm(1) : []);
};

const unary: InsnGen = (g) => {
  const r = g.rng;
  const { prefix, size } = g.osize();
  switch (r.below(8)) {
    case 0: return [...prefix, 0x40 + r.pick([EAX, ECX, EDX, EBX, ESI])];
    case 1: return [...prefix, 0x48 + r.pick([EAX, ECX, EDX, EBX, EDI])];
    case 2: return insn(g, [], [0xfe], g.modrm(r.below(2), 0.4, r.below(8)));
    case 3: return insn(g, prefix, [0xff], g.modrm(r.below(2)));
    case 4: return unary8(g);
    case 5: {
      const sub = r.below(4); // TEST (twice), NOT, NEG
      return insn(g, prefix, [0xf7], g.modrm(sub), sub < 2 ? g.imm(size) : []);
    }
    case 6: return r.chance(0.5) ? insn(g, [], [0x84], g.modrm(r.below(8), 0.4, r.below(8))) : insn(g, prefix, [0x85], g.modrm(r.below(8)));
    default: return r.chance(0.5) ? [0xa8, ...g.imm(1)] : [...prefix, 0xa9, ...g.imm(size)];
  }
};

const move: InsnGen = (g) => {
  const r = g.rng;
  const { prefix, size } = g.osize();
  switch (r.below(16)) {
    case 0: return insn(g, [], [0x88], g.modrm(r.below(8), 0.4, r.below(8)));
    case 1: return insn(g, prefix, [0x89], g.modrm(r.below(8)));
    case 2: return insn(g, [], [0x8a], g.modrm(r.below(8), 0.4, r.below(8)));
    case 3: return insn(g, prefix, [0x8b], g.modrm(g.dst()));
    case 4: return insn(g, [], [0xc6], g.modrm(0, 0.3, r.below(8)), g.imm(1));
    case 5: return insn(g, prefix, [0xc7], g.modrm(0, 0.3), g.imm(size));
    case 6: return [0xb0 + r.below(8), ...g.imm(1)];
    case 7: return [...prefix, 0xb8 + g.dst(), ...g.imm(size)];
    case 8: {
      const op = r.pick([0xa0, 0xa1, 0xa2, 0xa3]);
      return insn(g, op & 1 ? prefix : [], [op], null, le32(g.pointer()));
    }
    case 9: return insn(g, prefix, [0x8d], g.modrm(g.dst(), 0)); // LEA (a register form is #UD)
    case 10: return insn(g, prefix, [0x0f, r.pick([0xb6, 0xb7, 0xbe, 0xbf])], g.modrm(g.dst(), 0.4, r.below(8)));
    case 11: return insn(g, prefix, [0x87], g.modrm(g.dst()));
    case 12: return [...prefix, r.pick([0x90, 0x91, 0x92, 0x93, 0x96, 0x97, 0x98, 0x99])];
    case 13: return insn(g, [], [0x0f, 0x90 + r.below(16)], g.modrm(0, 0.5, r.below(8)));
    default: return insn(g, prefix, [0x0f, 0x40 + r.below(16)], g.modrm(g.dst()));
  }
};

const stack: InsnGen = (g) => {
  const r = g.rng;
  const o16 = r.chance(0.1) ? [0x66] : [];
  switch (r.below(6)) {
    case 0: return [...o16, 0x50 + r.below(8)];
    case 1: return [...o16, 0x58 + r.pick([EAX, ECX, EDX, EBX, ESI, EDI, r.chance(0.1) ? ESP : EAX])];
    case 2: return [...o16, 0x68, ...g.imm(o16.length ? 2 : 4)];
    case 3: return [...o16, 0x6a, ...g.imm(1)];
    case 4: return [...o16, 0xc9]; // LEAVE
    default: return insn(g, [], [0xff], g.modrm(6, 0.3)); // PUSH r/m (a handler)
  }
};

/** C0 takes an imm8, D0/D2 do not: build the 8-bit shifts properly. */
const shift8: InsnGen = (g) => {
  const r = g.rng;
  const op = r.pick([0xc0, 0xd0, 0xd2]);
  return insn(g, [], [op], g.modrm(r.below(8), 0.4, r.below(8)), op === 0xc0 ? [r.below(40)] : []);
};

const shift: InsnGen = (g) => {
  const r = g.rng;
  const { prefix } = g.osize();
  const sub = r.below(8);
  const count = r.chance(0.7) ? r.below(33) : r.below(256);
  switch (r.below(5)) {
    case 0: return insn(g, prefix, [0xc1], g.modrm(sub), [count]);
    case 1: return insn(g, prefix, [0xd1], g.modrm(sub));
    case 2: return insn(g, prefix, [0xd3], g.modrm(sub, 0.6));
    case 3: return [0xb1, count]; // MOV CL, count (for the D3 forms)
    default: return shift8(g);
  }
};

const muldiv: InsnGen = (g) => {
  const r = g.rng;
  const { prefix, size } = g.osize();
  switch (r.below(6)) {
    case 0: return insn(g, prefix, [0xf7], g.modrm(4 + r.below(4), 0.6, r.pick([EAX, ECX, EDX, EBX, ESI])));
    case 1: return insn(g, prefix, [0x0f, 0xaf], g.modrm(g.dst()));
    case 2: return insn(g, prefix, [0x69], g.modrm(g.dst()), g.imm(size));
    case 3: return insn(g, prefix, [0x6b], g.modrm(g.dst()), g.imm(1));
    case 4: return [0x31, 0xd2]; // XOR EDX, EDX: DIV's common case
    default: return [0x99]; // CDQ
  }
};

const FAMILIES: Record<string, InsnGen[]> = {
  alu: [alu],
  unary: [unary],
  move: [move],
  stack: [stack],
  shift: [shift],
  muldiv: [muldiv],
};

/** How a block ends: HLT (CPL 0: halts; CPL 3: #GP), a conditional or unconditional branch, CALL, RET, LOOP. */
function terminator(g: Gen, at: number, blockStart: number): number[] {
  const r = g.rng;
  const back = blockStart - at; // offset from this instruction's start to the block start
  switch (r.below(9)) {
    case 0: case 1: return [0xf4];
    case 2: return [0x70 + r.below(16), (back - 2) & 0xff];
    case 3: return [0x0f, 0x80 + r.below(16), ...le32(back - 6)];
    case 4: return [0x70 + r.below(16), 2, 0xf4, 0xf4]; // taken or not, both go to a HLT
    case 5: return [0xe2, (back - 2) & 0xff]; // LOOP
    case 6: return [0xe8, ...le32(0), 0xf4]; // CALL the next instruction
    case 7: return [0xc3]; // RET to whatever the stack holds
    default: return [0xeb, 2, 0xf4, 0xf4];
  }
}

function scenario(g: Gen, gens: InsnGen[], mixed: boolean): Scenario {
  const r = g.rng;
  const code: number[] = [];
  const n = 1 + r.below(8);
  const all = Object.values(FAMILIES).flat();
  for (let k = 0; k < n; k++) code.push(...(mixed && r.chance(0.5) ? r.pick(all) : r.pick(gens))(g));
  code.push(...terminator(g, code.length, 0));
  code.push(0xf4);
  const data = r.bytes(0x5000);
  return {
    ring: r.chance(0.5) ? 3 : 0,
    paging: r.chance(0.8),
    code: Uint8Array.from(code),
    regs: g.regs(),
    // Arithmetic flags and DF random, IF on.
    eflags: (r.u32() & 0x8d5) | 0x202,
    data,
    stack: r.bytes(STACK_TOP - STACK),
    budget: 1 + r.below(200),
    ss16: r.chance(0.05),
    code16: r.chance(0.15),
    threshold: r.pick([1, 1, 2, 3]),
    // Now and then without the side exits, deferred flag stores or register locals: each way must match too.
    jit: { ...(r.chance(0.5) ? { maxRegionBlocks: 8 } : {}), sideExits: r.chance(0.75), deferFlags: r.chance(0.85), registerLocals: r.chance(0.85) },
  };
}

/** Cases that ended in a page fault (CR2 set), per test: the fault paths must be exercised too. */
let pageFaults = 0;

function check(name: string, s: Scenario, seed: number): number {
  const { interp, jit, diff } = runBoth(s);
  if (interp.cr2 !== 0) pageFaults++;
  if (diff.length) {
    assert.fail(`${name} case seed 0x${seed.toString(16)}: compiled and interpreted runs differ\n` +
      `  code ${hexBytes(s.code)}\n  CPL ${s.ring}, paging ${s.paging}, budget ${s.budget}, eflags 0x${s.eflags.toString(16)}\n` +
      `  regs ${Array.from(s.regs, (v) => (v >>> 0).toString(16)).join(' ')}\n  ${diff.join('\n  ')}`);
  }
  return jit.compiledRuns;
}

for (const [name, gens] of Object.entries(FAMILIES)) {
  test(`compiled blocks match the interpreter: ${name}`, (t) => {
    const before = jitStats.inline;
    let runs = 0;
    pageFaults = 0;
    for (let n = 0; n < CASES; n++) {
      const seed = (SEED ^ Math.imul(n + 1, 0x9e3779b1) ^ name.length * 0x1000193) >>> 0;
      const g = new Gen(new Rng(seed));
      runs += check(name, scenario(g, gens, n % 3 === 2), seed);
    }
    t.diagnostic(`${name}: ${CASES} blocks, ${runs} compiled runs, ${jitStats.inline - before} instructions emitted inline, ${pageFaults} page faults`);
    assert.ok(runs >= CASES, `only ${runs} compiled runs for ${CASES} blocks`);
    if (name !== 'muldiv' && name !== 'shift') assert.ok(pageFaults >= CASES / 50, `only ${pageFaults} cases took a page fault`);
    assert.ok(jitStats.inline > before, 'no instruction was emitted inline');
  });
}

test('compiled blocks match the interpreter: random bytes', (t) => {
  let runs = 0;
  const cases = CASES * 2;
  for (let n = 0; n < cases; n++) {
    const seed = (SEED ^ Math.imul(n + 1, 0x2c1b3c6d)) >>> 0;
    const g = new Gen(new Rng(seed));
    const s: Scenario = { ...scenario(g, [alu], false), code: g.rng.bytes(CODE_BYTES), start: g.rng.below(0x1000), budget: 500 };
    runs += check('random bytes', s, seed);
  }
  t.diagnostic(`random bytes: ${cases} cases, ${runs} compiled runs`);
});

test('a fault in the middle of a compiled block leaves the state of the instructions before it', () => {
  // add eax, 5; mov [ebx], ecx; inc edx; mov [esi], eax (ESI in the unmapped page); xor eax, eax; hlt
  const code = Uint8Array.from([0x83, 0xc0, 0x05, 0x89, 0x0b, 0x42, 0x89, 0x06, 0x31, 0xc0, 0xf4]);
  const s: Scenario = {
    ring: 0, paging: true, code, eflags: 0x202, budget: 100,
    regs: [10, 0x1234, 0x7fffffff, DATA + 0x40, STACK_TOP - 0x100, 0, UNMAPPED + 8, 0],
  };
  const { interp, jit, diff } = runBoth(s);
  assert.deepEqual(diff, []);
  assert.ok(jit.compiledRuns >= 1);
  // The #PF was taken at the fourth instruction: EAX = 15, EDX = 0x80000000 with OF from the INC.
  assert.equal(interp.regs[0], 15);
  assert.equal(interp.regs[2] >>> 0, 0x80000000);
  assert.equal(interp.cr2, UNMAPPED + 8);
  assert.equal(interp.eflags & 0x800, 0x800);
});

test('a read-modify-write that faults on the read-only page changes neither memory nor flags', () => {
  // cmp eax, eax (ZF=1); add [ebx], ecx (EBX read-only: #PF after the probe); hlt
  const code = Uint8Array.from([0x39, 0xc0, 0x01, 0x0b, 0xf4]);
  for (const ring of [0, 3] as const) {
    const s: Scenario = { ring, paging: true, code, eflags: 0x202, budget: 100, regs: [1, 2, 3, READ_ONLY + 0x10, STACK_TOP - 0x100, 0, 0, 0] };
    const { interp, diff } = runBoth(s);
    assert.deepEqual(diff, []);
    assert.equal(interp.cr2, READ_ONLY + 0x10);
    assert.equal(interp.eflags & 0x40, 0x40);
  }
});

test('a loop compiled onto itself stops where the interpreter stops: budgets, interrupts, stop requests', () => {
  // One block:   L: add eax, ecx; mov [ebx + edx*4], eax; dec edx; jnz L; hlt
  const plain = [0x01, 0xc8, 0x89, 0x04, 0x93, 0x4a, 0x75, 0xf8, 0xf4];
  // One block with an MMIO store in it (the device acts when EDX reaches TRIGGER; ESI = MMIO + port):
  //              L: mov eax, edx; mov [esi], al; dec edx; jnz L; hlt
  const withMmio = [0x89, 0xd0, 0x88, 0x06, 0x4a, 0x75, 0xf9, 0xf4];
  // Two blocks (port I/O ends a block):
  //              L: add eax, ecx; mov eax, edx; out port, al; dec edx; jnz L; hlt
  const twoBlocks = (port: number) => [0x01, 0xc8, 0x89, 0xd0, 0xe6, port, 0x4a, 0x75, 0xf7, 0xf4];
  const codes = [plain, withMmio, twoBlocks(IRQ_PORT), twoBlocks(STOP_PORT)];
  for (const [ci, code] of codes.entries()) {
    for (const port of code === withMmio ? [IRQ_PORT, STOP_PORT] : [0]) {
      for (const budget of [1, 2, 3, 5, 8, 13, 50, 99, 1000]) {
        for (const [eflags, threshold] of [[0x202, 1], [0x002, 1], [0x202, 3], [0x002, 2]]) {
          const s: Scenario = {
            ring: 0, paging: true, code: Uint8Array.from(code), eflags, budget, threshold,
            regs: [0, 3, 40, DATA, STACK_TOP - 0x100, 0, MMIO + port, 0], jit: { maxRegionBlocks: threshold === 1 ? 1 : 8 },
          };
          const { interp, jit, diff } = runBoth(s);
          assert.deepEqual(diff, [], `budget ${budget}, eflags ${eflags.toString(16)}, code ${hexBytes(code)}`);
          if (threshold === 1 || budget >= 50) assert.ok(jit.compiledRuns >= 1);
          if (budget === 1000 && ci === 0) assert.equal(interp.regs[2], 0);
          // A stop request made at EDX = TRIGGER ends the block right after the store; an interrupt (IF set) is taken
          // at the end of that pass.
          if (budget === 1000 && ci === 1 && port === STOP_PORT) assert.equal(interp.regs[2], TRIGGER);
          if (budget === 1000 && ci === 1 && port === IRQ_PORT && eflags & 0x200) assert.equal(interp.regs[2], TRIGGER - 1);
        }
      }
    }
  }
});

test('a block whose accesses keep leaving its inline code (MMIO) is compiled again with its slow paths in place', () => {
  //   L: mov eax, edx; mov [esi], al; dec edx; jnz L; hlt      (ESI points at MMIO)
  const code = Uint8Array.from([0x89, 0xd0, 0x88, 0x06, 0x4a, 0x75, 0xf9, 0xf4]);
  for (const sideExits of [true, false]) {
    const compiles: number[] = [];
    for (const passes of [40, 200]) {
      const s: Scenario = {
        ring: 0, paging: true, code, eflags: 0x002, budget: 10_000, threshold: 1,
        regs: [0, 0, passes, DATA, STACK_TOP - 0x100, 0, MMIO + 0x40, 0], jit: { maxRegionBlocks: 1, sideExits },
      };
      jitStats.reset();
      const { interp, jit, diff } = runBoth(s);
      assert.deepEqual(diff, [], `passes ${passes}`);
      assert.equal(interp.regs[EDX], 0);
      assert.equal(interp.bus.length, 16); // (the log keeps the first 16 of the stores)
      assert.ok(jit.compiledRuns >= passes);
      compiles.push(jitStats.blocks);
    }
    // Each pass leaves at the store; past the limit (64) the loop's block is compiled once more, with the store's slow path.
    assert.equal(compiles[1] - compiles[0], sideExits ? 1 : 0, `side exits ${sideExits}: ${compiles.join(', ')} compiles`);
  }
});

test('a loop compiled onto itself that rewrites its own code stops and runs the new code', () => {
  //   mov byte [esi], al     88 06      (ESI walks towards the loop's own code)
  //   inc esi                46
  //   add ebx, 1             83 c3 01
  //   dec ecx                49
  //   jnz loop               75 f7
  //   hlt
  const code = Uint8Array.from([0x88, 0x06, 0x46, 0x83, 0xc3, 0x01, 0x49, 0x75, 0xf7, 0xf4]);
  for (const [al, start] of [[0x90, 0x20], [0x41, 0x30]]) {
    for (const paging of [false, true]) {
      const s: Scenario = {
        ring: 0, paging, code, eflags: 0x202, budget: 10_000, threshold: paging ? 1 : 3,
        // ESI reaches the loop's bytes after `start` iterations: they become NOPs or INC ECX.
        regs: [al, 100, 0, 0, STACK_TOP - 0x100, 0, 0x20000 - start, 0],
      };
      const { jit, diff } = runBoth(s);
      assert.deepEqual(diff, [], `al ${al.toString(16)}, paging ${paging}`);
      assert.ok(jit.compiledRuns >= 2);
    }
  }
});

/** Flag-setting forms on EAX/AX/AL and ECX/CX/CL (Y is ECX's value, for the immediate forms). */
function setters(y: number): number[][] {
  const out: number[][] = [];
  const y8 = y & 0xff;
  for (let op = 0; op < 8; op++) {
    out.push([op * 8 + 1, 0xc8], [0x66, op * 8 + 1, 0xc8], [op * 8, 0xc8], [op * 8 + 3, 0xc1], [0x83, 0xc0 | (op << 3), y8],
      [0x81, 0xc0 | (op << 3), ...le32(y)], [op * 8 + 5, ...le32(y)], [op * 8 + 4, y8]);
  }
  out.push([0x85, 0xc8], [0x84, 0xc8], [0x66, 0x85, 0xc8], [0xa9, ...le32(y)], [0xf7, 0xc0, ...le32(y)], [0xa8, y8]);
  out.push([0x40], [0x48], [0x66, 0x40], [0xfe, 0xc0], [0xfe, 0xc8], [0xff, 0xc0], [0xf7, 0xd8], [0xf6, 0xd8], [0x66, 0xf7, 0xd8]);
  for (const sub of [0, 1, 4, 5, 7]) out.push([0xc1, 0xc0 | (sub << 3), (y8 % 33) || 1], [0xd1, 0xc0 | (sub << 3)], [0xd3, 0xc0 | (sub << 3)]);
  for (const sub of [4, 5, 7]) {
    out.push([0x66, 0xc1, 0xc0 | (sub << 3), (y8 % 33) || 1], [0x66, 0xd1, 0xc0 | (sub << 3)], [0xc0, 0xc0 | (sub << 3), (y8 % 33) || 1],
      [0xd0, 0xc0 | (sub << 3)]);
  }
  out.push([0xf7, 0xe1], [0xf7, 0xe9], [0x0f, 0xaf, 0xc1], [0x6b, 0xc1, y8], [0x69, 0xc1, ...le32(y)]);
  return out;
}

const PAIRS: [number, number][] = [
  [0, 0], [1, 1], [5, 5], [0x7fffffff, 0x7fffffff], [0x80000000, 0x80000000], [-1, -1], [0, 1], [1, 0], [-1, 0], [0, -1],
  [0x7fffffff, 0x80000000], [0x80000000, 0x7fffffff], [0x80000000, 1], [1, 0x80000000], [0x7fffffff, -1], [-1, 0x7fffffff],
  [0x80, 0x7f], [0x7f, 0x80], [0xff, 0xff], [0xff, 1], [0x8000, 0x7fff], [0x7fff, 0x8000], [0xffff, 1], [0x12345678, 0x12345679],
  [0x40000000, 0x40000000], [0xc0000000, 0x40000000],
];

test('conditions computed from a known flag record match the interpreter (SETcc, CMOVcc, ADC/SBB, INC, Jcc)', () => {
  let cases = 0, runs = 0;
  for (const [pi, [x, y]] of PAIRS.entries()) {
    for (const [si, setter] of setters(y).entries()) {
      const cc = (pi + si) % 16;
      const setAll = (base: number) => Array.from({ length: 16 }, (_, k) => [0x0f, 0x90 + k, 0x43, base + k]).flat(); // setcc [ebx + d8]
      const code = [
        0xb8, ...le32(x), 0xb9, ...le32(y), // mov eax, x; mov ecx, y
        ...setter,
        ...setAll(0),
        0x0f, 0x40 + cc, 0xf9, // cmovcc edi, ecx
        ...(si & 1 ? [0x11, 0xca] : [0x19, 0xca]), // adc/sbb edx, ecx
        ...setAll(16),
        0x46, // inc esi (CF from the ADC/SBB)
        0x0f, 0x92, 0x43, 32, // setb [ebx + 32]
        ...setter,
        0x0f, 0x90 + (cc ^ 1), 0xc6, // setncc dh (a register)
        0x70 + cc, 0x01, 0xf4, 0xf4, // jcc over one HLT
      ];
      const s: Scenario = {
        ring: 0, paging: false, code: Uint8Array.from(code), eflags: si & 2 ? 0x203 : 0x202, budget: 1000,
        regs: [0, 0, 0x55, DATA, STACK_TOP - 0x100, 0, 0x7fffffff, 0x1111],
      };
      runs += check('conditions', s, pi * 1000 + si);
      cases++;
    }
  }
  assert.ok(runs >= cases);
});

test('a block that ends early at a store (stop request, own code) keeps the flags of the instructions before it', () => {
  // cmp eax, ecx; mov [esi], al; add eax, 1; hlt: the store asks the CPU to stop (MMIO) or hits the block itself.
  const code = Uint8Array.from([0x39, 0xc8, 0x88, 0x06, 0x83, 0xc0, 0x01, 0xf4]);
  for (const esi of [MMIO + STOP_PORT, 0x20006]) {
    const s: Scenario = { ring: 0, paging: true, code, eflags: 0x202, budget: 100, regs: [TRIGGER, 9, 0, 0, STACK_TOP - 0x100, 0, esi, 0] };
    const { interp, diff } = runBoth(s);
    assert.deepEqual(diff, []);
    // Stopped right after the store: the flags are CMP 7, 9's (SF CF AF). (The store into the block itself
    // turns the ADD's immediate into 7, and the run goes on.)
    if (esi !== 0x20006) assert.equal(interp.eflags & 0x8d5, 0x81 | 0x10);
  }
});

test('a loop of several blocks compiled as one region matches the interpreter: faults, own code, budgets, interrupts', () => {
  // L:  mov eax, [ebx + edx*4]    8b 04 93      (EBX walks towards the unmapped page: #PF in block 1 eventually)
  //     test al, 1                a8 01
  //     jz E                      74 05
  //     add ecx, eax              01 c1         block 2
  //     mov [edi], cl             88 0f         (EDI: data, MMIO (interrupt / stop requests) or the code itself)
  //     inc edi                   47            block 3 (E)
  //     E: sub ebx, -4            83 eb fc
  //     dec edx                   4a
  //     jnz L                     75 ee
  //     hlt
  const code = [0x8b, 0x04, 0x93, 0xa8, 0x01, 0x74, 0x05, 0x01, 0xc1, 0x88, 0x0f, 0x47, 0x83, 0xeb, 0xfc, 0x4a, 0x75, 0xee, 0xf4];
  let regions = 0;
  for (const [name, ebx, edi] of [
    ['data', DATA, DATA + 0x800], ['fault', UNMAPPED - 0x100, DATA], ['mmio irq', DATA, MMIO + IRQ_PORT],
    ['mmio stop', DATA, MMIO + STOP_PORT], ['own code', DATA, 0x20000 - 0x30],
  ] as const) {
    for (const budget of [7, 30, 100, 5000]) {
      for (const threshold of [2, 3, 8]) {
        const rng = new Rng(budget * 31 + threshold);
        const data = rng.bytes(0x5000);
        for (let k = 0; k < 0x5000; k += 64) data[k] = TRIGGER;
        const before = jitStats.regionBlocks;
        const s: Scenario = { ring: 3, paging: true, code: Uint8Array.from(code), eflags: 0x202, budget, threshold, data,
          regs: [0, 0, 60, ebx, STACK_TOP - 0x100, 0, 0, edi], jit: { maxRegionBlocks: 8 } };
        const { jit, diff } = runBoth(s);
        assert.deepEqual(diff, [], `${name}, budget ${budget}, threshold ${threshold}`);
        if (budget >= 100 && name === 'data') assert.ok(jit.compiledRuns >= 1);
        regions += jitStats.regionBlocks - before;
      }
    }
  }
  assert.ok(regions > 0, 'no block was compiled into a region');
});

test('a region across two pages follows its second page: remapped (INVLPG) or written between two passes', () => {
  // Page 0x20000:  20000: mov ecx, 40; xor eax, eax; jmp L
  //                L = 20f00: add eax, 1; cmp ecx, 20; jne J
  //                    20f08: remap: mov dword [PTE of 0x21000], DATA + 0x1000 | 3; invlpg [0x21000]; nop; nop
  //                           write: mov byte [0x21002], 0x20; nop x 12
  //                J = 20f1b: jmp 21000
  // Page 0x21000:  21000: add eax, 2; dec ecx; jnz L; hlt
  // Frame DATA + 0x1000, which the PTE points at from ECX = 20 on: the same code, but add eax, 0x20.
  const PTE_21 = 0x9000 + 0x21 * 4;
  const second = (n: number) => [0x83, 0xc0, n, 0x49, 0x0f, 0x85, ...le32(0x20f00 - 0x2100a), 0xf4];
  const change = {
    remap: [0xc7, 0x05, ...le32(PTE_21), ...le32(DATA + 0x1003), 0x0f, 0x01, 0x3d, ...le32(0x21000), 0x90, 0x90],
    write: [0xc6, 0x05, ...le32(0x21002), 0x20, ...new Array<number>(12).fill(0x90)],
  };
  const before = jitStats.regionBlocks;
  for (const [name, bytes] of Object.entries(change)) {
    const code = new Uint8Array(CODE_BYTES);
    code.set([0xb9, ...le32(40), 0x31, 0xc0, 0xe9, ...le32(0x20f00 - 0x2000c)], 0);
    code.set([0x83, 0xc0, 0x01, 0x83, 0xf9, 0x14, 0x75, 0x13, ...bytes, 0xe9, ...le32(0x21000 - 0x20f20)], 0xf00);
    code.set(second(2), 0x1000);
    const data = new Uint8Array(0x5000);
    data.set(second(0x20), 0x1000);
    for (const threshold of [2, 3, 5]) {
      const s: Scenario = { ring: 0, paging: true, code, eflags: 0x202, budget: 10_000, threshold, data,
        regs: [0, 0, 0, 0, STACK_TOP - 0x100, 0, 0, 0], jit: { maxRegionBlocks: 8 } };
      const { interp, jit, diff } = runBoth(s);
      assert.deepEqual(diff, [], `${name}, threshold ${threshold}`);
      assert.equal(interp.regs[0], 20 * 3 + 20 * 0x21, `${name}: twenty passes through each version of the code`);
      assert.ok(jit.compiledRuns >= 1);
    }
  }
  assert.ok(jitStats.regionBlocks > before, 'no region was compiled');
});
