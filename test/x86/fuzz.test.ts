/**
 * Random-bytes fuzzing of the CPU: pages of random bytes run as code, at CPL 3
 * and (separately) at CPL 0, until a few million instructions have retired.
 *
 * Each case is made from its own seed: a code page pair, a data page pair and
 * a stack page of random bytes, random registers (mostly pointing into the
 * data), paging on or off. The machine is rebuilt for every case: system
 * tables restored from a template and `cpu.reset()`, because the code may
 * have overwritten them (at CPL 0 it may also have loaded garbage into GDTR,
 * IDTR, CR0, CR3, CR4 or MSRs). Every IDT vector leads to a lone HLT, so an
 * exception ends the case; so do a HLT in the random code, a triple fault
 * and running out of budget (an endless loop).
 *
 * What must hold: no JavaScript exception escapes `cpu.run()`, every case
 * ends in one of those guest-visible outcomes (a CPU caught in an exception
 * loop that retires nothing, so that `run()` would never return, is stopped
 * by the bus and counts as a failure), and the target instruction count is
 * reached. A failing case is shrunk (code bytes it does not need become HLTs)
 * and reported with its registers, as a reproducer.
 *
 * FUZZ_SEED=<number> changes the seed (the default is fixed, so runs are
 * reproducible); FUZZ_INSNS=<number> changes the instructions per mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cpu, Exit } from '../../src/x86/cpu.js';
import { GuestMemory, IoBus, NullBus } from '../../src/x86/memory.js';
import { CS } from '../../src/x86/constants.js';
import { gateDescriptor, INT_GATE32, writeDescriptorTable } from '../../src/x86/descriptors.js';
import { Rng } from './rng.js';
import { flatGdt, loadFlatSegments, loadFlatTables } from './flat.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x7e57f00d) >>> 0;
const INSNS_PER_MODE = Number(process.env.FUZZ_INSNS ?? 1_250_000);
/** Instructions one case may run: an endless loop ends here. */
const CASE_BUDGET = 1000;

const RAM = 2 << 20;
// System area (supervisor-only when paging is on), then the pages the random code gets.
const GDT = 0x1000, IDT = 0x2000, STUBS = 0x3000, TSS = 0x4000, PD = 0x5000, PT = 0x6000, KSTACK_TOP = 0x9000;
const SYSTEM_END = 0x9000;
const CODE = 0x10000, CODE_BYTES = 0x2000;
/** Two data pages: the second is read-only to CPL 3 under paging. */
const DATA = 0x20000, DATA_BYTES = 0x2000;
const STACK = 0x30000, STACK_TOP = 0x31000;
const KCODE = 0x08, KDATA = 0x10;
const GDT_ENTRIES = 10;

/** Everything a case starts from. Its pages are in guest memory, or, when replaying a case, in `pages`. */
interface Case {
  ring: 0 | 3;
  paging: boolean;
  regs: Int32Array;
  eflags: number;
  /** Offset of the first instruction in the code pages. */
  start: number;
  pages?: { code: Uint8Array; data: Uint8Array; stack: Uint8Array };
}

/** Make the case numbered `seed`, writing its random pages into `mem`. */
function makeCase(seed: number, ring: 0 | 3, mem: Uint8Array): Case {
  const rng = new Rng(seed);
  rng.fill(mem, CODE, CODE_BYTES);
  rng.fill(mem, DATA, DATA_BYTES);
  rng.fill(mem, STACK, STACK_TOP - STACK);
  const regs = new Int32Array(8);
  for (let r = 0; r < 8; r++) {
    // Mostly pointers into the data pages, so memory operands tend to hit something.
    const kind = rng.below(4);
    regs[r] = kind === 0 ? rng.u32() : kind === 1 ? rng.below(256) : DATA + rng.below(DATA_BYTES);
  }
  regs[4] = STACK_TOP - 4 * rng.below(64);
  // A REP instruction counts once however long it runs: a huge ECX would spend the time budget, not the instruction one.
  regs[1] = rng.below(1024);
  // Random arithmetic flags and DF; IF on (nothing will interrupt); IOPL 0.
  const eflags = (rng.u32() & 0x8d5) | 0x202;
  return { ring, paging: rng.below(2) === 1, regs, eflags, start: rng.below(0x1000) };
}

/** The machine's fixed part: GDT, IDT with HLT stubs, TSS and page tables, built once and copied in per case. */
function systemTemplate(): Uint8Array {
  const mem = new Uint8Array(SYSTEM_END);
  const v = new DataView(mem.buffer);
  writeDescriptorTable(v, GDT, [
    ...flatGdt(TSS),
    // Odd segments for random selector loads to find: 16-bit code, small data at 0x20000, expand-down data, not present.
    [0x0000ffff, 0x00009a00],
    [(DATA << 16) | 0x0fff, 0x0040f200 | (DATA >>> 16)],
    [0x00000fff, 0x00c09600],
    [0x0000ffff, 0x00cf7200],
  ]);
  // Every vector: a DPL-3 32-bit interrupt gate to its own HLT.
  writeDescriptorTable(v, IDT, Array.from({ length: 256 }, (_, n) => gateDescriptor(KCODE, STUBS + n, INT_GATE32, 3)));
  mem.fill(0xf4, STUBS, STUBS + 256);
  v.setInt32(TSS + 4, KSTACK_TOP, true); // ESP0
  v.setInt32(TSS + 8, KDATA, true); // SS0
  v.setUint16(TSS + 0x66, 0x68, true); // no I/O bitmap: every port is closed to CPL 3
  // Paging: identity map of RAM; the system area is supervisor-only, the second data page read-only.
  v.setInt32(PD, PT | 0x7, true);
  for (let page = 0; page < RAM >>> 12; page++) {
    const addr = page << 12;
    let bits = 0x7;
    if (addr < SYSTEM_END) bits = 0x3;
    else if (addr === DATA + 0x1000) bits = 0x5;
    v.setInt32(PT + page * 4, addr | bits, true);
  }
  return mem;
}

type Outcome = 'exception' | 'halt' | 'shutdown' | 'budget';

/** Bus accesses in a row without an instruction retiring that count as the CPU being stuck. */
const STALL_ACCESSES = 100_000;

/**
 * An empty bus that also guards against a CPU stuck delivering exceptions
 * without retiring anything (a handler that faults, its frames pushed into
 * the void): unless `run()` counts those deliveries against its budget it
 * never returns, so the bus stops the CPU and the case fails instead of the
 * test hanging.
 */
class WatchdogBus implements IoBus {
  private readonly empty = new NullBus();
  cpu: Cpu | null = null;
  stalled = false;
  private lastIcount = -1;
  private sameIcount = 0;

  private tick(): void {
    const cpu = this.cpu;
    if (cpu === null) return;
    if (cpu.icount !== this.lastIcount) {
      this.lastIcount = cpu.icount;
      this.sameIcount = 0;
    } else if (++this.sameIcount >= STALL_ACCESSES && !this.stalled) {
      this.stalled = true;
      cpu.requestStop();
    }
  }

  reset(): void {
    this.stalled = false;
    this.lastIcount = -1;
    this.sameIcount = 0;
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    this.tick();
    return this.empty.ioRead(port, size);
  }
  ioWrite(): void {
    this.tick();
  }
  mmioRead(addr: number, size: 1 | 2 | 4): number {
    this.tick();
    return this.empty.mmioRead(addr, size);
  }
  mmioWrite(): void {
    this.tick();
  }
}

class Fuzzer {
  readonly mem = new GuestMemory(RAM);
  private readonly bus = new WatchdogBus();
  readonly cpu = new Cpu(this.mem, this.bus);
  private readonly system = systemTemplate();

  constructor() {
    this.bus.cpu = this.cpu;
  }

  /** Make case `seed`: its pages go into guest memory. */
  load(seed: number, ring: 0 | 3): Case {
    return makeCase(seed, ring, this.mem.u8);
  }

  /** Case `seed` with its pages kept aside, for replaying it. */
  snapshot(seed: number, ring: 0 | 3): Case {
    const t = this.load(seed, ring);
    const read = (from: number, length: number) => this.mem.u8.slice(from, from + length);
    t.pages = { code: read(CODE, CODE_BYTES), data: read(DATA, DATA_BYTES), stack: read(STACK, STACK_TOP - STACK) };
    return t;
  }

  /** Run one case from a fresh machine; returns its outcome, or throws what escaped the CPU. */
  run(t: Case): { outcome: Outcome; vector: number; icount: number } {
    const { cpu, mem } = this;
    mem.u8.set(this.system, 0);
    if (t.pages) {
      mem.u8.set(t.pages.code, CODE);
      mem.u8.set(t.pages.data, DATA);
      mem.u8.set(t.pages.stack, STACK);
    }
    cpu.reset(); // also drops every decoded block: memory was written behind the CPU's back
    loadFlatTables(cpu, GDT, GDT_ENTRIES, IDT, TSS);
    if (t.paging) {
      cpu.setCr3(PD);
      cpu.setCr0(0x80010011); // PG, WP, ET, PE
    } else {
      cpu.setCr0(0x00000011); // ET, PE
    }
    loadFlatSegments(cpu, t.ring);
    cpu.regs.set(t.regs);
    cpu.setEflags(t.eflags);
    cpu.eip = CODE + t.start;

    this.bus.reset();
    const before = cpu.icount;
    const exit = cpu.run(CASE_BUDGET);
    const icount = cpu.icount - before;
    switch (exit) {
      case Exit.Budget:
        return { outcome: 'budget', vector: -1, icount };
      case Exit.Shutdown:
        assert.ok(cpu.shutdownReason !== '', 'a shutdown says why');
        return { outcome: 'shutdown', vector: -1, icount };
      case Exit.Halt: {
        // HLT runs only at CPL 0: halting anywhere else is a CPU bug.
        assert.equal(cpu.cpl, 0, `halted at CPL ${cpu.cpl}`);
        const vector = (cpu.eip >>> 0) - 1 - STUBS;
        const inStub = vector >= 0 && vector < 256 && cpu.segSel[CS] === KCODE;
        return { outcome: inStub ? 'exception' : 'halt', vector: inStub ? vector : -1, icount };
      }
      default:
        if (this.bus.stalled) {
          throw new Error(`run() would not return: ${STALL_ACCESSES} bus accesses without an instruction retiring ` +
            `(an exception loop; eip 0x${(cpu.eip >>> 0).toString(16)}, esp 0x${(cpu.regs[4] >>> 0).toString(16)})`);
        }
        assert.fail(`run() returned ${exit as number}: nothing here asks the CPU to stop`);
    }
  }

  /** The error a replayed case ends with, or null if it runs cleanly. */
  failure(t: Case): Error | null {
    try {
      this.run(t);
      return null;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /**
   * Shrink a failing case: HLT out every part of the code pages that the
   * failure does not need (halving the pieces down to single bytes), start as
   * late as possible, then zero the data and stack if that still fails.
   */
  shrink(t: Case): Case {
    const pages = t.pages;
    if (!pages) throw new Error('only a snapshot can be shrunk');
    const error = this.failure(t)?.message;
    const withCode = (code: Uint8Array, start = t.start): Case => ({ ...t, start, pages: { ...pages, code } });
    const keep = (c: Case) => this.failure(c)?.message === error;
    let code = pages.code;
    for (let size = CODE_BYTES / 2; size >= 1; size >>= 1) {
      for (let at = 0; at < CODE_BYTES; at += size) {
        if (code.subarray(at, at + size).every((b) => b === 0xf4)) continue;
        const trial = code.slice();
        trial.fill(0xf4, at, at + size);
        if (keep(withCode(trial))) code = trial;
      }
    }
    let best = withCode(code);
    for (let start = t.start + 1; start < CODE_BYTES && code[start - 1] !== 0xf4; start++) {
      if (keep(withCode(code, start))) best = withCode(code, start);
    }
    const unreached = code.slice().fill(0xf4, t.start, best.start);
    if (keep(withCode(unreached, best.start))) best = withCode((code = unreached), best.start);
    const blank: Case = { ...best, pages: { code, data: new Uint8Array(DATA_BYTES), stack: new Uint8Array(STACK_TOP - STACK) } };
    return keep(blank) ? blank : best;
  }
}

/** The code that is not HLT padding, as "address: bytes" runs. */
function codeFragments(code: Uint8Array): string {
  const runs: string[] = [];
  for (let at = 0; at < code.length; ) {
    if (code[at] === 0xf4) {
      at++;
      continue;
    }
    let end = at;
    while (end < code.length && (code[end] !== 0xf4 || code[end + 1] !== 0xf4) && end - at < 48) end++;
    const bytes = Array.from(code.subarray(at, end), (b) => b.toString(16).padStart(2, '0')).join(' ');
    runs.push(`0x${(CODE + at).toString(16)}: ${bytes}`);
    at = end;
  }
  return runs.length <= 6 ? runs.join('; ') : `${runs.slice(0, 6).join('; ')}; ... (${runs.length} pieces)`;
}

function describe(t: Case, seed: number, error: Error): string {
  const pages = t.pages ?? { code: new Uint8Array(CODE_BYTES), data: new Uint8Array(0), stack: new Uint8Array(0) };
  const names = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
  const regs = names.map((n, r) => `${n}=${(t.regs[r] >>> 0).toString(16)}`).join(' ');
  const blankData = pages.data.every((b) => b === 0) && pages.stack.every((b) => b === 0);
  return [
    `case seed 0x${seed.toString(16)}: CPL ${t.ring}, paging ${t.paging ? 'on' : 'off'}, eip 0x${(CODE + t.start).toString(16)}`,
    `  code (HLT elsewhere): ${codeFragments(pages.code)}`,
    `  ${regs} eflags=${t.eflags.toString(16)}${blankData ? ', data and stack zero' : ', data/stack pages from the seed'}`,
    `  ${error.stack?.split('\n').slice(0, 4).join('\n  ') ?? error.message}`,
  ].join('\n');
}

/** Same bug, same signature: the message and the innermost frame it was thrown from. */
function signature(e: Error): string {
  return `${e.message.replace(/0x[0-9a-f]+|\d+/g, '#')} @ ${e.stack?.split('\n')[1]?.trim() ?? ''}`;
}

function fuzz(ring: 0 | 3, log: (s: string) => void): void {
  const fuzzer = new Fuzzer();
  const outcomes: Record<Outcome, number> = { exception: 0, halt: 0, shutdown: 0, budget: 0 };
  const vectors = new Map<number, number>();
  /** Distinct failures: the first case's reproducer, and how many cases hit it. */
  const failures = new Map<string, { report: string; cases: number }>();
  const started = performance.now();
  let insns = 0, cases = 0, failed = 0;
  let slowest = { ms: 0, seed: 0 };
  while (insns < INSNS_PER_MODE && failed < 1000) {
    // Each case's seed derives from the run's seed, the mode and its number alone.
    const seed = (Math.imul(SEED ^ (ring << 24), 0x2c1b3c6d) + Math.imul(cases, 0x297a2d39)) >>> 0;
    cases++;
    const t = fuzzer.load(seed, ring);
    const caseStart = performance.now();
    try {
      const r = fuzzer.run(t);
      const ms = performance.now() - caseStart;
      if (ms > slowest.ms) slowest = { ms, seed };
      outcomes[r.outcome]++;
      if (r.vector >= 0) vectors.set(r.vector, (vectors.get(r.vector) ?? 0) + 1);
      insns += r.icount;
    } catch (e) {
      failed++;
      const error = e instanceof Error ? e : new Error(String(e));
      const known = failures.get(signature(error));
      if (known) known.cases++;
      else failures.set(signature(error), { report: describe(fuzzer.shrink(fuzzer.snapshot(seed, ring)), seed, error), cases: 1 });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const top = [...vectors].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([v, n]) => `#${v}:${n}`).join(' ');
  log(`CPL ${ring}, seed 0x${SEED.toString(16)} (FUZZ_SEED): ${insns} instructions in ${cases} cases, ${seconds.toFixed(1)} s; ` +
    `outcomes ${JSON.stringify(outcomes)}; vectors ${top}; slowest case 0x${slowest.seed.toString(16)} (${slowest.ms.toFixed(0)} ms)`);
  const reports = [...failures.values()].map((f) => `${f.report}\n  (${f.cases} case${f.cases > 1 ? 's' : ''} like this)`);
  assert.equal(failed, 0, `${failed} cases escaped the CPU with a JavaScript exception or an impossible outcome:\n${reports.join('\n')}`);
  assert.ok(insns >= INSNS_PER_MODE, `only ${insns} of ${INSNS_PER_MODE} instructions ran`);
}

test('random code at CPL 3 never throws out of the CPU', { timeout: 300_000 }, (t) => {
  fuzz(3, (s) => t.diagnostic(s));
});

test('random code at CPL 0 never throws out of the CPU', { timeout: 300_000 }, (t) => {
  fuzz(0, (s) => t.diagnostic(s));
});
