/**
 * The Debian installer's own initrd on Debian's 686 kernel, with only
 * console=ttyS0, reaching its first dialog on the serial console. It takes
 * 8 to 12 minutes at today's speed, so it runs with `npm run test:installer`
 * rather than in `npm test`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureImages } from '../src/toolstack/images.js';
import { runCli } from '../test/boot/run-helpers.js';

test("the Debian installer's own initrd boots on the 686 kernel and reaches its first dialog", { timeout: 40 * 60_000 }, async () => {
  const { kernel, initrd } = (await ensureImages({ only: ['installer'] })).installer!.files;
  const r = await runCli(['--kernel', kernel, '--initrd', initrd, '--append', 'console=ttyS0', '--memory', '512', '--until', '<Go Back>'],
    { timeoutMs: 35 * 60_000 });
  // The dialog is drawn with terminal escape sequences: blank them out.
  const screen = r.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), ' ');
  assert.match(screen, /Select a language/, `exit ${r.code}, stderr: ${r.stderr}\nconsole tail:\n${screen.slice(-3000)}`);
  assert.match(screen, /Choose the language to be used for the installation process/);
  assert.equal(r.code, 0, r.stderr);
});
