/**
 * Initramfs builder: a cpio "newc" archive, gzip-compressed, as the kernel
 * unpacks into its rootfs before running /init (Linux
 * Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 * Archive format ("newc", magic 070701). Each record is a 110-byte ASCII
 * header — the magic, then 13 fields of 8 hex digits: ino, mode, uid, gid,
 * nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize
 * (with its NUL), check (0 for newc) — then the NUL-terminated name, padded so
 * the data starts on a 4-byte boundary, then the data (a symlink's data is its
 * target), padded to 4 bytes. The last record is named TRAILER!!!; the
 * archive is then padded with NULs to a 512-byte block, as cpio(1) does.
 *
 * Reproducibility: the builder keeps entries by path and writes them sorted
 * by path (which also puts every directory before its contents, as the kernel
 * needs), with one fixed mtime, uid/gid 0, inode numbers given in that order
 * from 1 and no hard links (nlink 1 for non-directories, 2 + subdirectories
 * for directories). gzip is node:zlib at level 9 (header mtime 0). The same
 * calls therefore give the same bytes, whatever order they were made in.
 *
 * Parents are made implicitly (mode 0755) when a path is added below a
 * directory that was not named; naming it later sets its mode.
 *
 * Kernel modules: `modules()` copies the named modules of one kernel version
 * and everything they depend on, from a tree laid out as /lib/modules/<ver>/.
 * Dependencies come from that tree's modules.dep when it has one; a tree
 * straight out of a Debian linux-image package has none (depmod makes it at
 * install time), so otherwise they come from each module's own `.modinfo`
 * section ("depends=a,b"). The archive gets a modules.dep of its own listing
 * only the modules it holds (depmod's convention: a module's line lists its
 * dependencies with the deepest last, and modprobe loads from the end), plus
 * the tree's modules.builtin and modules.order (filtered) when present, so
 * busybox modprobe works. Soft dependencies (modules.softdep) are not
 * followed: name them explicitly.
 * Compressed modules (.ko.xz, .ko.zst, .ko.gz) are decompressed to plain .ko
 * by default (xz(1) / zstd(1) for the first two, node:zlib for gzip), because
 * loading a compressed module needs either a busybox built with seamless
 * decompression or a kernel with CONFIG_MODULE_DECOMPRESS and an insmod that
 * asks for it; a plain .ko loads everywhere. Each decompression is recorded in
 * `notes`. `{ decompress: false }` keeps the files as they are. (Debian 12's
 * own kernels ship plain .ko files, so this only matters for other trees.)
 *
 * busybox: `busybox()` installs /bin/busybox and one symlink per applet. It
 * checks that the binary is a 32-bit x86 ELF (this CPU runs nothing else) and
 * refuses a dynamically linked one unless told its libraries are provided:
 * without them the kernel finds no working init. Debian's busybox-static
 * (i386) is the usual choice. A script /init runs as PID 1, so it must power
 * off with `poweroff -f` (plain `poweroff` signals an init that is not there).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

// ---------------------------------------------------------------- modes

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
/** Permission bits, with setuid, setgid and sticky. */
export const S_IPERM = 0o7777;

// ---------------------------------------------------------------- cpio newc

export const CPIO_NEWC_MAGIC = '070701';
/** The same layout with a checksum of the data in `check` (read, never written). */
export const CPIO_NEWC_CRC_MAGIC = '070702';
export const CPIO_TRAILER = 'TRAILER!!!';
const HEADER_SIZE = 110;
const BLOCK = 512;

/** One record of a newc archive. */
export interface CpioEntry {
  /** Path without a leading slash, e.g. "bin/busybox". */
  name: string;
  ino: number;
  /** File type (S_IF*) and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  /** Device holding the file (0 here: only hard-link detection uses it). */
  devMajor: number;
  devMinor: number;
  /** For device nodes: the device's numbers. */
  rdevMajor: number;
  rdevMinor: number;
  /** File contents; a symlink's target. */
  data: Uint8Array;
}

/** A record read back from an archive, with where it was. */
export interface CpioRecord extends CpioEntry {
  /** Offset of its header in the (decompressed) archive. */
  offset: number;
  /** Offset of its data. */
  dataOffset: number;
  /** The header's check field (0 in newc; a data checksum in 070702 archives). */
  check: number;
}

export interface CpioArchive {
  /** Every record but the trailers, in archive order. */
  entries: CpioRecord[];
  /** Header offset of each TRAILER!!! record (one per concatenated archive). */
  trailerOffsets: number[];
  /** Decompressed length in bytes, padding included. */
  length: number;
}

const align4 = (n: number): number => (n + 3) & ~3;

function hex8(value: number, field: string, name: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`cpio: ${field} ${value} of '${name}' does not fit in 8 hex digits`);
  }
  return value.toString(16).padStart(8, '0');
}

/**
 * Write a newc archive of `entries` in the order given, followed by the
 * trailer and NUL padding to a 512-byte block. No sorting, no inode
 * assignment: the entries are written as they are.
 */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const trailer: CpioEntry = {
    name: CPIO_TRAILER, ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0,
    devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0, data: new Uint8Array(0),
  };
  const parts: Buffer[] = [];
  let length = 0;
  for (const e of [...entries, trailer]) {
    const name = Buffer.from(e.name + '\0', 'utf8');
    if (name.length === 1) throw new Error('cpio: empty file name');
    if (name.indexOf(0) !== name.length - 1) throw new Error(`cpio: file name '${e.name}' contains a NUL`);
    const fields = [
      e.ino, e.mode, e.uid, e.gid, e.nlink, e.mtime, e.data.length,
      e.devMajor, e.devMinor, e.rdevMajor, e.rdevMinor, name.length, 0,
    ];
    const labels = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize',
      'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];
    const header = CPIO_NEWC_MAGIC + fields.map((v, k) => hex8(v, labels[k], e.name)).join('');
    const headerAndName = Buffer.alloc(align4(HEADER_SIZE + name.length));
    headerAndName.write(header, 0, 'latin1');
    name.copy(headerAndName, HEADER_SIZE);
    const data = Buffer.alloc(align4(e.data.length));
    data.set(e.data);
    parts.push(headerAndName, data);
    length += headerAndName.length + data.length;
  }
  parts.push(Buffer.alloc((BLOCK - (length % BLOCK)) % BLOCK));
  return Buffer.concat(parts);
}

/**
 * Read a newc archive back (gzip-compressed or not). Concatenated archives
 * (the kernel accepts them, with NUL padding between) are read one after the
 * other. Throws on a bad magic, a non-hex field, a record running past the end
 * or a missing trailer.
 */
export function readCpio(input: Uint8Array): CpioArchive {
  const bytes = input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b ? gunzipSync(input) : input;
  const text = (from: number, n: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + from, n).toString('latin1');
  const entries: CpioRecord[] = [];
  const trailerOffsets: number[] = [];
  let pos = 0;
  let inArchive = false;
  for (;;) {
    if (!inArchive) {
      // Between archives: NUL padding, in whole 4-byte units.
      while (pos + 4 <= bytes.length && bytes[pos] === 0 && bytes[pos + 1] === 0 && bytes[pos + 2] === 0 && bytes[pos + 3] === 0) pos += 4;
    }
    if (pos >= bytes.length) break;
    if (pos % 4 !== 0) throw new Error(`cpio: record at ${pos} is not 4-byte aligned`);
    if (pos + HEADER_SIZE > bytes.length) throw new Error(`cpio: truncated header at ${pos}`);
    const magic = text(pos, 6);
    if (magic !== CPIO_NEWC_MAGIC && magic !== CPIO_NEWC_CRC_MAGIC) {
      throw new Error(`cpio: bad magic '${magic.replace(/[^\x20-\x7e]/g, '.')}' at ${pos} (want ${CPIO_NEWC_MAGIC}, newc)`);
    }
    const field = (k: number): number => {
      const s = text(pos + 6 + 8 * k, 8);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new Error(`cpio: field ${k} '${s}' of the record at ${pos} is not hex`);
      return parseInt(s, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, filesize, devMajor, devMinor, rdevMajor, rdevMinor, namesize, check] =
      Array.from({ length: 13 }, (_, k) => field(k));
    if (namesize < 1) throw new Error(`cpio: record at ${pos} has an empty name`);
    const nameEnd = pos + HEADER_SIZE + namesize;
    if (nameEnd > bytes.length) throw new Error(`cpio: name of the record at ${pos} runs past the end`);
    if (bytes[nameEnd - 1] !== 0) throw new Error(`cpio: name of the record at ${pos} is not NUL-terminated`);
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + pos + HEADER_SIZE, namesize - 1).toString('utf8');
    const dataOffset = align4(nameEnd);
    if (dataOffset + filesize > bytes.length) throw new Error(`cpio: data of '${name}' runs past the end`);
    const record: CpioRecord = {
      name, ino, mode, uid, gid, nlink, mtime, devMajor, devMinor, rdevMajor, rdevMinor,
      data: bytes.slice(dataOffset, dataOffset + filesize), offset: pos, dataOffset, check,
    };
    const next = align4(dataOffset + filesize);
    if (name === CPIO_TRAILER) {
      trailerOffsets.push(pos);
      inArchive = false;
    } else {
      entries.push(record);
      inArchive = true;
    }
    pos = next;
  }
  if (inArchive || trailerOffsets.length === 0) throw new Error(`cpio: archive ends without ${CPIO_TRAILER}`);
  return { entries, trailerOffsets, length: bytes.length };
}

// ---------------------------------------------------------------- builder

/** busybox applets linked by default: enough for a test /init that mounts, loads modules, reports and powers off. */
export const DEFAULT_APPLETS: readonly string[] = [
  'sh', 'ash', 'cat', 'echo', 'ls', 'mkdir', 'mknod', 'mount', 'umount', 'uname', 'sleep', 'dmesg',
  'grep', 'sed', 'head', 'tail', 'wc', 'cp', 'mv', 'rm', 'ln', 'true', 'false', 'test', '[', 'printf',
  'md5sum', 'sha256sum', 'dd', 'hexdump', 'od', 'sync', 'free', 'ps', 'kill', 'env', 'date', 'awk', 'expr',
  'setsid', 'cttyhack', 'uptime', 'clear', 'less', 'vi',
  'insmod', 'rmmod', 'lsmod', 'modprobe', 'poweroff', 'reboot', 'halt', 'switch_root', 'mdev', 'init',
];

/** Applets busybox itself installs in /sbin (the kernel runs /sbin/modprobe for request_module). */
const SBIN_APPLETS = new Set([
  'insmod', 'rmmod', 'lsmod', 'modprobe', 'depmod', 'modinfo', 'poweroff', 'reboot', 'halt',
  'switch_root', 'pivot_root', 'mdev', 'init', 'ifconfig', 'route', 'ip', 'losetup', 'swapon', 'swapoff',
]);

export interface InitramfsOptions {
  /** mtime of every entry (default 0, the epoch). */
  mtime?: number;
}

export interface BusyboxOptions {
  /** Accept a dynamically linked busybox: its interpreter and libraries are added by the caller. */
  allowDynamic?: boolean;
}

export interface ModulesOptions {
  /** Decompress .ko.xz / .ko.zst / .ko.gz to plain .ko (default true). */
  decompress?: boolean;
}

interface Node {
  mode: number;
  data: Uint8Array;
  rdevMajor: number;
  rdevMinor: number;
}

/** What `modules()` recorded for one kernel version, turned into metadata files at build time. */
interface ModuleSet {
  versionDir: string;
  /** Module path in the archive (relative to /lib/modules/<ver>) -> its dependencies, deepest last. */
  deps: Map<string, string[]>;
}

const EMPTY = new Uint8Array(0);
const MODULE_RE = /\.ko(\.xz|\.zst|\.gz)?$/;

/** "/a//b/" -> "a/b"; refuses "", ".", ".." components and NULs. */
function normalizePath(path: string): string {
  if (path.includes('\0')) throw new Error(`initramfs: path '${path}' contains a NUL`);
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) throw new Error(`initramfs: '${path}' names the root, which the kernel provides`);
  for (const p of parts) {
    if (p === '.' || p === '..') throw new Error(`initramfs: path '${path}' has a '${p}' component`);
  }
  return parts.join('/');
}

/** Permission bits of `mode`, which may also carry the file-type bits `type` (e.g. 0o100755 for a file). */
function permOf(mode: number, type: number, path: string): number {
  if (!Number.isInteger(mode) || mode < 0 || (mode & ~(S_IFMT | S_IPERM)) !== 0) {
    throw new Error(`initramfs: bad mode 0${mode.toString(8)} for '${path}'`);
  }
  const given = mode & S_IFMT;
  if (given !== 0 && given !== type) throw new Error(`initramfs: mode 0${mode.toString(8)} of '${path}' has the wrong file type`);
  return mode & S_IPERM;
}

/** A module's name as the kernel knows it: file name without .ko[.xz|.zst|.gz], '-' as '_'. */
export function moduleName(pathOrName: string): string {
  const base = pathOrName.slice(pathOrName.lastIndexOf('/') + 1);
  return base.replace(MODULE_RE, '').replace(/-/g, '_');
}

/** The NUL-separated strings of an ELF module's .modinfo section ("license=GPL", "depends=a,b", ...). */
export function readModinfo(elf: Uint8Array, what = 'module'): string[] {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 52 || dv.getUint32(0, false) !== 0x7f454c46) throw new Error(`${what} is not an ELF file`);
  const is64 = elf[4] === 2;
  if (elf[5] !== 1) throw new Error(`${what} is not a little-endian ELF file`);
  const u = (off: number, size: 2 | 4 | 8): number =>
    size === 2 ? dv.getUint16(off, true) : size === 4 ? dv.getUint32(off, true) : Number(dv.getBigUint64(off, true));
  const shoff = is64 ? u(0x28, 8) : u(0x20, 4);
  const shentsize = u(is64 ? 0x3a : 0x2e, 2);
  const shnum = u(is64 ? 0x3c : 0x30, 2);
  const shstrndx = u(is64 ? 0x3e : 0x32, 2);
  if (shoff === 0 || shoff + shnum * shentsize > elf.length || shstrndx >= shnum) throw new Error(`${what}: bad ELF section table`);
  const section = (k: number): { name: number; offset: number; size: number } => {
    const h = shoff + k * shentsize;
    return is64
      ? { name: u(h, 4), offset: u(h + 0x18, 8), size: u(h + 0x20, 8) }
      : { name: u(h, 4), offset: u(h + 0x10, 4), size: u(h + 0x14, 4) };
  };
  const strtab = section(shstrndx);
  const nameAt = (off: number): string => {
    const start = strtab.offset + off;
    let end = start;
    while (end < elf.length && elf[end] !== 0) end++;
    return Buffer.from(elf.buffer, elf.byteOffset + start, end - start).toString('latin1');
  };
  for (let k = 0; k < shnum; k++) {
    const s = section(k);
    if (nameAt(s.name) !== '.modinfo') continue;
    if (s.offset + s.size > elf.length) throw new Error(`${what}: .modinfo runs past the end`);
    return Buffer.from(elf.buffer, elf.byteOffset + s.offset, s.size).toString('latin1').split('\0').filter((x) => x !== '');
  }
  throw new Error(`${what} has no .modinfo section`);
}

/** 32-bit x86 ELF check for executables; returns the PT_INTERP path if it is dynamically linked. */
function checkI386Elf(bytes: Uint8Array, what: string): string | null {
  if (bytes.length < 52 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new Error(`${what} is not an ELF file`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machine = dv.getUint16(18, true);
  if (bytes[4] !== 1 || bytes[5] !== 1 || machine !== 3) {
    const desc = bytes[4] === 2 ? '64-bit' : bytes[4] === 1 ? '32-bit' : 'unknown-class';
    throw new Error(`${what} is a ${desc} ELF for machine ${machine}; the guest CPU runs only 32-bit x86 (EM_386 = 3): use an i386 build`);
  }
  const phoff = dv.getUint32(0x1c, true);
  const phentsize = dv.getUint16(0x2a, true);
  const phnum = dv.getUint16(0x2c, true);
  for (let k = 0; k < phnum; k++) {
    const h = phoff + k * phentsize;
    if (h + 32 > bytes.length) throw new Error(`${what}: program header ${k} runs past the end`);
    if (dv.getUint32(h, true) !== 3) continue; // PT_INTERP
    const off = dv.getUint32(h + 4, true), size = dv.getUint32(h + 16, true);
    if (off + size > bytes.length) throw new Error(`${what}: PT_INTERP runs past the end`);
    return Buffer.from(bytes.buffer, bytes.byteOffset + off, size).toString('latin1').replace(/\0+$/, '');
  }
  return null;
}

function decompressModule(path: string, ext: string): Uint8Array {
  if (ext === '.gz') return gunzipSync(readFileSync(path));
  const tool = ext === '.xz' ? 'xz' : 'zstd';
  try {
    return execFileSync(tool, ['-dc', path], { maxBuffer: 1 << 30 });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${tool} is not installed` : String(e);
    throw new Error(`initramfs: cannot decompress ${path} (${why}); install ${tool === 'xz' ? 'xz-utils' : 'zstd'} or pass { decompress: false }`);
  }
}

export class InitramfsBuilder {
  private readonly nodes = new Map<string, Node>();
  private readonly moduleSets = new Map<string, ModuleSet>();
  private readonly mtime: number;
  /** What the builder did that a reader of the archive should know (decompressed modules, built-in modules skipped). */
  readonly notes: string[] = [];

  constructor(opts: InitramfsOptions = {}) {
    this.mtime = opts.mtime ?? 0;
    hex8(this.mtime, 'mtime', '(builder)');
  }

  /** A directory (parents are made as needed). Naming an existing directory again sets its mode. */
  dir(path: string, mode = 0o755): this {
    const name = normalizePath(path);
    const perm = permOf(mode, S_IFDIR, name);
    this.parents(name);
    const old = this.nodes.get(name);
    if (old && (old.mode & S_IFMT) !== S_IFDIR) throw new Error(`initramfs: '${name}' already exists and is not a directory`);
    this.nodes.set(name, { mode: S_IFDIR | perm, data: EMPTY, rdevMajor: 0, rdevMinor: 0 });
    return this;
  }

  /** A regular file; a string is written as UTF-8. */
  file(path: string, data: Uint8Array | string, mode = 0o644): this {
    const bytes = typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'utf8')) : data;
    return this.put(path, S_IFREG, mode, bytes, 0, 0);
  }

  /** A symbolic link to `target` (stored as given: absolute or relative). */
  symlink(path: string, target: string): this {
    if (target === '' || target.includes('\0')) throw new Error(`initramfs: bad symlink target '${target}' for '${path}'`);
    return this.put(path, S_IFLNK, 0o777, new Uint8Array(Buffer.from(target, 'utf8')), 0, 0);
  }

  /** A character ('c') or block ('b') device node. */
  node(path: string, kind: 'c' | 'b', major: number, minor: number, mode = 0o600): this {
    for (const [what, v] of [['major', major], ['minor', minor]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`initramfs: bad ${what} number ${v} for '${path}'`);
    }
    return this.put(path, kind === 'c' ? S_IFCHR : S_IFBLK, mode, EMPTY, major, minor);
  }

  /**
   * The usual skeleton: /bin /sbin /etc /proc /sys /dev /run /root /tmp (1777),
   * /dev/console (c 5 1, which the kernel opens as init's stdin/out/err) and /dev/null (c 1 3).
   */
  skeleton(): this {
    for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'run', 'root', 'lib']) this.dir(d, 0o755);
    this.dir('tmp', 0o1777);
    this.node('dev/console', 'c', 5, 1, 0o600);
    this.node('dev/null', 'c', 1, 3, 0o666);
    return this;
  }

  /** /init, executable; a script without a "#!" line gets "#!/bin/sh". */
  init(script: string): this {
    return this.file('init', script.startsWith('#!') ? script : `#!/bin/sh\n${script}`, 0o755);
  }

  /**
   * /bin/busybox and a symlink to it for each applet: a bare name goes to
   * /sbin or /bin where busybox itself would install it, a path is used as is.
   */
  busybox(binary: Uint8Array, applets: readonly string[] = DEFAULT_APPLETS, opts: BusyboxOptions = {}): this {
    const interp = checkI386Elf(binary, 'busybox');
    if (interp !== null) {
      if (!opts.allowDynamic) {
        throw new Error(`busybox is dynamically linked (interpreter ${interp}); use a static build (Debian: busybox-static), or pass { allowDynamic: true } and add its libraries`);
      }
      this.notes.push(`busybox is dynamically linked (interpreter ${interp}): its libraries must be in the archive`);
    }
    this.file('bin/busybox', binary, 0o755);
    for (const applet of applets) {
      if (applet === 'busybox') continue;
      const path = applet.includes('/') ? applet : `${SBIN_APPLETS.has(applet) ? 'sbin' : 'bin'}/${applet}`;
      this.symlink(path, '/bin/busybox');
    }
    return this;
  }

  /**
   * Kernel modules `names` of version `kernelVersion`, with their dependencies,
   * into /lib/modules/<ver>/. `treeDir` is a root holding lib/modules/<ver>
   * (e.g. an extracted linux-image package), a directory holding <ver> (e.g.
   * /lib/modules), or the version directory itself. A name is a module name
   * ("virtio_blk", '-' and '_' alike) or a path relative to the version
   * directory. Built-in modules are skipped (with a note); unknown ones are errors.
   */
  modules(treeDir: string, kernelVersion: string, names: readonly string[], opts: ModulesOptions = {}): this {
    const decompress = opts.decompress ?? true;
    const versionDir = this.findVersionDir(treeDir, kernelVersion);
    const read = (rel: string): string | null => {
      const p = join(versionDir, rel);
      return existsSync(p) ? readFileSync(p, 'latin1') : null;
    };

    // Every module of the tree, by name, and where dependencies come from.
    const depText = read('modules.dep');
    const byName = new Map<string, string>();
    let depsOf: (rel: string) => string[];
    if (depText !== null) {
      const depLines = new Map<string, string[]>();
      for (const line of depText.split('\n')) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const rel = line.slice(0, colon).trim();
        depLines.set(rel, line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== ''));
        byName.set(moduleName(rel), rel);
      }
      depsOf = (rel) => {
        const d = depLines.get(rel);
        if (d === undefined) throw new Error(`initramfs: ${rel} is not in ${join(versionDir, 'modules.dep')}`);
        return d;
      };
    } else {
      for (const rel of this.walkModules(versionDir, '')) byName.set(moduleName(rel), rel);
      const cache = new Map<string, string[]>();
      depsOf = (rel) => {
        let d = cache.get(rel);
        if (d === undefined) {
          const info = readModinfo(this.moduleBytes(versionDir, rel, true), join(versionDir, rel));
          const dep = info.find((s) => s.startsWith('depends='))?.slice('depends='.length) ?? '';
          d = dep.split(',').filter((x) => x !== '').map((n) => {
            const r = byName.get(moduleName(n));
            if (r === undefined) throw new Error(`initramfs: ${rel} depends on '${n}', which is not in ${versionDir}`);
            return r;
          });
          cache.set(rel, d);
        }
        return d;
      };
      if (names.length > 0) this.notes.push(`${versionDir} has no modules.dep: dependencies read from each module's .modinfo`);
    }
    const builtin = new Set((read('modules.builtin') ?? '').split('\n').filter((l) => l !== '').map(moduleName));

    // The closure, in load order (dependencies first).
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (rel: string, chain: string[]): void => {
      const s = state.get(rel);
      if (s === 'done') return;
      if (s === 'visiting') throw new Error(`initramfs: module dependency cycle: ${[...chain, rel].join(' -> ')}`);
      state.set(rel, 'visiting');
      for (const d of depsOf(rel)) visit(d, [...chain, rel]);
      state.set(rel, 'done');
      order.push(rel);
    };
    for (const n of names) {
      const rel = MODULE_RE.test(n) && n.includes('/') ? n : byName.get(moduleName(n));
      if (rel === undefined) {
        if (builtin.has(moduleName(n))) {
          this.notes.push(`module ${n} is built into kernel ${kernelVersion}: nothing to copy`);
          continue;
        }
        throw new Error(`initramfs: no module '${n}' for kernel ${kernelVersion} in ${versionDir}`);
      }
      if (!existsSync(join(versionDir, rel))) throw new Error(`initramfs: module file ${join(versionDir, rel)} is missing`);
      visit(rel, []);
    }

    let set = this.moduleSets.get(kernelVersion);
    if (set === undefined) {
      set = { versionDir, deps: new Map() };
      this.moduleSets.set(kernelVersion, set);
    } else if (set.versionDir !== versionDir) {
      throw new Error(`initramfs: modules for ${kernelVersion} already come from ${set.versionDir}, not ${versionDir}`);
    }
    const target = (rel: string): string => (decompress ? rel.replace(MODULE_RE, '.ko') : rel);
    for (const rel of order) {
      const out = target(rel);
      if (set.deps.has(out)) continue;
      const data = this.moduleBytes(versionDir, rel, decompress);
      if (out !== rel) this.notes.push(`decompressed ${rel} to ${out}`);
      this.file(`lib/modules/${kernelVersion}/${out}`, data, 0o644);
      // Dependencies of `rel`, deepest last: reverse load order of its own closure.
      const closure: string[] = [];
      const seen = new Set<string>();
      const walk = (r: string): void => {
        for (const d of depsOf(r)) {
          if (seen.has(d)) continue;
          seen.add(d);
          walk(d);
          closure.push(d);
        }
      };
      walk(rel);
      set.deps.set(out, closure.reverse().map(target));
    }
    return this;
  }

  /** The records in archive order, inode numbers and link counts assigned. */
  entries(): CpioEntry[] {
    const nodes = new Map(this.nodes);
    for (const [ver, set] of this.moduleSets) this.moduleMetadata(ver, set, nodes);
    const names = [...nodes.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const subdirs = new Map<string, number>();
    for (const n of names) {
      if ((nodes.get(n)!.mode & S_IFMT) !== S_IFDIR) continue;
      const slash = n.lastIndexOf('/');
      if (slash >= 0) subdirs.set(n.slice(0, slash), (subdirs.get(n.slice(0, slash)) ?? 0) + 1);
    }
    return names.map((name, k) => {
      const node = nodes.get(name)!;
      const isDir = (node.mode & S_IFMT) === S_IFDIR;
      return {
        name, ino: k + 1, mode: node.mode, uid: 0, gid: 0,
        nlink: isDir ? 2 + (subdirs.get(name) ?? 0) : 1,
        mtime: this.mtime, devMajor: 0, devMinor: 0,
        rdevMajor: node.rdevMajor, rdevMinor: node.rdevMinor, data: node.data,
      };
    });
  }

  /** The uncompressed cpio archive. */
  buildCpio(): Buffer {
    return writeCpio(this.entries());
  }

  /** The initramfs: the cpio archive, gzip-compressed. */
  build(): Buffer {
    return gzipSync(this.buildCpio(), { level: 9 });
  }

  // ---------------------------------------------------------------- internals

  private put(path: string, type: number, mode: number, data: Uint8Array, rdevMajor: number, rdevMinor: number): this {
    const name = normalizePath(path);
    const perm = permOf(mode, type, name);
    this.parents(name);
    const old = this.nodes.get(name);
    if (old !== undefined) {
      const same = old.mode === (type | perm) && old.rdevMajor === rdevMajor && old.rdevMinor === rdevMinor &&
        Buffer.compare(Buffer.from(old.data.buffer, old.data.byteOffset, old.data.length), Buffer.from(data.buffer, data.byteOffset, data.length)) === 0;
      if (!same) throw new Error(`initramfs: '${name}' is already in the archive`);
      return this;
    }
    this.nodes.set(name, { mode: type | perm, data, rdevMajor, rdevMinor });
    return this;
  }

  private parents(name: string): void {
    const parts = name.split('/');
    for (let k = 1; k < parts.length; k++) {
      const dir = parts.slice(0, k).join('/');
      const old = this.nodes.get(dir);
      if (old === undefined) this.nodes.set(dir, { mode: S_IFDIR | 0o755, data: EMPTY, rdevMajor: 0, rdevMinor: 0 });
      else if ((old.mode & S_IFMT) !== S_IFDIR) throw new Error(`initramfs: '${dir}' is not a directory, cannot put '${name}' in it`);
    }
  }

  private findVersionDir(treeDir: string, ver: string): string {
    if (ver === '' || ver.includes('/')) throw new Error(`initramfs: bad kernel version '${ver}'`);
    const candidates = [join(treeDir, 'lib', 'modules', ver), join(treeDir, 'usr', 'lib', 'modules', ver), join(treeDir, ver)];
    if (basename(treeDir) === ver) candidates.push(treeDir);
    const found = candidates.find((c) => existsSync(c) && statSync(c).isDirectory());
    if (found === undefined) throw new Error(`initramfs: no modules for kernel ${ver} under ${treeDir} (looked for ${candidates.join(', ')})`);
    return found;
  }

  /** Relative paths of the module files under `dir`, sorted. */
  private walkModules(root: string, rel: string): string[] {
    const out: string[] = [];
    const entries = readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) out.push(...this.walkModules(root, r));
      else if (MODULE_RE.test(e.name)) out.push(r);
    }
    return out;
  }

  private moduleBytes(versionDir: string, rel: string, decompress: boolean): Uint8Array {
    const path = join(versionDir, rel);
    const ext = MODULE_RE.exec(rel)?.[1];
    return decompress && ext !== undefined ? decompressModule(path, ext) : readFileSync(path);
  }

  /** modules.dep (and, from the tree, modules.builtin and the filtered modules.order) for one kernel version. */
  private moduleMetadata(ver: string, set: ModuleSet, nodes: Map<string, Node>): void {
    const file = (rel: string, text: string): void => {
      nodes.set(`lib/modules/${ver}/${rel}`, { mode: S_IFREG | 0o644, data: new Uint8Array(Buffer.from(text, 'utf8')), rdevMajor: 0, rdevMinor: 0 });
    };
    const mods = [...set.deps.keys()].sort();
    file('modules.dep', mods.map((m) => `${m}:${set.deps.get(m)!.map((d) => ` ${d}`).join('')}\n`).join(''));
    const builtin = join(set.versionDir, 'modules.builtin');
    if (existsSync(builtin)) file('modules.builtin', readFileSync(builtin, 'utf8'));
    const order = join(set.versionDir, 'modules.order');
    if (existsSync(order)) {
      // modules.order names modules as built (kernel/...ko): match them by module name to what the archive holds.
      const held = new Map([...set.deps.keys()].map((out) => [moduleName(out), out]));
      const lines = new Set(readFileSync(order, 'utf8').split('\n')
        .map((l) => held.get(moduleName(l.trim())))
        .filter((l): l is string => l !== undefined));
      file('modules.order', [...lines].map((l) => `${l}\n`).join(''));
    }
  }
}
