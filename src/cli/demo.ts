/**
 * `typevisor demo` (what `npm start` runs): boots the built-in tiny kernel,
 * which needs no download, and then Debian's stock 686-pae kernel with a
 * busybox initramfs built on the spot. With a terminal, the Debian guest
 * gives a shell on COM1 (power off with `poweroff -f`, or Ctrl-]); without
 * one it shows what it runs on and powers off.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { guestImagePath } from '../boot/guests.js';
import { ensureImages } from '../toolstack/images.js';
import { InitramfsBuilder } from '../toolstack/initramfs.js';
import { run } from './run.js';

export function demoInit(interactive: boolean): string {
  return `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo
echo "Debian's own i386 kernel is running on typevisor:"
uname -a
grep -m1 "model name" /proc/cpuinfo
grep MemTotal /proc/meminfo
${interactive ? 'echo "A shell on COM1; poweroff -f ends the VM, Ctrl-] stops it."\nsetsid cttyhack sh\n' : ''}poweroff -f
`;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description("boot the built-in tiny kernel, then Debian's 686-pae kernel with a busybox shell (downloads the images once)")
    .option('--no-debian', 'only the built-in kernel')
    .action(async (opts: { debian: boolean }) => {
      process.exitCode = await demo(opts.debian);
    });
}

async function demo(debian: boolean): Promise<number> {
  console.log('== the built-in tiny kernel (guests/tiny) ==');
  const tiny = await run({ kernel: guestImagePath('tiny'), append: 'console=ttyS0', memory: 32 });
  if (tiny !== 0 || !debian) return tiny;

  console.log("\n== Debian's 686-pae kernel with a busybox initramfs ==");
  let manifest;
  try {
    manifest = await ensureImages({ only: ['kernel', 'busybox'], log: (l) => console.log(l) });
  } catch (e) {
    console.log(`demo: the Debian images are not available (${(e as Error).message}); the tiny kernel ran above.`);
    return 0;
  }
  const busybox = readFileSync(manifest.busybox!.files.busybox);
  const work = mkdtempSync(path.join(tmpdir(), 'typevisor-demo-'));
  try {
    const initrd = path.join(work, 'initrd.gz');
    writeFileSync(initrd, new InitramfsBuilder().skeleton().busybox(busybox).init(demoInit(process.stdin.isTTY === true)).build());
    console.log('(the kernel decompresses and boots on the emulated CPU: a few minutes at today\'s speed)');
    return await run({ kernel: manifest.kernel!.files.vmlinuz, initrd, append: 'console=ttyS0', memory: 128 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
