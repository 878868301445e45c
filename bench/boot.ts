/**
 * Boot benchmark: Debian's 686-pae kernel with a busybox initramfs, in
 * typevisor and in QEMU (`qemu-system-i386 -accel tcg`) on the same machine
 * in the same run. Both get the same kernel, initramfs, 128 MiB and
 * `console=ttyS0`; the init script prints "init started" and powers off.
 * Prints the wall time of each to "init started" and to power-off, the
 * ratio, and a last line of JSON:
 * {"typevisor_s", "typevisor_init_s", "qemu_s", "qemu_init_s", "ratio", "rounds", "ratios"}.
 *
 * One boot of each says little: typevisor's boot time varies by tens of
 * percent from run to run (the machine's speed drifts within minutes, and
 * so does when V8 gets to optimize the compiled blocks). The benchmark runs
 * `--rounds` rounds (3 by default), each a typevisor boot followed at once
 * by a QEMU boot, prints every round, and reports the medians: of each
 * time, and of the rounds' ratios (each measured on the machine as it was
 * during that round).
 *
 * Usage: npm run bench:boot                 (needs qemu-system-x86: apt-get install qemu-system-x86)
 *        npm run bench:boot -- --rounds 5
 *        npm run bench:boot -- --no-qemu    (typevisor only)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureImages } from '../src/toolstack/images.js';
import { InitramfsBuilder } from '../src/toolstack/initramfs.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const INIT = '#!/bin/sh\necho "init started"\npoweroff -f\n';
const MEMORY_MIB = '128';
const CMDLINE = 'console=ttyS0';

interface Timing {
  initS: number;
  totalS: number;
  poweredOff: boolean;
}

/** Runs a VM process, timing from spawn to "init started" and to exit. */
function timeBoot(command: string, args: string[], poweredOff: (out: string, code: number | null) => boolean): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let initS = NaN, out = '';
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (Number.isNaN(initS) && out.includes('init started')) initS = (performance.now() - t0) / 1000;
    });
    child.stderr.on('data', () => {});
    child.on('error', reject);
    child.on('close', (code) => resolve({ initS, totalS: (performance.now() - t0) / 1000, poweredOff: poweredOff(out, code) }));
  });
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const v = Number(process.argv[at + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} wants a positive integer, not ${process.argv[at + 1] ?? 'nothing'}`);
  return v;
}

async function main(): Promise<void> {
  const noQemu = process.argv.includes('--no-qemu');
  const rounds = option('--rounds', 3);
  const manifest = await ensureImages({ only: ['kernel', 'busybox'] });
  const kernel = manifest.kernel!.files.vmlinuz;
  const busybox = readFileSync(manifest.busybox!.files.busybox);
  const work = mkdtempSync(path.join(tmpdir(), 'typevisor-bench-'));
  const initrd = path.join(work, 'initrd.gz');
  writeFileSync(initrd, new InitramfsBuilder().skeleton().busybox(busybox).init(INIT).build());
  const tvs: Timing[] = [], qemus: Timing[] = [], ratios: number[] = [];
  try {
    console.log(`kernel ${manifest.kernel!.release}, ${MEMORY_MIB} MiB, append "${CMDLINE}", ${rounds} round(s)`);
    for (let r = 1; r <= rounds; r++) {
      const tv = await timeBoot(process.execPath, [CLI, 'run', '--kernel', kernel, '--initrd', initrd, '--append', CMDLINE, '--memory', MEMORY_MIB],
        (out, code) => code === 0 && out.includes('reboot: Power down'));
      if (!tv.poweredOff) throw new Error('typevisor: the guest did not power off cleanly');
      tvs.push(tv);
      console.log(`round ${r}: typevisor: init started after ${tv.initS.toFixed(1)} s, powered off after ${tv.totalS.toFixed(1)} s`);
      if (noQemu) continue;
      const qemu = await timeBoot('qemu-system-i386', ['-accel', 'tcg', '-m', MEMORY_MIB, '-nographic', '-no-reboot', '-display', 'none',
        '-monitor', 'none', '-serial', 'stdio', '-kernel', kernel, '-initrd', initrd, '-append', CMDLINE],
      (out) => out.includes('reboot: Power down')).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') throw new Error('qemu-system-i386 is not installed (Debian: apt-get install qemu-system-x86), or run with --no-qemu');
        throw e;
      });
      if (!qemu.poweredOff) throw new Error('qemu: the guest did not power off');
      qemus.push(qemu);
      ratios.push(tv.totalS / qemu.totalS);
      console.log(`round ${r}: qemu (tcg): init started after ${qemu.initS.toFixed(1)} s, powered off after ${qemu.totalS.toFixed(1)} s; ratio ${ratios[r - 1].toFixed(2)}`);
    }
    const tvS = round1(median(tvs.map((t) => t.totalS))), tvInitS = round1(median(tvs.map((t) => t.initS)));
    const result: Record<string, number | number[]> = { typevisor_s: tvS, typevisor_init_s: tvInitS };
    console.log(`typevisor (median of ${rounds}): init started after ${tvInitS} s, powered off after ${tvS} s`);
    if (!noQemu) {
      const qemuS = round1(median(qemus.map((t) => t.totalS))), qemuInitS = round1(median(qemus.map((t) => t.initS)));
      const ratio = round2(median(ratios));
      Object.assign(result, { qemu_s: qemuS, qemu_init_s: qemuInitS, ratio, rounds, ratios: ratios.map(round2) });
      console.log(`qemu (tcg) (median of ${rounds}): init started after ${qemuInitS} s, powered off after ${qemuS} s`);
      console.log(`ratio typevisor/qemu to power-off (median of the rounds): ${ratio}`);
    } else {
      result.rounds = rounds;
    }
    console.log(JSON.stringify(result));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

// A bad option or a missing QEMU is a message, not a stack trace.
await main().catch((e: Error) => {
  console.error(`bench:boot: ${e.message}`);
  process.exitCode = 1;
});
