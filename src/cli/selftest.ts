/** `typevisor selftest`: run guests/bin/hello.bin and check its output against the host's own computation. */
import { Exit } from '../x86/cpu.js';
import { runFlatBinary } from '../boot/flat.js';
import { guestImage, helloExpectedOutput } from '../boot/guests.js';

/** Returns the process exit code: 0 if the guest powered off cleanly having printed what it should. */
export function selftest(log: (line: string) => void = console.log): number {
  const r = runFlatBinary(guestImage('hello'), { onOutput: (text) => log(`guest: ${text.replace(/\n$/, '')}`) });
  const mips = r.icount / r.seconds / 1e6;
  log(`${r.icount} instructions in ${r.seconds.toFixed(3)} s (${mips.toFixed(1)} MIPS)`);
  const problems: string[] = [];
  if (r.exit !== Exit.Stop) {
    const fault = r.fault ? `: took vector ${r.fault.vector} at eip 0x${(r.fault.eip >>> 0).toString(16)}` : '';
    problems.push(`the guest did not power off (exit ${r.exit}${fault})`);
  } else if (r.status !== 0) {
    problems.push(`the guest powered off with status ${r.status}`);
  }
  if (r.output !== helloExpectedOutput()) problems.push(`unexpected output; expected:\n${helloExpectedOutput()}`);
  for (const p of problems) log(`selftest: FAILED: ${p}`);
  if (problems.length === 0) log('selftest: ok');
  return problems.length === 0 ? 0 : 1;
}
