/**
 * The project's own tiny kernel (guests/tiny), booted through `typevisor run`
 * as a bzImage: the boot protocol, COM1, the CMOS clock, PIC and PIT
 * interrupts with HLT, honest TSC, ACPI power-off, and the fates of a guest
 * that triple-faults or runs garbage. Needs no download.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PcMachine } from '../../src/hvm/machine.js';
import { bootLinux } from '../../src/boot/linux.js';
import { guestImage } from '../../src/boot/guests.js';
import { CLI, runCli } from './run-helpers.js';

const TINY = fileURLToPath(new URL('../../../guests/bin/tiny.bzImage', import.meta.url));

test('tiny boots, takes timer interrupts, reads the clock and powers off through ACPI: exit 0', async () => {
  const before = Date.now();
  const r = await runCli(['--kernel', TINY, '--append', 'console=ttyS0 tiny=hello', '--memory', '32'], { timeoutMs: 60_000 });
  const after = Date.now();
  assert.equal(r.code, 0, `exit code; stderr: ${r.stderr}`);
  assert.match(r.stdout, /^tiny: hello from the tiny kernel\r$/m);
  assert.match(r.stdout, /^cmdline: console=ttyS0 tiny=hello\r$/m);
  // 32 MiB, less the first MiB and the EBDA: 30 whole MiB usable above 1 MiB plus 639 KiB below.
  assert.match(r.stdout, /^e820: \d+ entries, 31 MiB usable\r$/m);
  const rtc = /^rtc: (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC\r$/m.exec(r.stdout);
  assert.ok(rtc, r.stdout);
  const rtcMs = Date.UTC(+rtc[1], +rtc[2] - 1, +rtc[3], +rtc[4], +rtc[5], +rtc[6]);
  assert.ok(rtcMs >= before - 2000 && rtcMs <= after + 1000, `RTC ${new Date(rtcMs).toISOString()} is host time`);
  assert.match(r.stdout, /^timer: 20 ticks of the PIT at 100 Hz, taken in HLT\r$/m);
  // The TSC runs at 1000 MHz of the same clock the RTC keeps.
  const tsc = /^tsc: (\d+) MHz against the RTC\r$/m.exec(r.stdout);
  assert.ok(tsc, r.stdout);
  assert.ok(Math.abs(+tsc[1] - 1000) <= 10, `TSC ${tsc[1]} MHz measured against the RTC`);
  assert.match(r.stdout, /^acpi: PM1a_CNT 0x[0-9a-f]{8}, S5 type \d+; powering off\r$/m);
  assert.doesNotMatch(r.stdout, /still running after power-off/);
});

test('a guest that triple-faults ends as a crashed domain: exit 1 with a message', async () => {
  const r = await runCli(['--kernel', TINY, '--append', 'tiny=triple', '--memory', '16'], { timeoutMs: 30_000 });
  assert.match(r.stdout, /triple fault coming/);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /domain crashed: .*triple fault/);
});

test('a guest that jumps into garbage ends as a crashed domain, and the host process is fine', async () => {
  const r = await runCli(['--kernel', TINY, '--append', 'tiny=garbage', '--memory', '16'], { timeoutMs: 30_000 });
  assert.match(r.stdout, /jumping to garbage/);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /domain crashed: /);
  assert.doesNotMatch(r.stderr, /emulator fault|TypeError|RangeError/);
});

test('COM1 input reaches the guest when stdin is not a terminal', async () => {
  const r = await runCli(['--kernel', TINY, '--append', 'tiny=echo', '--memory', '16'], { input: 'typed on the console\nq', timeoutMs: 30_000 });
  assert.match(r.stdout, /typed on the console/);
  assert.match(r.stdout, /echo: done/);
  assert.equal(r.code, 0, r.stderr);
});

test('a reset through the i8042 ends the run with the reboot fate', async () => {
  const m = new PcMachine({ memoryMiB: 16 });
  bootLinux(m, guestImage('tiny'), { cmdline: 'tiny=reboot' });
  const fate = await m.run();
  assert.equal(fate.kind, 'reboot');
});

test('a vCPU halted in HLT costs no host CPU: it sleeps until its next timer', async () => {
  let out = '';
  const m2 = new PcMachine({ memoryMiB: 16, onConsole: (b) => (out += String.fromCharCode(b)) });
  bootLinux(m2, guestImage('tiny'), { cmdline: 'tiny=idle' });
  const wall0 = performance.now(), cpu0 = process.cpuUsage();
  const fate = await m2.run();
  const wallMs = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  assert.equal(fate.kind, 'poweroff');
  assert.match(out, /idle: 200 ticks in HLT/);
  assert.ok(wallMs >= 1900, `two seconds of guest time took ${wallMs.toFixed(0)} ms`);
  assert.ok(cpuMs < wallMs * 0.25, `host CPU ${cpuMs.toFixed(0)} ms over ${wallMs.toFixed(0)} ms of idle guest`);
});

test('bad arguments get a clear error and exit code 2', async () => {
  const none = await runCli([], { timeoutMs: 10_000 });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give --kernel/);
  const missing = await runCli(['--kernel', '/nonexistent/vmlinuz'], { timeoutMs: 10_000 });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the kernel \/nonexistent\/vmlinuz/);
  const notKernel = await runCli(['--kernel', fileURLToPath(import.meta.url)], { timeoutMs: 10_000 });
  assert.equal(notKernel.code, 2);
  assert.match(notKernel.stderr, /bzImage/);
});

test('a reader that closes the console output (typevisor run | head) stops the domain: exit 0 with a message', async () => {
  const child = spawn(process.execPath, [CLI, 'run', '--kernel', TINY, '--append', 'console=ttyS0', '--memory', '32'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  // The first line arrives, then the reader goes away while the guest still has lines to print.
  child.stdout.once('data', () => child.stdout.destroy());
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, `exit code; stderr: ${stderr}`);
  assert.match(stderr, /domain stopped: the console output was closed/);
  assert.doesNotMatch(stderr, /Unhandled|EPIPE/);
});
