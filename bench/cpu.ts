/**
 * CPU benchmark: runs guests/bin/bench.bin's compute phase (integer work,
 * branches, calls) and memory phase (strided walks, pointer chasing) on the
 * interpreter, checks each phase's checksum against the host's model, and
 * prints guest instructions per second. The last line is JSON for tools:
 * {"mips", "compute_mips", "memory_mips", "instructions", "seconds"}.
 *
 * Usage: npm run bench:cpu [-- seconds-per-phase]   (default 1.5)
 */
import { Exit } from '../src/x86/cpu.js';
import { runFlatBinary, FlatResult } from '../src/boot/flat.js';
import { guestImage } from '../src/boot/guests.js';
import { expectedLine } from './reference.js';

type Phase = 'compute' | 'memory';
/** The bench guest's EBX: which phase to run. */
const PHASE_BITS: Record<Phase, number> = { compute: 1, memory: 2 };
const WARMUP_SECONDS = 2;

const image = guestImage('bench');
const secondsPerPhase = Number(process.argv[2] ?? 1.5);

function runPhase(phase: Phase, iterations: number): FlatResult {
  const r = runFlatBinary(image, { memoryMiB: 16, eax: iterations, ebx: PHASE_BITS[phase] });
  const got = r.output.trim(), want = expectedLine(phase, iterations);
  if (r.exit !== Exit.Stop || r.status !== 0 || got !== want) {
    const how = r.fault ? `vector ${r.fault.vector} at eip 0x${r.fault.eip.toString(16)}` : `exit ${r.exit}, status ${r.status}`;
    throw new Error(`bench guest, ${phase} x${iterations}: printed ${JSON.stringify(got)}, expected ${JSON.stringify(want)} (${how})`);
  }
  return r;
}

const mips = (instructions: number, seconds: number) => instructions / seconds / 1e6;
const round1 = (x: number) => Math.round(x * 10) / 10;

interface PhaseCost {
  /** A run takes about fixedSeconds + secondsPerIteration * iterations (setup is not like the loop). */
  fixedSeconds: number;
  secondsPerIteration: number;
}

/** Iterations of a phase that take about `seconds`. */
function iterationsFor(c: PhaseCost, seconds: number): number {
  return Math.max(2, Math.round((seconds - c.fixedSeconds) / c.secondsPerIteration));
}

/** Warm the JIT on both phases with runs of growing length, learning each phase's cost. */
function warmUp(): Record<Phase, PhaseCost> {
  const start = performance.now();
  const cost: Record<Phase, PhaseCost> = {
    compute: { fixedSeconds: 0, secondsPerIteration: 1 },
    memory: { fixedSeconds: 0, secondsPerIteration: 1 },
  };
  const longRun: Record<Phase, number> = { compute: 3, memory: 3 };
  do {
    for (const phase of ['compute', 'memory'] as const) {
      const one = runPhase(phase, 1), many = runPhase(phase, longRun[phase]);
      // The difference of two noisy times: never let it claim the loop is much faster than the run as a whole.
      const perIteration = Math.max((many.seconds - one.seconds) / (longRun[phase] - 1), many.seconds / longRun[phase] / 4);
      cost[phase] = { fixedSeconds: Math.max(0, one.seconds - perIteration), secondsPerIteration: perIteration };
      longRun[phase] = iterationsFor(cost[phase], 0.5);
    }
  } while (performance.now() - start < WARMUP_SECONDS * 1000);
  return cost;
}

const cost = warmUp();
console.log(`typevisor CPU benchmark: guests/bin/bench.bin, ~${secondsPerPhase} s per phase after ${WARMUP_SECONDS} s of warm-up`);
let instructions = 0, seconds = 0;
const phaseMips: Record<Phase, number> = { compute: 0, memory: 0 };
for (const phase of ['compute', 'memory'] as const) {
  const iterations = iterationsFor(cost[phase], secondsPerPhase);
  const r = runPhase(phase, iterations);
  phaseMips[phase] = mips(r.icount, r.seconds);
  instructions += r.icount;
  seconds += r.seconds;
  console.log(`${phase.padEnd(8)} ${iterations} iterations, ${r.icount} instructions in ${r.seconds.toFixed(2)} s: ` +
    `${phaseMips[phase].toFixed(1)} MIPS (checksum ok: ${r.output.trim()})`);
}
console.log(`overall  ${instructions} instructions in ${seconds.toFixed(2)} s: ${mips(instructions, seconds).toFixed(1)} MIPS`);
console.log(JSON.stringify({
  mips: round1(mips(instructions, seconds)),
  compute_mips: round1(phaseMips.compute),
  memory_mips: round1(phaseMips.memory),
  instructions,
  seconds: Math.round(seconds * 1000) / 1000,
}));
