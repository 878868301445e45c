/**
 * CPU benchmark: runs guests/bin/bench.bin's compute phase (integer work,
 * branches, calls, division) and memory phase (strided read-modify-write and
 * pointer chasing over 768 KiB) on the CPU, checks each phase's checksum
 * against the host's model of the same computation, and prints guest
 * instructions per second. The last line is JSON for tools:
 * {"mips", "compute_mips", "memory_mips", "instructions", "seconds"}.
 *
 * Each phase is one continuous run of a single machine, as a guest runs: the
 * first iterations warm up the decoded-block cache, the block compiler and
 * V8; the guest then writes a checkpoint to port 0x80, and the host times the
 * instructions between that checkpoint and the one at the end of the phase.
 *
 * Usage: npm run bench:cpu [-- seconds-per-phase]   (default 2)
 */
import { Exit } from '../src/x86/cpu.js';
import { runFlatBinary } from '../src/boot/flat.js';
import { guestImage } from '../src/boot/guests.js';
import { expectedLine } from './reference.js';

type Phase = 'compute' | 'memory';
/** The bench guest's EBX: which phase to run; and its checkpoint codes around the timed part. */
const PHASE_BITS: Record<Phase, number> = { compute: 1, memory: 2 };
const CHECKPOINTS: Record<Phase, [number, number]> = { compute: [0x11, 0x12], memory: [0x21, 0x22] };
const WARMUP_SECONDS = 1.5;

const image = guestImage('bench');
const secondsPerPhase = Number(process.argv[2] ?? 2);

interface Timed {
  /** Instructions and seconds between the two checkpoints (the warmed-up part). */
  instructions: number;
  seconds: number;
  /** The whole run, warm-up included. */
  totalSeconds: number;
  output: string;
}

/** Run `warmup + measured` iterations of a phase in one machine, timing the measured ones. */
function runPhase(phase: Phase, warmup: number, measured: number): Timed {
  const [startCode, endCode] = CHECKPOINTS[phase];
  let t0 = 0, i0 = 0, t1 = 0, i1 = 0;
  const total = warmup + measured;
  const r = runFlatBinary(image, {
    memoryMiB: 16, eax: total, ebx: PHASE_BITS[phase], ecx: warmup,
    onCheckpoint: (code, icount) => {
      if (code === startCode) [t0, i0] = [performance.now(), icount];
      if (code === endCode) [t1, i1] = [performance.now(), icount];
    },
  });
  const got = r.output.trim(), want = expectedLine(phase, total);
  if (r.exit !== Exit.Stop || r.status !== 0 || got !== want || t1 === 0) {
    const how = r.fault ? `vector ${r.fault.vector} at eip 0x${r.fault.eip.toString(16)}` : `exit ${r.exit}, status ${r.status}`;
    throw new Error(`bench guest, ${phase} x${total}: printed ${JSON.stringify(got)}, expected ${JSON.stringify(want)} (${how})`);
  }
  return { instructions: i1 - i0, seconds: (t1 - t0) / 1000, totalSeconds: r.seconds, output: got };
}

const mips = (instructions: number, seconds: number) => instructions / seconds / 1e6;
const round1 = (x: number) => Math.round(x * 10) / 10;

/** Iterations of a phase that take about `seconds`, from a short calibration run. */
function calibrate(phase: Phase): (seconds: number) => number {
  const probe = runPhase(phase, 2, 4);
  const perIteration = probe.seconds / 4;
  return (seconds) => Math.max(2, Math.round(seconds / perIteration));
}

console.log(`typevisor CPU benchmark: guests/bin/bench.bin, ${secondsPerPhase} s timed per phase after ${WARMUP_SECONDS} s of warm-up in the same run`);
let instructions = 0, seconds = 0;
const phaseMips: Record<Phase, number> = { compute: 0, memory: 0 };
for (const phase of ['compute', 'memory'] as const) {
  const iterationsFor = calibrate(phase);
  const warmup = iterationsFor(WARMUP_SECONDS), measured = iterationsFor(secondsPerPhase);
  const r = runPhase(phase, warmup, measured);
  phaseMips[phase] = mips(r.instructions, r.seconds);
  instructions += r.instructions;
  seconds += r.seconds;
  console.log(`${phase.padEnd(8)} ${measured} iterations after ${warmup} of warm-up: ${r.instructions} instructions in ${r.seconds.toFixed(2)} s: ` +
    `${phaseMips[phase].toFixed(1)} MIPS (whole run ${r.totalSeconds.toFixed(2)} s; checksum ok: ${r.output})`);
}
console.log(`overall  ${instructions} instructions in ${seconds.toFixed(2)} s: ${mips(instructions, seconds).toFixed(1)} MIPS`);
console.log(JSON.stringify({
  mips: round1(mips(instructions, seconds)),
  compute_mips: round1(phaseMips.compute),
  memory_mips: round1(phaseMips.memory),
  instructions,
  seconds: Math.round(seconds * 1000) / 1000,
}));
