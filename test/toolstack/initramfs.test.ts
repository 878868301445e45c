/** The initramfs builder (src/toolstack/initramfs.ts): cpio newc writer and reader, builder, busybox, modules. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  CPIO_TRAILER, InitramfsBuilder, readCpio, readModinfo, writeCpio,
  S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type CpioEntry, type CpioRecord,
} from '../../src/toolstack/initramfs.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const byName = (entries: CpioRecord[]): Map<string, CpioRecord> => new Map(entries.map((e) => [e.name, e]));

function entry(name: string, mode: number, data = '', extra: Partial<CpioEntry> = {}): CpioEntry {
  return {
    name, ino: 1, mode, uid: 0, gid: 0, nlink: 1, mtime: 0, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0,
    data: new Uint8Array(Buffer.from(data)), ...extra,
  };
}

// ---------------------------------------------------------------- fake ELF files

/** A minimal 32-bit x86 executable header: static (one PT_LOAD) or dynamic (a PT_INTERP). */
function fakeExecutable(opts: { machine?: number; elfClass?: number; interp?: string } = {}): Uint8Array {
  const interp = opts.interp !== undefined ? Buffer.from(opts.interp + '\0') : null;
  const b = Buffer.alloc(52 + 32 + (interp?.length ?? 0) + 16);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = opts.elfClass ?? 1;
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(opts.machine ?? 3, 18);
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(52, 0x1c); // e_phoff
  b.writeUInt16LE(52, 0x28);
  b.writeUInt16LE(32, 0x2a); // e_phentsize
  b.writeUInt16LE(1, 0x2c); // e_phnum
  if (interp !== null) {
    b.writeUInt32LE(3, 52); // PT_INTERP
    b.writeUInt32LE(84, 56);
    b.writeUInt32LE(interp.length, 68);
    interp.copy(b, 84);
  } else {
    b.writeUInt32LE(1, 52); // PT_LOAD
  }
  return new Uint8Array(b);
}

/** A minimal ELF32 relocatable "module" whose .modinfo holds `modinfo`. */
function fakeModule(modinfo: string[]): Uint8Array {
  const info = Buffer.from(modinfo.map((s) => s + '\0').join(''));
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
  const shoff = 52 + info.length + shstr.length;
  const b = Buffer.alloc(shoff + 3 * 40);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 1;
  b[5] = 1;
  b[6] = 1;
  b.writeUInt16LE(1, 16); // ET_REL
  b.writeUInt16LE(3, 18);
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(shoff, 0x20);
  b.writeUInt16LE(52, 0x28);
  b.writeUInt16LE(40, 0x2e);
  b.writeUInt16LE(3, 0x30);
  b.writeUInt16LE(2, 0x32);
  info.copy(b, 52);
  shstr.copy(b, 52 + info.length);
  const sh = (k: number, name: number, type: number, offset: number, size: number): void => {
    const h = shoff + k * 40;
    b.writeUInt32LE(name, h);
    b.writeUInt32LE(type, h + 4);
    b.writeUInt32LE(offset, h + 0x10);
    b.writeUInt32LE(size, h + 0x14);
  };
  sh(1, 1, 1, 52, info.length); // .modinfo, PROGBITS
  sh(2, 10, 3, 52 + info.length, shstr.length); // .shstrtab, STRTAB
  return new Uint8Array(b);
}

const hasTool = (tool: string): boolean => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const scratch = mkdtempSync(join(tmpdir(), 'typevisor-initramfs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A module tree <root>/lib/modules/<ver>/ from relative path -> bytes (and text files). */
function makeTree(name: string, ver: string, files: Record<string, Uint8Array | string>): string {
  const root = join(scratch, name);
  for (const [rel, data] of Object.entries(files)) {
    const p = join(root, 'lib', 'modules', ver, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, data);
  }
  return root;
}

// ---------------------------------------------------------------- cpio format

test('a newc record is the 070701 header, 13 fields of 8 hex digits, the padded name and the padded data', () => {
  const archive = writeCpio([entry('hello', S_IFREG | 0o644, 'hi!', { ino: 0x2a, mtime: 0x5f5e1000 })]);
  const header = archive.subarray(0, 110).toString('latin1');
  assert.equal(header,
    '070701' + '0000002a' + '000081a4' + '00000000' + '00000000' + '00000001' + '5f5e1000' +
    '00000003' + '00000000' + '00000000' + '00000000' + '00000000' + '00000006' + '00000000');
  // Name "hello\0" (6 bytes) after 110 bytes of header: 116, already a multiple of 4.
  assert.equal(archive.subarray(110, 116).toString('latin1'), 'hello\0');
  assert.equal(archive.subarray(116, 120).toString('latin1'), 'hi!\0', 'data padded with NUL to 4 bytes');
  assert.equal(archive.subarray(120, 126).toString('latin1'), '070701', 'next record right after');
  // Trailer: "TRAILER!!!\0" is 11 bytes, so its name is padded to 124 bytes of header+name.
  const trailerName = archive.subarray(120 + 110, 120 + 110 + 11).toString('latin1');
  assert.equal(trailerName, 'TRAILER!!!\0');
  assert.equal(archive.subarray(120 + 6 + 8 * 4, 120 + 6 + 8 * 5).toString('latin1'), '00000001', 'trailer nlink 1');
  assert.equal(archive.length, 512, 'padded to a 512-byte block');
  assert.ok(archive.subarray(120 + 124).every((b) => b === 0));
});

test('the reader gives back every field, checks alignment and finds the trailer', () => {
  const entries = [
    entry('d', S_IFDIR | 0o755, '', { ino: 1, nlink: 2 }),
    entry('d/f', S_IFREG | 0o600, 'x'.repeat(13), { ino: 2, uid: 1000, gid: 100, mtime: 12345 }),
    entry('d/l', S_IFLNK | 0o777, '../target', { ino: 3 }),
    entry('d/null', S_IFCHR | 0o666, '', { ino: 4, rdevMajor: 1, rdevMinor: 3 }),
  ];
  const archive = writeCpio(entries);
  const back = readCpio(archive);
  assert.equal(back.entries.length, 4);
  back.entries.forEach((r, k) => {
    const { offset, dataOffset, check, ...fields } = r;
    assert.deepEqual({ ...fields, data: Buffer.from(fields.data) }, { ...entries[k], data: Buffer.from(entries[k].data) });
    assert.equal(offset % 4, 0);
    assert.equal(dataOffset % 4, 0);
    assert.equal(check, 0);
  });
  assert.equal(back.trailerOffsets.length, 1);
  assert.equal(archive.subarray(back.trailerOffsets[0] + 110, back.trailerOffsets[0] + 120).toString('latin1'), CPIO_TRAILER);
  assert.equal(back.length, archive.length);
});

test('the reader takes gzip and concatenated archives, and refuses broken ones', () => {
  const a = writeCpio([entry('a', S_IFREG | 0o644, 'A')]);
  const b = writeCpio([entry('b', S_IFREG | 0o644, 'BB')]);
  assert.deepEqual(readCpio(gzipSync(Buffer.concat([a, b]))).entries.map((e) => e.name), ['a', 'b']);
  assert.equal(readCpio(Buffer.concat([a, b])).trailerOffsets.length, 2);

  const bad = Buffer.from(a);
  bad.write('070707', 0, 'latin1'); // odc magic
  assert.throws(() => readCpio(bad), /bad magic '070707'/);
  const nonHex = Buffer.from(a);
  nonHex.write('zz', 6, 'latin1');
  assert.throws(() => readCpio(nonHex), /not hex/);
  assert.throws(() => readCpio(a.subarray(0, 100)), /truncated header/);
  assert.throws(() => readCpio(a.subarray(0, 112)), /data of 'a' runs past the end/);
  assert.throws(() => readCpio(a.subarray(0, 116)), /without TRAILER!!!/);
});

test('the writer refuses values that do not fit a field', () => {
  assert.throws(() => writeCpio([entry('x', S_IFREG | 0o644, '', { mtime: 2 ** 32 })]), /mtime .* 8 hex digits/);
  assert.throws(() => writeCpio([entry('', S_IFREG | 0o644)]), /empty file name/);
});

// ---------------------------------------------------------------- builder

function sampleBuilder(): InitramfsBuilder {
  return new InitramfsBuilder()
    .skeleton()
    .init('echo hello\npoweroff -f\n')
    .file('/etc/motd', 'welcome\n')
    .file('/usr/share/data.bin', new Uint8Array([1, 2, 3, 4, 5]), 0o600)
    .symlink('/lib64', 'lib')
    .node('/dev/sda', 'b', 8, 0, 0o660)
    .dir('/mnt/root', 0o700);
}

test('the builder writes directories, files, symlinks and device nodes with their modes', () => {
  const { entries } = readCpio(sampleBuilder().build());
  const m = byName(entries);
  const want: [string, number, number][] = [
    ['bin', S_IFDIR, 0o755], ['tmp', S_IFDIR, 0o1777], ['dev', S_IFDIR, 0o755],
    ['init', S_IFREG, 0o755], ['etc/motd', S_IFREG, 0o644], ['usr/share/data.bin', S_IFREG, 0o600],
    ['usr', S_IFDIR, 0o755], ['usr/share', S_IFDIR, 0o755], ['mnt/root', S_IFDIR, 0o700],
    ['lib64', S_IFLNK, 0o777], ['dev/console', S_IFCHR, 0o600], ['dev/null', S_IFCHR, 0o666], ['dev/sda', S_IFBLK, 0o660],
  ];
  for (const [name, type, perm] of want) {
    const e = m.get(name);
    assert.ok(e, `${name} is in the archive`);
    assert.equal(e.mode & S_IFMT, type, `${name} type`);
    assert.equal(e.mode & 0o7777, perm, `${name} mode`);
  }
  assert.equal(text(m.get('init')!.data), '#!/bin/sh\necho hello\npoweroff -f\n');
  assert.deepEqual([...m.get('usr/share/data.bin')!.data], [1, 2, 3, 4, 5]);
  assert.equal(text(m.get('lib64')!.data), 'lib');
  assert.deepEqual([m.get('dev/console')!.rdevMajor, m.get('dev/console')!.rdevMinor], [5, 1]);
  assert.deepEqual([m.get('dev/null')!.rdevMajor, m.get('dev/null')!.rdevMinor], [1, 3]);
  assert.deepEqual([m.get('dev/sda')!.rdevMajor, m.get('dev/sda')!.rdevMinor], [8, 0]);
  for (const e of entries) {
    assert.ok(!e.name.startsWith('/'), `${e.name}: names have no leading slash`);
    assert.equal(e.mtime, 0);
    assert.equal(e.uid, 0);
    assert.equal(e.data.length, (e.mode & S_IFMT) === S_IFREG || (e.mode & S_IFMT) === S_IFLNK ? e.data.length : 0);
  }
});

test('entries come parents first with unique inodes and directory link counts', () => {
  const { entries } = readCpio(sampleBuilder().buildCpio());
  const names = entries.map((e) => e.name);
  const seen = new Set<string>();
  for (const n of names) {
    const parent = n.includes('/') ? n.slice(0, n.lastIndexOf('/')) : null;
    if (parent !== null) assert.ok(seen.has(parent), `${parent} comes before ${n}`);
    seen.add(n);
  }
  assert.equal(new Set(entries.map((e) => e.ino)).size, entries.length, 'inode numbers are unique');
  assert.ok(entries.every((e) => e.ino > 0));
  const m = byName(entries);
  assert.equal(m.get('usr')!.nlink, 3, 'usr: 2 + one subdirectory');
  assert.equal(m.get('dev')!.nlink, 2, 'dev: no subdirectories');
  assert.equal(m.get('etc/motd')!.nlink, 1);
});

test('the same content gives the same bytes, whatever the order of the calls', () => {
  const a = sampleBuilder().build();
  assert.deepEqual(sampleBuilder().build(), a);
  const reordered = new InitramfsBuilder()
    .dir('/mnt/root', 0o700)
    .node('/dev/sda', 'b', 8, 0, 0o660)
    .symlink('/lib64', 'lib')
    .file('/usr/share/data.bin', new Uint8Array([1, 2, 3, 4, 5]), 0o600)
    .file('/etc/motd', 'welcome\n')
    .init('echo hello\npoweroff -f\n')
    .skeleton();
  assert.deepEqual(reordered.build(), a);
  assert.deepEqual(gunzipSync(a), sampleBuilder().buildCpio(), 'build() is buildCpio() gzipped');
  assert.equal(a[0], 0x1f);
  assert.equal(a[1], 0x8b);
  assert.equal(a.readUInt32LE(4), 0, 'gzip header mtime 0');
  const later = readCpio(new InitramfsBuilder({ mtime: 1700000000 }).file('a', 'x').build());
  assert.ok(later.entries.every((e) => e.mtime === 1700000000));
});

test('naming a directory sets its mode; conflicting or bad paths are refused', () => {
  const b = new InitramfsBuilder().file('/a/b/c', 'x').dir('/a', 0o750);
  assert.equal(byName(readCpio(b.build()).entries).get('a')!.mode, S_IFDIR | 0o750);
  assert.throws(() => b.file('/a/b/c', 'y'), /already in the archive/);
  b.file('/a/b/c', 'x'); // the same again is fine
  assert.throws(() => b.dir('/a/b/c'), /not a directory/);
  assert.throws(() => b.file('/a/b/c/d', 'x'), /not a directory/);
  assert.throws(() => b.file('/x/../etc/passwd', 'x'), /'\.\.' component/);
  assert.throws(() => b.dir('/'), /root/);
  assert.throws(() => b.file('/f', 'x', S_IFDIR | 0o644), /wrong file type/);
  assert.throws(() => b.file('/f', 'x', 0o10000000), /bad mode/);
  b.file('/f', 'x', S_IFREG | 0o640);
  assert.throws(() => b.node('/dev/x', 'c', -1, 0), /bad major/);
  assert.throws(() => b.symlink('/s', ''), /bad symlink target/);
});

// ---------------------------------------------------------------- busybox

test('busybox goes to /bin/busybox with applet symlinks in /bin and /sbin', () => {
  const bin = fakeExecutable();
  const m = byName(readCpio(new InitramfsBuilder().busybox(bin, ['sh', 'mount', 'echo', 'cat', 'uname', 'poweroff', 'insmod', 'modprobe', '/usr/bin/env']).build()).entries);
  assert.equal(m.get('bin/busybox')!.mode, S_IFREG | 0o755);
  assert.deepEqual(Buffer.from(m.get('bin/busybox')!.data), Buffer.from(bin));
  for (const p of ['bin/sh', 'bin/mount', 'bin/echo', 'bin/cat', 'bin/uname', 'sbin/poweroff', 'sbin/insmod', 'sbin/modprobe', 'usr/bin/env']) {
    assert.equal(m.get(p)?.mode, S_IFLNK | 0o777, p);
    assert.equal(text(m.get(p)!.data), '/bin/busybox', `${p} -> /bin/busybox`);
  }
  const all = byName(readCpio(new InitramfsBuilder().busybox(bin).build()).entries);
  assert.ok(all.has('bin/sh') && all.has('sbin/modprobe') && all.has('sbin/switch_root'), 'the default applet list');
});

test('busybox must be a 32-bit x86 ELF, and static unless its libraries are provided', () => {
  const b = new InitramfsBuilder();
  assert.throws(() => b.busybox(new Uint8Array(100)), /not an ELF/);
  assert.throws(() => b.busybox(fakeExecutable({ elfClass: 2, machine: 62 })), /64-bit ELF for machine 62.*32-bit x86/);
  assert.throws(() => b.busybox(fakeExecutable({ machine: 40 })), /machine 40/);
  const dynamic = fakeExecutable({ interp: '/lib/ld-linux.so.2' });
  assert.throws(() => b.busybox(dynamic), /dynamically linked \(interpreter \/lib\/ld-linux\.so\.2\)/);
  b.busybox(dynamic, ['sh'], { allowDynamic: true });
  assert.match(b.notes.join('\n'), /dynamically linked/);
});

// ---------------------------------------------------------------- modules

const VER = '6.1.0-99-686-pae';

test('modules come with their dependencies from modules.dep, and get a modules.dep of their own', () => {
  const root = makeTree('with-dep', VER, {
    'kernel/fs/ext4/ext4.ko': fakeModule(['name=ext4', 'depends=mbcache,jbd2,crc16']),
    'kernel/fs/jbd2/jbd2.ko': fakeModule(['name=jbd2']),
    'kernel/fs/mbcache.ko': fakeModule(['name=mbcache']),
    'kernel/lib/crc16.ko': fakeModule(['name=crc16']),
    'kernel/drivers/block/virtio_blk.ko': fakeModule(['name=virtio_blk']),
    'kernel/drivers/net/dummy.ko': fakeModule(['name=dummy']),
    'modules.dep': [
      'kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko',
      'kernel/fs/jbd2/jbd2.ko:',
      'kernel/fs/mbcache.ko:',
      'kernel/lib/crc16.ko:',
      'kernel/drivers/block/virtio_blk.ko:',
      'kernel/drivers/net/dummy.ko:',
      '',
    ].join('\n'),
    'modules.order': 'kernel/lib/crc16.ko\nkernel/fs/mbcache.ko\nkernel/fs/jbd2/jbd2.ko\nkernel/fs/ext4/ext4.ko\nkernel/drivers/net/dummy.ko\nkernel/drivers/block/virtio_blk.ko\n',
    'modules.builtin': 'kernel/drivers/virtio/virtio.ko\nkernel/fs/ext2/ext2.ko\n',
  });
  const b = new InitramfsBuilder().modules(root, VER, ['ext4', 'virtio-blk', 'virtio']);
  const m = byName(readCpio(b.build()).entries);
  const dir = `lib/modules/${VER}`;
  for (const mod of ['fs/ext4/ext4', 'fs/jbd2/jbd2', 'fs/mbcache', 'lib/crc16', 'drivers/block/virtio_blk']) {
    const e = m.get(`${dir}/kernel/${mod}.ko`);
    assert.ok(e, `${mod}.ko is in`);
    assert.equal(e.mode, S_IFREG | 0o644);
  }
  assert.ok(!m.has(`${dir}/kernel/drivers/net/dummy.ko`), 'modules not asked for stay out');
  assert.deepEqual(readModinfo(m.get(`${dir}/kernel/fs/ext4/ext4.ko`)!.data), ['name=ext4', 'depends=mbcache,jbd2,crc16']);
  const dep = text(m.get(`${dir}/modules.dep`)!.data).trim().split('\n');
  assert.equal(dep.length, 5);
  const ext4 = dep.find((l) => l.startsWith('kernel/fs/ext4/ext4.ko:'))!;
  assert.deepEqual(new Set(ext4.split(/:\s*|\s+/).slice(1)), new Set(['kernel/fs/mbcache.ko', 'kernel/fs/jbd2/jbd2.ko', 'kernel/lib/crc16.ko']));
  assert.ok(dep.includes('kernel/drivers/block/virtio_blk.ko:'));
  assert.equal(text(m.get(`${dir}/modules.order`)!.data),
    'kernel/lib/crc16.ko\nkernel/fs/mbcache.ko\nkernel/fs/jbd2/jbd2.ko\nkernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n');
  assert.ok(m.has(`${dir}/modules.builtin`));
  assert.match(b.notes.join('\n'), /virtio is built into kernel/);

  assert.throws(() => new InitramfsBuilder().modules(root, VER, ['nosuch']), /no module 'nosuch' for kernel 6\.1\.0-99-686-pae/);
  assert.throws(() => new InitramfsBuilder().modules(root, '5.10.0-1-686', ['ext4']), /no modules for kernel 5\.10\.0-1-686/);
});

test('without modules.dep, dependencies come from each module\'s .modinfo, deepest listed last', () => {
  const root = makeTree('no-dep', VER, {
    'kernel/a/top.ko': fakeModule(['name=top', 'depends=mid']),
    'kernel/b/mid.ko': fakeModule(['name=mid', 'depends=base-lib']),
    'kernel/c/base-lib.ko': fakeModule(['name=base_lib', 'depends=']),
    'kernel/d/other.ko': fakeModule(['name=other', 'depends=']),
  });
  // The tree may also be given as /lib/modules or as the version directory itself.
  for (const tree of [root, join(root, 'lib', 'modules'), join(root, 'lib', 'modules', VER)]) {
    const b = new InitramfsBuilder().modules(tree, VER, ['top']);
    const m = byName(readCpio(b.build()).entries);
    const dep = text(m.get(`lib/modules/${VER}/modules.dep`)!.data);
    assert.equal(dep, [
      'kernel/a/top.ko: kernel/b/mid.ko kernel/c/base-lib.ko',
      'kernel/b/mid.ko: kernel/c/base-lib.ko',
      'kernel/c/base-lib.ko:',
      '',
    ].join('\n'));
    assert.ok(!m.has(`lib/modules/${VER}/kernel/d/other.ko`));
    assert.match(b.notes.join('\n'), /no modules\.dep: dependencies read from each module's \.modinfo/);
  }
  const cyclic = makeTree('cycle', VER, {
    'kernel/x.ko': fakeModule(['depends=y']),
    'kernel/y.ko': fakeModule(['depends=x']),
  });
  assert.throws(() => new InitramfsBuilder().modules(cyclic, VER, ['x']), /dependency cycle: kernel\/x\.ko -> kernel\/y\.ko -> kernel\/x\.ko/);
});

test('compressed modules are decompressed to .ko by default, or kept with { decompress: false }', (t) => {
  const plain = fakeModule(['name=gzmod', 'depends=']);
  const root = makeTree('gz', VER, {
    'kernel/gzmod.ko.gz': gzipSync(plain),
    'kernel/user.ko': fakeModule(['name=user', 'depends=gzmod']),
    'modules.dep': 'kernel/user.ko: kernel/gzmod.ko.gz\nkernel/gzmod.ko.gz:\n',
  });
  const b = new InitramfsBuilder().modules(root, VER, ['user']);
  const m = byName(readCpio(b.build()).entries);
  assert.deepEqual(Buffer.from(m.get(`lib/modules/${VER}/kernel/gzmod.ko`)!.data), Buffer.from(plain));
  assert.equal(text(m.get(`lib/modules/${VER}/modules.dep`)!.data), 'kernel/gzmod.ko:\nkernel/user.ko: kernel/gzmod.ko\n');
  assert.match(b.notes.join('\n'), /decompressed kernel\/gzmod\.ko\.gz to kernel\/gzmod\.ko/);

  const kept = byName(readCpio(new InitramfsBuilder().modules(root, VER, ['user'], { decompress: false }).build()).entries);
  assert.ok(kept.has(`lib/modules/${VER}/kernel/gzmod.ko.gz`));
  assert.equal(text(kept.get(`lib/modules/${VER}/modules.dep`)!.data), 'kernel/gzmod.ko.gz:\nkernel/user.ko: kernel/gzmod.ko.gz\n');

  if (!hasTool('xz')) {
    t.skip('xz is not installed');
    return;
  }
  const xzMod = fakeModule(['name=xzmod', 'depends=']);
  const xzRoot = makeTree('xz', VER, { 'kernel/xzmod.ko.xz': execFileSync('xz', ['-c'], { input: xzMod }) });
  const x = byName(readCpio(new InitramfsBuilder().modules(xzRoot, VER, ['xzmod']).build()).entries);
  assert.deepEqual(Buffer.from(x.get(`lib/modules/${VER}/kernel/xzmod.ko`)!.data), Buffer.from(xzMod));
});

test('a whole test guest: skeleton, busybox, /init and modules in one archive', () => {
  const root = makeTree('guest', VER, {
    'kernel/drivers/char/hw_random/virtio-rng.ko': fakeModule(['name=virtio_rng', 'depends=']),
  });
  const archive = new InitramfsBuilder()
    .skeleton()
    .busybox(fakeExecutable())
    .modules(root, VER, ['virtio_rng'])
    .init('mount -t proc proc /proc\nmodprobe virtio_rng\nuname -r\npoweroff -f\n')
    .build();
  const { entries, trailerOffsets, length } = readCpio(archive);
  const names = new Set(entries.map((e) => e.name));
  for (const n of ['init', 'bin/busybox', 'bin/sh', 'sbin/modprobe', 'dev/console', `lib/modules/${VER}/kernel/drivers/char/hw_random/virtio-rng.ko`, `lib/modules/${VER}/modules.dep`]) {
    assert.ok(names.has(n), n);
  }
  assert.equal(trailerOffsets.length, 1);
  assert.equal(length % 512, 0);
});
