/** Running `typevisor run` as a child process, as a user would, for the boot tests. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Host time (ms since the epoch) at which each stdout line arrived, by line index. */
  lineTimes: number[];
}

/**
 * Runs `typevisor run ARGS`, feeding `input` to stdin (then closing it unless
 * `keepStdinOpen`), and kills it after `timeoutMs`.
 */
export function runCli(args: string[], opts: { input?: string; timeoutMs: number; keepStdinOpen?: boolean }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const lineTimes: number[] = [];
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (d: string) => {
      const now = Date.now();
      for (const ch of d) if (ch === '\n') lineTimes.push(now);
      stdout += d;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, lineTimes });
    });
    if (opts.input !== undefined) child.stdin.write(opts.input);
    if (!opts.keepStdinOpen) child.stdin.end();
  });
}
