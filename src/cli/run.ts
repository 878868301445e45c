/**
 * `typevisor run`: one HVM domain in the foreground, as QEMU's
 * `-kernel/-initrd/-append` or an `xl create -c` of a direct-boot config.
 *
 * COM1 is the terminal: guest output goes to stdout, and with stdin a
 * terminal, keys go to the guest in raw mode; Ctrl-] (the key `xl console`
 * detaches with) stops the domain. With stdin not a terminal, whatever it
 * carries is still fed to COM1. The process exits with the guest's fate:
 * 0 for power-off (and for a stop asked by the user), 1 for a crash, a triple
 * fault, or a vCPU halted for good, with a message on stderr. A reboot
 * restarts the domain with the same kernel, as Xen's default on_reboot does.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PcMachine, type Fate } from '../hvm/machine.js';
import { bootLinux } from '../boot/linux.js';

export interface RunOptions {
  kernel?: string;
  initrd?: string;
  append?: string;
  memory: number;
  bios?: string;
  debugcon?: boolean;
  until?: string;
}

/** Ctrl-]: the console escape character (GS, 0x1d). */
export const CONSOLE_ESCAPE = 0x1d;

function parseMemory(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 4 || n > 3072) throw new InvalidArgumentError('memory is a whole number of MiB from 4 to 3072');
  return n;
}

export function runCommand(): Command {
  return new Command('run')
    .description('boot one VM in the foreground with COM1 on this terminal (Ctrl-] stops it)')
    .option('--kernel <file>', 'Linux bzImage to boot directly (boot protocol 2.10+)')
    .option('--initrd <file>', 'initial ramdisk')
    .option('--append <cmdline>', 'kernel command line', '')
    .addOption(new Option('--memory <MiB>', 'guest RAM').default(128).argParser(parseMemory))
    .option('--bios <rom>', 'start from this ROM image at the reset vector instead (e.g. SeaBIOS bios.bin)')
    .option('--debugcon', 'send bytes the guest writes to port 0xE9 (and 0x402, SeaBIOS\'s log) to stdout')
    .option('--until <text>', 'stop the VM (exit 0) once the console (or debug console) has printed this text, for scripts and tests')
    .action(async (opts: RunOptions) => {
      process.exitCode = await run(opts);
    });
}

function readInput(what: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
}

/** A fate as an exit code and a message for stderr (null: nothing to say). */
export function fateExit(fate: Fate): { code: number; message: string | null } {
  switch (fate.kind) {
    case 'poweroff': return { code: 0, message: null };
    case 'stopped': return { code: 0, message: `typevisor: domain stopped: ${fate.reason}` };
    case 'reboot': return { code: 0, message: `typevisor: domain rebooted (${fate.reason})` };
    case 'halted': return { code: 1, message: `typevisor: domain halted for good: ${fate.reason}` };
    case 'crash': return { code: 1, message: `typevisor: domain crashed: ${fate.reason}` };
  }
}

/** Returns the process exit code. */
export async function run(opts: RunOptions): Promise<number> {
  if (!opts.kernel && !opts.bios) {
    process.stderr.write('typevisor run: give --kernel (direct Linux boot) or --bios (a ROM to start from)\n');
    return 2;
  }
  if (opts.kernel && opts.bios) {
    process.stderr.write('typevisor run: --kernel and --bios are alternatives; give one\n');
    return 2;
  }
  let kernel: Uint8Array | undefined, initrd: Uint8Array | undefined, bios: Uint8Array | undefined;
  try {
    if (opts.kernel) kernel = readInput('kernel', opts.kernel);
    if (opts.initrd) initrd = readInput('initrd', opts.initrd);
    if (opts.bios) bios = readInput('BIOS image', opts.bios);
  } catch (e) {
    process.stderr.write(`typevisor run: ${(e as Error).message}\n`);
    return 2;
  }

  // Console output is batched: the machine yields to the event loop every few ms.
  let pending: number[] = [];
  let outClosed = false;
  const flush = () => {
    if (pending.length === 0) return;
    if (!outClosed) process.stdout.write(Uint8Array.from(pending));
    pending = [];
  };
  const out = (b: number) => {
    if (pending.push(b) === 1) setImmediate(flush);
  };
  // --until: a sliding window over the console output, long enough for the text.
  const until = opts.until ? Buffer.from(opts.until, 'latin1') : null;
  let tail = Buffer.alloc(0);
  const consoleOut = (b: number) => {
    out(b);
    if (!until || !machine) return;
    tail = Buffer.concat([tail.subarray(Math.max(0, tail.length - until.length + 1)), Uint8Array.of(b)]);
    if (tail.includes(until)) machine.end({ kind: 'stopped', reason: `the console printed ${JSON.stringify(opts.until)}` });
  };

  // The reader went away (`typevisor run ... | head`): the domain stops, as it would on Ctrl-], rather than the
  // process dying of an unhandled error. (The listener stays: the error of the last write may come after the return.)
  const onOutputError = (e: NodeJS.ErrnoException) => {
    outClosed = true;
    pending = [];
    machine?.end({ kind: 'stopped', reason: e.code === 'EPIPE' ? 'the console output was closed' : `console output: ${e.message}` });
  };
  process.stdout.on('error', onOutputError);

  const stdin = process.stdin;
  const raw = stdin.isTTY;
  let machine: PcMachine | null = null;
  const onInput = (data: Buffer) => {
    if (!machine) return;
    if (raw && data.includes(CONSOLE_ESCAPE)) {
      machine.end({ kind: 'stopped', reason: 'Ctrl-] on the console' });
      return;
    }
    machine.consoleInput(data);
  };
  if (raw) stdin.setRawMode(true);
  stdin.on('data', onInput);
  stdin.on('error', () => {});

  try {
    for (;;) {
      machine = new PcMachine({ memoryMiB: opts.memory, onConsole: consoleOut, onDebugcon: opts.debugcon ? consoleOut : undefined });
      try {
        if (bios) machine.loadBios(bios);
        else bootLinux(machine, kernel!, { initrd, cmdline: opts.append ?? '' });
      } catch (e) {
        process.stderr.write(`typevisor run: ${(e as Error).message}\n`);
        return 2;
      }
      const fate = await machine.run();
      flush();
      const { code, message } = fateExit(fate);
      if (message) process.stderr.write(`\n${message}\n`);
      if (fate.kind !== 'reboot') return code;
    }
  } finally {
    stdin.off('data', onInput);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    // A terminal or pipe is a socket that would keep the process alive; a file is not.
    (stdin as { unref?: () => void }).unref?.();
  }
}
