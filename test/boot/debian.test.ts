/**
 * Debian's own i386 kernels, unmodified, booted with `typevisor run` and no
 * kernel parameters beyond console=ttyS0: the 686 kernel (from the
 * installer package) and the 686-pae kernel each run a busybox initramfs to
 * user space and power off through ACPI. (The installer's own initrd, 8 to 12
 * minutes, is in test-slow/: `npm run test:installer`.) The images come from Debian's archive through the image
 * cache (downloaded on first use).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureImages, type ImageManifest } from '../../src/toolstack/images.js';
import { InitramfsBuilder } from '../../src/toolstack/initramfs.js';
import { runCli } from './run-helpers.js';

/** A shell computation the guest runs and the host checks. */
const COMPUTE_N = 3000;
function computeExpected(): number {
  let s = 0;
  for (let i = 0; i < COMPUTE_N; i++) s = (s * 31 + ((i * i) % 1009)) % 1000003;
  return s;
}

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "init started"
echo "uname: $(uname -a)"
echo "cpuinfo-begin"
cat /proc/cpuinfo
echo "cpuinfo-end"
echo "interrupts-begin"
cat /proc/interrupts
echo "interrupts-end"
echo "date: $(date +%s)"
i=0; s=0
while [ $i -lt ${COMPUTE_N} ]; do s=$(( (s * 31 + (i * i) % 1009) % 1000003 )); i=$((i + 1)); done
echo "compute: $s"
poweroff -f
`;

let manifest: ImageManifest;
let work: string;
let initrdPath: string;

test.before(async () => {
  manifest = await ensureImages({ only: ['kernel', 'installer', 'busybox'] });
  work = mkdtempSync(path.join(tmpdir(), 'typevisor-boot-'));
  const busybox = readFileSync(manifest.busybox!.files.busybox);
  initrdPath = path.join(work, 'initrd.gz');
  writeFileSync(initrdPath, new InitramfsBuilder().skeleton().busybox(busybox).init(INIT).build());
});

test.after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function section(out: string, name: string): string {
  const m = new RegExp(`^${name}-begin\\r?\\n([\\s\\S]*?)^${name}-end`, 'm').exec(out);
  assert.ok(m, `the ${name} section was printed`);
  return m[1];
}

async function bootToPowerOff(kernel: string, release: RegExp, pae: boolean) {
  const r = await runCli(['--kernel', kernel, '--initrd', initrdPath, '--append', 'console=ttyS0', '--memory', '128'], { timeoutMs: 20 * 60_000 });
  const out = r.stdout;
  assert.equal(r.code, 0, `exit code (stderr: ${r.stderr}); console tail:\n${out.slice(-3000)}`);
  assert.match(out, /^init started\r?$/m);
  const uname = /^uname: (.*?)\r?$/m.exec(out);
  assert.ok(uname);
  assert.match(uname[1], release);
  assert.match(uname[1], / i686 GNU\/Linux$/);

  const cpuinfo = section(out, 'cpuinfo');
  assert.match(cpuinfo, /^vendor_id\s*: GenuineIntel\r?$/m);
  const flags = /^flags\s*: (.*?)\r?$/m.exec(cpuinfo)?.[1].split(' ') ?? [];
  for (const f of ['fpu', 'tsc', 'apic', 'cmov', 'pae', ...(pae ? ['nx'] : [])]) assert.ok(flags.includes(f), `cpuinfo flags have ${f}: ${flags.join(' ')}`);
  if (pae) assert.match(out, /NX \(Execute Disable\) protection: active/);

  // The timer is the local APIC's, device interrupts come through the IO-APIC, and ACPI's SCI is wired.
  const irqs = section(out, 'interrupts');
  assert.match(irqs, /^\s*LOC:\s+[1-9]\d*\s/m, 'local APIC timer interrupts were taken');
  assert.match(irqs, /IO-APIC\s+4-edge\s+ttyS0/);
  assert.match(irqs, /IO-APIC\s+9-fasteoi\s+acpi/);
  assert.match(out, /ACPI: PM-Timer IO Port: 0x[0-9a-f]+/);
  assert.match(out, /IOAPIC\[0\]: apic_id \d+, version \d+, address 0xfec00000, GSI 0-23/);

  // The guest's clock, set from the RTC at boot and kept by its timers, agrees with the host's.
  const date = /^date: (\d+)\r?$/m.exec(out);
  assert.ok(date);
  const lineIndex = out.slice(0, date.index).split('\n').length - 1;
  const hostSec = r.lineTimes[lineIndex] / 1000;
  assert.ok(Math.abs(+date[1] - hostSec) <= 3, `guest date ${date[1]} vs host ${hostSec.toFixed(1)}`);

  assert.match(out, new RegExp(`^compute: ${computeExpected()}\\r?$`, 'm'));
  assert.match(out, /reboot: Power down/);
}

test("Debian's 686-pae kernel boots busybox to user space and powers off through ACPI", { timeout: 25 * 60_000 }, async () => {
  await bootToPowerOff(manifest.kernel!.files.vmlinuz, /^Linux \(none\) 6\.1\.\S+-686-pae #1 SMP/, true);
});

test("Debian's 686 kernel boots busybox to user space and powers off through ACPI", { timeout: 25 * 60_000 }, async () => {
  await bootToPowerOff(manifest.installer!.files.kernel, /^Linux \(none\) 6\.1\.\S+-686 #1 SMP/, false);
});

test('--bios starts the machine at the reset vector: SeaBIOS runs, logs to the debug console and finds no disk', { timeout: 5 * 60_000 }, async () => {
  const seabios = await ensureImages({ only: ['seabios'] });
  const bios = seabios.seabios!.files.bios;
  const r = await runCli(['--bios', bios, '--debugcon', '--memory', '64', '--until', 'No bootable device'], { timeoutMs: 4 * 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /SeaBIOS \(version /);
  // It sized RAM from the CMOS, as on a machine without firmware configuration.
  assert.match(r.stdout, /0000000000100000 - 0000000004000000 = 1 RAM/);
  assert.match(r.stdout, /No bootable device/);
});
