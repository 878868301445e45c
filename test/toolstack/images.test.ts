/**
 * The guest images cache (src/toolstack/images.ts). These tests really download from Debian's mirrors:
 * busybox-static into a temporary cache each run, and the full set (about 160 MB of .debs) into the
 * shared default cache, so a machine pays for that once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ImagesError,
  PrivateApt,
  defaultRunner,
  ensureImages,
  imageCacheDir,
  readManifest,
  resolveKernelPackage,
  type CommandRunner,
} from '../../src/toolstack/images.js';

const KERNEL_PACKAGE = /^linux-image-6\.1\.0-\d+-686-pae-unsigned$/;

/** The default runner, counting the commands it runs. */
function countingRunner(): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: (command, args, options) => {
      // Leave out the private apt setup's `-o Name=value` pairs.
      calls.push([command, ...args.filter((a, i) => a !== '-o' && args[i - 1] !== '-o')].join(' '));
      return defaultRunner(command, args, options);
    },
  };
}

async function head(file: string, n: number): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    await fh.read(buf, 0, n, 0);
    return buf;
  } finally {
    await fh.close();
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

test('the cache directory: TYPEVISOR_CACHE_DIR, else $XDG_CACHE_HOME/typevisor, else ~/.cache/typevisor', () => {
  assert.equal(imageCacheDir({ TYPEVISOR_CACHE_DIR: '/x/y', XDG_CACHE_HOME: '/c' }), '/x/y');
  assert.equal(imageCacheDir({ XDG_CACHE_HOME: '/c' }), '/c/typevisor');
  assert.equal(imageCacheDir({ XDG_CACHE_HOME: 'relative' }), path.join(os.homedir(), '.cache', 'typevisor'));
  assert.equal(imageCacheDir({}), path.join(os.homedir(), '.cache', 'typevisor'));
});

test('the kernel metapackage resolves to the unsigned build of the ABI it depends on', async () => {
  const show = [
    'Package: linux-image-686-pae',
    'Version: 6.1.999-1',
    'Architecture: i386',
    'Depends: linux-image-6.1.0-77-686-pae (= 6.1.999-1)',
    'Size: 1492',
    '',
  ].join('\n');
  const run: CommandRunner = (command, args) => {
    assert.equal(command, 'apt-cache');
    assert.ok(args.includes('APT::Architecture=i386'), 'apt is asked about i386');
    return Promise.resolve({ code: 0, stdout: show, stderr: '' });
  };
  const r = await resolveKernelPackage(new PrivateApt('/nonexistent', run));
  assert.deepEqual(r, { package: 'linux-image-6.1.0-77-686-pae-unsigned', release: '6.1.0-77-686-pae', metapackageVersion: '6.1.999-1' });
});

test('a clear error when apt is not installed', async () => {
  const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'typevisor-images-'));
  try {
    const run: CommandRunner = (command, args, options) =>
      command === 'apt-get' || command === 'apt-cache'
        ? Promise.reject(Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' }))
        : defaultRunner(command, args, options);
    await assert.rejects(ensureImages({ cacheDir, only: ['busybox'], run }), (e: unknown) => {
      assert.ok(e instanceof ImagesError);
      assert.equal(e.code, 'tool-missing');
      assert.match(e.message, /apt-get, apt-cache are not available on this machine/);
      return true;
    });
    assert.equal(await readManifest(cacheDir), null);
  } finally {
    await fs.rm(cacheDir, { recursive: true, force: true });
  }
});

test('busybox-static into a fresh cache: an i386 ELF, and a second call runs nothing', { timeout: 120_000 }, async (t) => {
  const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'typevisor-images-'));
  try {
    const first = countingRunner();
    const m = await ensureImages({ cacheDir, only: ['busybox'], run: first.run, log: (l) => t.diagnostic(l) });
    assert.ok(first.calls.some((c) => c.startsWith('apt-get -q download busybox-static=')), first.calls.join('\n'));

    assert.equal(m.cacheDir, cacheDir);
    assert.ok(m.busybox);
    assert.equal(m.installer, undefined);
    const pkg = m.busybox.package;
    assert.equal(pkg.name, 'busybox-static');
    assert.equal(pkg.architecture, 'i386');
    assert.match(pkg.version, /^1:1\.\d+/);
    assert.ok(pkg.debBytes > 100_000);
    assert.ok(!Number.isNaN(Date.parse(pkg.fetchedAt)));
    const busybox = m.busybox.files.busybox;
    assert.ok(path.isAbsolute(busybox) && busybox.startsWith(path.join(cacheDir, 'images') + path.sep), busybox);
    assert.match(busybox, /\/busybox-static_1%3a[^/]+_i386\/(usr\/)?bin\/busybox$/);

    const h = await head(busybox, 20);
    assert.deepEqual([...h.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'ELF magic');
    assert.equal(h[4], 1, 'ELFCLASS32');
    assert.equal(h[5], 1, 'little-endian');
    assert.equal(h.readUInt16LE(16), 2, 'ET_EXEC (static)');
    assert.equal(h.readUInt16LE(18), 3, 'EM_386');
    t.diagnostic(`fetched ${pkg.name} ${pkg.version} (${mb(pkg.debBytes)}): ${busybox}`);

    // The manifest on disk keeps paths relative to the cache, and reads back as what was returned.
    const stored = await fs.readFile(path.join(cacheDir, 'images', 'manifest.json'), 'utf8');
    assert.ok(!stored.includes(cacheDir), 'stored paths are relative');
    assert.deepEqual(await readManifest(cacheDir), m);
    assert.deepEqual(
      (await fs.readdir(path.join(cacheDir, 'images'))).filter((f) => f.startsWith('.')),
      [],
      'no temporary directories left',
    );

    const second = countingRunner();
    assert.deepEqual(await ensureImages({ cacheDir, only: ['busybox'], run: second.run }), m);
    assert.deepEqual(second.calls, [], 'everything present: no apt-get, no network');

    // With the lists this fetch left, the real metapackage resolves too.
    const kernel = await resolveKernelPackage(new PrivateApt(path.join(cacheDir, 'apt'), defaultRunner));
    assert.match(kernel.package, KERNEL_PACKAGE);
    t.diagnostic(`linux-image-686-pae ${kernel.metapackageVersion} -> ${kernel.package}`);
  } finally {
    await fs.rm(cacheDir, { recursive: true, force: true });
  }
});

test('the full image set in the shared cache (downloaded once per machine)', { timeout: 170_000 }, async (t) => {
  const started = performance.now();
  const m = await ensureImages({ log: (l) => t.diagnostic(l) });
  t.diagnostic(`ensureImages took ${((performance.now() - started) / 1000).toFixed(1)} s; cache ${m.cacheDir}`);
  assert.ok(m.installer && m.kernel && m.busybox && m.seabios);

  for (const entry of [m.installer, m.kernel, m.busybox, m.seabios]) {
    t.diagnostic(`${entry.package.name} ${entry.package.version} ${entry.package.architecture} (${mb(entry.package.debBytes)}, fetched ${entry.package.fetchedAt})`);
    for (const [name, file] of Object.entries<string>(entry.files)) {
      const st = await fs.stat(file);
      t.diagnostic(`  ${name}: ${file}${st.isDirectory() ? '/' : ` (${mb(st.size)})`}`);
    }
  }

  // debian-installer's text-mode netboot kernel (the stock 686 flavour) and its gzip'd initrd.
  assert.equal(m.installer.package.name, 'debian-installer-12-netboot-i386');
  assert.equal(m.installer.package.architecture, 'all');
  assert.match(m.installer.files.kernel, /\/text\/debian-installer\/i386\/linux$/);
  assert.match(m.installer.files.initrd, /\/text\/debian-installer\/i386\/initrd\.gz$/);
  assert.equal((await head(m.installer.files.kernel, 0x206)).toString('latin1', 0x202), 'HdrS', 'a bzImage');
  assert.deepEqual([...(await head(m.installer.files.initrd, 2))], [0x1f, 0x8b], 'gzip');
  assert.match(m.installer.kernelVersion ?? '', /^6\.1\.0-\d+-686 /);

  // linux-image-686-pae's current ABI, unsigned, with its modules.
  assert.match(m.kernel.package.name, KERNEL_PACKAGE);
  assert.equal(m.kernel.package.architecture, 'i386');
  assert.equal(m.kernel.metapackage.name, 'linux-image-686-pae');
  assert.equal(m.kernel.package.name, `linux-image-${m.kernel.release}-unsigned`);
  assert.match(m.kernel.files.vmlinuz, new RegExp(`/boot/vmlinuz-${m.kernel.release}$`));
  assert.equal((await head(m.kernel.files.vmlinuz, 0x206)).toString('latin1', 0x202), 'HdrS', 'a bzImage');
  assert.match(m.kernel.files.modules, new RegExp(`/lib/modules/${m.kernel.release}$`));
  const ext4 = path.join(m.kernel.files.modules, 'kernel', 'fs', 'ext4', 'ext4.ko');
  assert.ok((await fs.stat(ext4)).isFile(), ext4);
  assert.match(await fs.readFile(m.kernel.files.config, 'utf8'), /^CONFIG_X86_PAE=y$/m);

  assert.equal((await fs.stat(m.seabios.files.bios)).size, 128 << 10);
  assert.equal((await fs.stat(m.seabios.files.bios256k)).size, 256 << 10);
  assert.equal((await head(m.busybox.files.busybox, 20)).readUInt16LE(18), 3, 'EM_386');

  const again = countingRunner();
  await ensureImages({ run: again.run });
  assert.deepEqual(again.calls, []);
});
