/**
 * Differential tests against a real x86 processor: replays the cases in
 * test/fixtures/x86/*.bin.gz (recorded by scripts/gen-x86-fixtures.ts on the
 * host CPU) on the emulator and compares everything the architecture
 * defines: registers, EFLAGS, the data and stack areas, the exception and its
 * EIP, and for x87 cases the FPU's control, status and tag words and its
 * non-empty registers.
 *
 * X86_DIFF_GROUPS=alu,shift limits the run to some groups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { CODE_BASE, DATA_BASE, FlatMachine, STACK_TOP, type FlatResult } from './flat.js';
import { AREA_SIZE, FPU_IMAGE_SIZE, decodeFixture, type FixtureCase, type Run } from './fixture-format.js';

const FIXTURES = new URL('../../../test/fixtures/x86/', import.meta.url);
const GROUPS = ['alu', 'shift', 'muldiv', 'bcd', 'bitops', 'string', 'flags', 'stack', 'x87', 'x87trans'];
const REPORTED = 6;

const REG_NAMES = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'];
const FLAG_NAMES: [number, string][] = [
  [0x1, 'CF'], [0x2, 'bit1'], [0x4, 'PF'], [0x8, 'bit3'], [0x10, 'AF'], [0x20, 'bit5'], [0x40, 'ZF'], [0x80, 'SF'],
  [0x100, 'TF'], [0x200, 'IF'], [0x400, 'DF'], [0x800, 'OF'], [0x3000, 'IOPL'], [0x4000, 'NT'], [0x8000, 'bit15'],
  [0x10000, 'RF'], [0x20000, 'VM'], [0x40000, 'AC'], [0x80000, 'VIF'], [0x100000, 'VIP'], [0x200000, 'ID'],
];
const FSW_NAMES: [number, string][] = [
  [0x1, 'IE'], [0x2, 'DE'], [0x4, 'ZE'], [0x8, 'OE'], [0x10, 'UE'], [0x20, 'PE'], [0x40, 'SF'], [0x80, 'ES'],
  [0x100, 'C0'], [0x200, 'C1'], [0x400, 'C2'], [0x3800, 'TOP'], [0x4000, 'C3'], [0x8000, 'B'],
];
const FPU_CW = 0, FPU_SW = 4, FPU_TW = 8, FPU_ST = 28;

const hex = (v: number, digits = 8): string => '0x' + (v >>> 0).toString(16).padStart(digits, '0');
const bytesHex = (b: ArrayLike<number>): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
const bitNames = (bits: number, names: [number, string][]): string =>
  names.filter(([m]) => bits & m).map(([, n]) => n).join(' ') || hex(bits);

function fill(area: Uint8Array, runs: readonly Run[]): Uint8Array {
  area.fill(0);
  for (const r of runs) area.set(r.bytes, r.offset);
  return area;
}

function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

/**
 * An 80-bit value as an integer that counts representable values, so the
 * distance between two finite values of one sign is their distance in ulps.
 */
function extOrdinal(b: Uint8Array, at: number): { finite: boolean; key: bigint } {
  let mant = 0n;
  for (let i = 7; i >= 0; i--) mant = (mant << 8n) | BigInt(b[at + i]);
  const se = u16(b, at + 8);
  const exp = se & 0x7fff;
  const mag = exp === 0 ? mant : (BigInt(exp - 1) << 63n) + mant;
  return { finite: exp !== 0x7fff, key: se & 0x8000 ? -mag : mag };
}

/** Differences of the FNSAVE images in what the case defines, as message lines. */
function fpuDiffs(exp: Uint8Array, act: Uint8Array, fswMask: number, ulps: number): string[] {
  const out: string[] = [];
  const cw = [u16(exp, FPU_CW), u16(act, FPU_CW)];
  if (cw[0] !== cw[1]) out.push(`FCW: expected ${hex(cw[0], 4)}, got ${hex(cw[1], 4)}`);
  const sw = [u16(exp, FPU_SW), u16(act, FPU_SW)];
  const swDiff = (sw[0] ^ sw[1]) & fswMask;
  if (swDiff) out.push(`FSW: expected ${hex(sw[0], 4)}, got ${hex(sw[1], 4)} (differs in ${bitNames(swDiff, FSW_NAMES)}; compared ${hex(fswMask, 4)})`);
  const tw = [u16(exp, FPU_TW), u16(act, FPU_TW)];
  if (tw[0] !== tw[1]) out.push(`FTW: expected ${hex(tw[0], 4)}, got ${hex(tw[1], 4)}`);
  const top = (sw[0] >> 11) & 7;
  for (let i = 0; i < 8; i++) {
    if (((tw[0] >> (2 * ((top + i) & 7))) & 3) === 3) continue; // empty: contents not architectural
    const at = FPU_ST + 10 * i;
    const e = exp.subarray(at, at + 10);
    const a = act.subarray(at, at + 10);
    if (e.every((x, k) => x === a[k])) continue;
    if (ulps) {
      const oe = extOrdinal(exp, at);
      const oa = extOrdinal(act, at);
      const d = oe.key > oa.key ? oe.key - oa.key : oa.key - oe.key;
      if (oe.finite && oa.finite && d <= BigInt(ulps)) continue;
    }
    const show = (v: Uint8Array): string => `${hex(u16(v, 8), 4)}:${bytesHex(Array.from(v.subarray(0, 8)).reverse()).replace(/ /g, '')}`;
    out.push(`ST(${i}): expected ${show(e)}, got ${show(a)}${ulps ? ` (tolerance ${ulps} ulps)` : ''}`);
  }
  return out;
}

/** Differing byte ranges of an area, as message lines. */
function areaDiffs(name: string, base: number, exp: Uint8Array, act: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < AREA_SIZE && out.length < 4; i++) {
    if (exp[i] === act[i]) continue;
    let j = i;
    while (j < AREA_SIZE && j - i < 16 && exp[j] !== act[j]) j++;
    out.push(`${name} ${hex(base + i)}: expected ${bytesHex(exp.subarray(i, j))}, got ${bytesHex(act.subarray(i, j))}`);
    i = j - 1;
  }
  return out;
}

function caseReport(index: number, c: FixtureCase, problems: string[]): string {
  const regsIn = c.regs.map((v, i) => `${REG_NAMES[i]}=${hex(v)}`).join(' ');
  const lines = [
    `#${index} ${c.asm}   [${bytesHex(c.code)}]`,
    `    in: ${regsIn} EFLAGS=${hex(c.eflags)}${c.fpu ? ` FCW=${hex(u16(c.fpu, FPU_CW), 4)} FSW=${hex(u16(c.fpu, FPU_SW), 4)} FTW=${hex(u16(c.fpu, FPU_TW), 4)}` : ''}`,
  ];
  const area = (name: string, base: number, runs: readonly Run[]): void => {
    for (const r of runs) lines.push(`    in: ${name} ${hex(base + r.offset)}: ${bytesHex(r.bytes.subarray(0, 24))}${r.bytes.length > 24 ? ' …' : ''}`);
  };
  area('data', DATA_BASE, c.data);
  area('stack', STACK_TOP - AREA_SIZE, c.stack);
  for (const p of problems) lines.push(`    ${p}`);
  return lines.join('\n');
}

interface Scratch {
  data: Uint8Array;
  stack: Uint8Array;
  expData: Uint8Array;
  expStack: Uint8Array;
}

/** Everything that differs between the expectation and the emulator's result. */
function compare(c: FixtureCase, r: FlatResult, ulps: number, s: Scratch): string[] {
  const e = c.expect;
  const out: string[] = [];
  if (e.exception !== r.exception) {
    out.push(`exception: expected ${e.exception ?? 'none'}, got ${r.exception ?? 'none'}`);
  }
  if (CODE_BASE + e.eip !== r.eip >>> 0) out.push(`EIP: expected ${hex(CODE_BASE + e.eip)}, got ${hex(r.eip)}`);
  for (let i = 0; i < 8; i++) {
    const m = e.regMask[i];
    if (((e.regs[i] ^ r.regs[i]) & m) !== 0) {
      out.push(`${REG_NAMES[i]}: expected ${hex(e.regs[i])}, got ${hex(r.regs[i])}${m >>> 0 !== 0xffffffff ? ` (compared ${hex(m)})` : ''}`);
    }
  }
  const fd = (e.eflags ^ r.eflags) & e.eflagsMask;
  if (fd) out.push(`EFLAGS: expected ${hex(e.eflags)}, got ${hex(r.eflags)} (differs in ${bitNames(fd, FLAG_NAMES)}; compared ${hex(e.eflagsMask)})`);
  // Expected areas: the input with the recorded changes on top
  fill(s.expData, c.data);
  for (const run of e.data) s.expData.set(run.bytes, run.offset);
  fill(s.expStack, c.stack);
  for (const run of e.stack) s.expStack.set(run.bytes, run.offset);
  out.push(...areaDiffs('data', DATA_BASE, s.expData, r.data));
  out.push(...areaDiffs('stack', STACK_TOP - AREA_SIZE, s.expStack, r.stack));
  if (c.fpu && e.fpu) out.push(...fpuDiffs(e.fpu, r.fpu, e.fswMask, ulps));
  return out;
}

/** The mnemonics of a case's instructions (prefixes skipped), to see which instructions fail. */
function mnemonics(asm: string): string[] {
  return asm.split('; ').map((i) => {
    const words = i.split(' ');
    while (words.length > 1 && /^(lock|rep|repe|repne|es|ss|ds)$/.test(words[0])) words.shift();
    return words[0];
  });
}

/** "fnstsw 2400/2450, fprem 30/500": failing cases per mnemonic, out of the cases that have it. */
function tally(all: Map<string, number>, failing: Map<string, number>): string {
  return [...failing.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 16)
    .map(([m, n]) => `${m} ${n}/${all.get(m) ?? 0}`)
    .join(', ');
}

function count(map: Map<string, number>, keys: Iterable<string>): void {
  for (const k of new Set(keys)) map.set(k, (map.get(k) ?? 0) + 1);
}

function loadGroup(name: string): ReturnType<typeof decodeFixture> {
  const file = new URL(`${name}.bin.gz`, FIXTURES);
  return decodeFixture(gunzipSync(readFileSync(file)));
}

const only = process.env.X86_DIFF_GROUPS?.split(',').map((g) => g.trim()).filter(Boolean);

for (const group of GROUPS) {
  if (only && !only.includes(group)) continue;
  test(`x86 differential: ${group}`, (t) => {
    const fixture = loadGroup(group);
    assert.equal(fixture.group, group);
    const machine = new FlatMachine();
    const s: Scratch = {
      data: new Uint8Array(AREA_SIZE),
      stack: new Uint8Array(AREA_SIZE),
      expData: new Uint8Array(AREA_SIZE),
      expStack: new Uint8Array(AREA_SIZE),
    };
    const reports: string[] = [];
    const seen = new Map<string, number>();
    const failing = new Map<string, number>();
    let failed = 0;
    const t0 = Date.now();
    fixture.cases.forEach((c, index) => {
      let problems: string[];
      try {
        const r = machine.run({
          code: c.code,
          regs: c.regs,
          eflags: c.eflags,
          data: fill(s.data, c.data),
          stack: fill(s.stack, c.stack),
          fpu: c.fpu,
        });
        if (r.fpu.length !== FPU_IMAGE_SIZE) throw new Error(`FPU image of ${r.fpu.length} bytes`);
        problems = compare(c, r, fixture.ulps, s);
      } catch (err) {
        problems = [`emulator threw: ${err instanceof Error ? err.message : String(err)}`];
      }
      const names = mnemonics(c.asm);
      count(seen, names);
      if (problems.length === 0) return;
      failed++;
      count(failing, names);
      if (reports.length < REPORTED) reports.push(caseReport(index, c, problems));
    });
    const n = fixture.cases.length;
    t.diagnostic(`${group}: ${n} cases, ${n - failed} passed, ${failed} failed (${Date.now() - t0} ms)`);
    if (failed) {
      t.diagnostic(`${group}: failing cases by instruction: ${tally(seen, failing)}`);
      assert.fail(
        `${group}: ${failed} of ${n} cases differ from the real CPU (by instruction: ${tally(seen, failing)}); ` +
          `the first ${reports.length}:\n${reports.join('\n')}`,
      );
    }
  });
}
