/**
 * Installs the Debian packages typevisor's tools use and that npm cannot
 * provide: apt (to fetch guest images) and qemu-system-x86 (the yardstick of
 * `npm run bench:boot`). Runs apt-get only for what is missing, as root or
 * through sudo; on a machine without apt-get it says so and carries on, since
 * the built-in guest needs nothing from Debian.
 */
import { spawnSync } from 'node:child_process';

const PACKAGES: { pkg: string; command: string }[] = [
  { pkg: 'qemu-system-x86', command: 'qemu-system-i386' },
];

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function main(): number {
  const missing = PACKAGES.filter((p) => !have(p.command)).map((p) => p.pkg);
  if (missing.length === 0) return 0;
  if (!have('apt-get')) {
    console.log(`setup: apt-get is not available; not installing ${missing.join(', ')} (only bench:boot needs it)`);
    return 0;
  }
  const root = process.getuid?.() === 0;
  const prefix = root ? [] : have('sudo') ? ['sudo', '-n'] : null;
  if (!prefix) {
    console.log(`setup: not root and no sudo; install ${missing.join(', ')} with apt-get yourself for bench:boot`);
    return 0;
  }
  console.log(`setup: apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]) => spawnSync(prefix[0] ?? args[0], prefix.length ? [...prefix.slice(1), ...args] : args.slice(1), { stdio: 'inherit', env });
  let r = run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing]);
  if (r.status !== 0) {
    // Stale package lists are the usual cause on a fresh machine.
    run(['apt-get', 'update', '-q']);
    r = run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing]);
  }
  if (r.status !== 0) console.log(`setup: apt-get could not install ${missing.join(', ')}; bench:boot will say so`);
  return 0;
}

process.exitCode = main();
