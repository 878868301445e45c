/**
 * Guest images: Debian 12's stock i386 kernels, the installer's initrd, busybox and SeaBIOS, fetched
 * with the host's apt into a cache outside the repository and unpacked there.
 *
 * apt runs against a private state directory (its own package lists, cache and an empty dpkg status)
 * with APT::Architecture=i386, reusing the host's sources and keys, so the host's dpkg configuration
 * is never touched. Layout:
 *
 *   <cache>/apt/                                  private apt state
 *   <cache>/images/<package>_<version>_<arch>/    one unpacked .deb each, renamed into place when complete
 *   <cache>/images/manifest.json                  what was fetched, when, and where the useful files are
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

export type ImageKind = 'installer' | 'kernel' | 'busybox' | 'seabios';
export const IMAGE_KINDS: readonly ImageKind[] = ['installer', 'kernel', 'busybox', 'seabios'];

/** Which Debian package each kind comes from; the kernel's name is resolved through this metapackage. */
export const INSTALLER_PACKAGE = 'debian-installer-12-netboot-i386';
export const KERNEL_METAPACKAGE = 'linux-image-686-pae';
export const BUSYBOX_PACKAGE = 'busybox-static';
export const SEABIOS_PACKAGE = 'seabios';

export interface FetchedPackage {
  name: string;
  version: string;
  architecture: string;
  /** Absolute path of the unpacked package tree. */
  dir: string;
  /** ISO time at which it was downloaded and unpacked. */
  fetchedAt: string;
  /** Size of the .deb that was downloaded. */
  debBytes: number;
}

export interface ImageEntry<F extends string> {
  package: FetchedPackage;
  /** Absolute paths of the useful files (or directories) inside the package tree. */
  files: Record<F, string>;
}

export interface ImageManifest {
  /** The typevisor cache directory the images live under. */
  cacheDir: string;
  updatedAt: string;
  /** The debian-installer netboot tree's stock 686 kernel and text-mode initrd. */
  installer?: ImageEntry<'kernel' | 'initrd'> & { kernelVersion: string | null };
  /** linux-image-6.1.0-N-686-pae-unsigned, with its modules tree. */
  kernel?: ImageEntry<'vmlinuz' | 'modules' | 'config'> & {
    release: string;
    metapackage: { name: string; version: string };
  };
  busybox?: ImageEntry<'busybox'>;
  seabios?: ImageEntry<'bios' | 'bios256k'>;
}

export type ImagesErrorCode = 'tool-missing' | 'package-not-found' | 'command-failed' | 'bad-package';

export class ImagesError extends Error {
  override readonly name = 'ImagesError';
  constructor(
    readonly code: ImagesErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program without a shell. Resolves whatever its exit status; rejects only when it could not be
 * started at all (then with Node's error, whose `code` is e.g. 'ENOENT').
 */
export type CommandRunner = (command: string, args: readonly string[], options?: { cwd?: string }) => Promise<RunResult>;

export const defaultRunner: CommandRunner = (command, args, options = {}) =>
  new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      // LC_ALL=C: apt's messages are parsed and quoted in errors, so keep them untranslated.
      { cwd: options.cwd, env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 << 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        // A string code (ENOENT, EACCES, ERR_CHILD_PROCESS_STDIO_MAXBUFFER) means it did not run to the end.
        if (typeof error?.code === 'string') reject(Object.assign(new Error(error.message), { code: error.code }));
        else if (error) resolve({ code: error.code ?? 128, stdout, stderr: stderr || `killed by ${error.signal ?? 'a signal'}` });
        else resolve({ code: 0, stdout, stderr });
      },
    );
  });

export interface EnsureImagesOptions {
  /** The typevisor cache directory; defaults to imageCacheDir(). */
  cacheDir?: string;
  /** Which images to make sure of; defaults to all of them. */
  only?: readonly ImageKind[];
  /** Update the package lists and fetch newer versions even when every image is already there. */
  refresh?: boolean;
  run?: CommandRunner;
  log?: (line: string) => void;
}

/** TYPEVISOR_CACHE_DIR, else $XDG_CACHE_HOME/typevisor, else ~/.cache/typevisor. */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TYPEVISOR_CACHE_DIR) return path.resolve(env.TYPEVISOR_CACHE_DIR);
  // The XDG spec says to ignore a relative XDG_CACHE_HOME.
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'typevisor');
  return path.join(os.homedir(), '.cache', 'typevisor');
}

export function imagesDir(cacheDir: string): string {
  return path.join(cacheDir, 'images');
}

export function manifestPath(cacheDir: string): string {
  return path.join(imagesDir(cacheDir), 'manifest.json');
}

/**
 * Makes sure the requested images are in the cache, downloading and unpacking what is missing, and
 * returns the manifest. When everything is already there (and `refresh` is not set) it runs nothing.
 */
export async function ensureImages(options: EnsureImagesOptions = {}): Promise<ImageManifest> {
  const cacheDir = path.resolve(options.cacheDir ?? imageCacheDir());
  const kinds = options.only ?? IMAGE_KINDS;
  const run = options.run ?? defaultRunner;
  const log = options.log ?? (() => {});

  const existing = await readManifest(cacheDir);
  const missing: ImageKind[] = [];
  for (const kind of kinds) if (!(existing && (await entryIsPresent(existing, kind)))) missing.push(kind);
  if (missing.length === 0 && !options.refresh) return existing ?? { cacheDir, updatedAt: '' };

  await checkTools(run);
  const images = imagesDir(cacheDir);
  await fs.mkdir(images, { recursive: true });
  await removeStaleTempDirs(images);
  const apt = new PrivateApt(path.join(cacheDir, 'apt'), run);
  log('updating the i386 package lists…');
  for (const warning of await apt.update()) log(warning);

  const wanted = options.refresh ? [...kinds] : missing;
  const kernel = wanted.includes('kernel') ? await resolveKernelPackage(apt) : null;
  const names = wanted.map((kind) => (kind === 'kernel' ? kernel!.package : packageOf(kind)));
  const candidates = await apt.show(names);

  const fetched = await fetchPackages(apt, images, candidates, log);
  const located: Partial<ImageManifest> = {};
  for (const [i, kind] of wanted.entries()) {
    const pkg = fetched[i];
    switch (kind) {
      case 'installer':
        located.installer = await locateInstaller(pkg);
        break;
      case 'kernel':
        located.kernel = { ...(await locateKernel(pkg)), metapackage: { name: KERNEL_METAPACKAGE, version: kernel!.metapackageVersion } };
        break;
      case 'busybox':
        located.busybox = await locateBusybox(pkg);
        break;
      case 'seabios':
        located.seabios = await locateSeabios(pkg);
        break;
    }
  }
  // Re-read just before writing so that a concurrent fetch of other kinds is not lost.
  const latest = (await readManifest(cacheDir)) ?? { cacheDir, updatedAt: '' };
  const manifest: ImageManifest = { ...latest, ...located, cacheDir, updatedAt: new Date().toISOString() };
  await writeManifest(manifest);
  return manifest;
}

function packageOf(kind: Exclude<ImageKind, 'kernel'>): string {
  return { installer: INSTALLER_PACKAGE, busybox: BUSYBOX_PACKAGE, seabios: SEABIOS_PACKAGE }[kind];
}

const TOOLS = ['apt-get', 'apt-cache', 'dpkg-deb'] as const;

/** One clear error naming every missing tool, before anything is downloaded. */
async function checkTools(run: CommandRunner): Promise<void> {
  const missing: string[] = [];
  for (const tool of TOOLS) {
    try {
      await run(tool, ['--version']);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') missing.push(tool);
      else throw e;
    }
  }
  if (missing.length > 0) {
    throw new ImagesError(
      'tool-missing',
      `guest images are fetched with Debian's apt and dpkg, but ${missing.join(', ')} ` +
        `${missing.length === 1 ? 'is' : 'are'} not available on this machine (not found on PATH). ` +
        'Run `typevisor images fetch` on a Debian or Ubuntu machine and copy its cache directory here ' +
        '(point TYPEVISOR_CACHE_DIR at it).',
    );
  }
}

/** apt with its own lists, cache and empty dpkg status, for i386, reading the host's sources and keys. */
export class PrivateApt {
  constructor(
    readonly dir: string,
    private readonly run: CommandRunner,
  ) {}

  private options(): string[] {
    const settings: Record<string, string> = {
      'Dir::State::Lists': path.join(this.dir, 'lists'),
      'Dir::State::Status': path.join(this.dir, 'status'),
      'Dir::Cache': path.join(this.dir, 'cache'),
      'Dir::Etc::SourceList': '/etc/apt/sources.list',
      'Dir::Etc::SourceParts': '/etc/apt/sources.list.d',
      'APT::Architecture': 'i386',
      'APT::Architectures': 'i386',
      // Only the Packages indices are needed, not the translated descriptions.
      'Acquire::Languages': 'none',
    };
    // As root apt downloads as the _apt user, who cannot enter a private cache under /root; it would
    // fall back to root with a warning anyway.
    if (process.getuid?.() === 0) settings['APT::Sandbox::User'] = 'root';
    return Object.entries(settings).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  }

  private async apt(command: 'apt-get' | 'apt-cache', args: string[], cwd?: string): Promise<RunResult> {
    return runTool(this.run, command, ['-q', ...this.options(), ...args], cwd);
  }

  /**
   * `apt-get update`. A mirror that fails for one suite (e.g. a sync in progress) does not stop the
   * fetch when the other lists are there: its errors are returned as warnings.
   */
  async update(): Promise<string[]> {
    for (const sub of ['lists/partial', 'cache/archives/partial']) await fs.mkdir(path.join(this.dir, sub), { recursive: true });
    const status = path.join(this.dir, 'status');
    await fs.writeFile(status, '', { flag: 'a' });
    const r = await this.apt('apt-get', ['update']);
    if (r.code === 0) return [];
    const errors = aptErrors(r);
    const lists = await fs.readdir(path.join(this.dir, 'lists'));
    if (!lists.some((f) => f.includes('_Packages'))) {
      throw new ImagesError('command-failed', `apt-get update failed (exit ${r.code}) and there are no package lists:\n${errors}`);
    }
    return [`apt-get update reported errors; going on with the lists it has:\n${errors}`];
  }

  /** The candidate version of each package, in order; a clear error naming those apt does not know. */
  async show(names: readonly string[]): Promise<AptPackage[]> {
    if (names.length === 0) return [];
    const r = await this.apt('apt-cache', ['show', '--no-all-versions', ...names]);
    const stanzas = parseStanzas(r.stdout);
    const missing = names.filter((n) => !stanzas.some((s) => s.Package === n));
    if (missing.length > 0) {
      throw new ImagesError('package-not-found', `apt has no i386 or all package named ${missing.join(', ')} in the host's sources (/etc/apt/sources.list, /etc/apt/sources.list.d/)${r.code === 0 ? '' : `:\n${aptErrors(r)}`}`);
    }
    return names.map((name) => {
      const s = stanzas.find((st) => st.Package === name)!;
      return { name, version: s.Version, architecture: s.Architecture, size: Number(s.Size), fields: s };
    });
  }

  /** dpkg-deb -x (unpack) or --field (read the control fields). */
  async dpkgDeb(args: string[]): Promise<RunResult> {
    const r = await runTool(this.run, 'dpkg-deb', args);
    if (r.code !== 0) throw new ImagesError('command-failed', `dpkg-deb ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr.trim()}`);
    return r;
  }

  async download(specs: readonly string[], cwd: string): Promise<void> {
    const r = await this.apt('apt-get', ['download', ...specs], cwd);
    if (r.code !== 0) throw new ImagesError('command-failed', `apt-get download ${specs.join(' ')} failed (exit ${r.code}):\n${aptErrors(r)}`);
  }
}

export interface AptPackage {
  name: string;
  version: string;
  architecture: string;
  /** Size of the .deb in bytes. */
  size: number;
  /** All of apt-cache show's fields for the candidate version. */
  fields: Record<string, string>;
}

const TOOL_PURPOSE: Record<string, string> = {
  'apt-get': 'it downloads the guest images from Debian',
  'apt-cache': 'it finds the guest images in Debian',
  'dpkg-deb': 'it unpacks the downloaded .deb files',
};

async function runTool(run: CommandRunner, tool: string, args: readonly string[], cwd?: string): Promise<RunResult> {
  try {
    return await run(tool, args, { cwd });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ImagesError('tool-missing', `${tool} is not available on this machine (not found on PATH); ${TOOL_PURPOSE[tool] ?? 'typevisor images needs it'}`);
    }
    throw e;
  }
}

function aptErrors(r: RunResult): string {
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => /^[EW]: /.test(l));
  return (lines.length > 0 ? lines : r.stderr.trim().split('\n')).join('\n');
}

/** Parses deb822 stanzas ("Field: value", continuation lines indented, blank lines between). */
export function parseStanzas(text: string): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  let current: Record<string, string> | null = null;
  let last = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      current = null;
      continue;
    }
    if (/^\s/.test(line)) {
      if (current && last) current[last] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    if (!current) stanzas.push((current = {}));
    last = line.slice(0, colon);
    current[last] = line.slice(colon + 1).trim();
  }
  return stanzas;
}

/**
 * The metapackage depends on the signed linux-image-6.1.0-N-686-pae, whose vmlinuz and modules carry
 * Secure Boot signatures we have no use for; the unsigned build of the same ABI is the same kernel.
 */
export async function resolveKernelPackage(apt: PrivateApt): Promise<{ package: string; release: string; metapackageVersion: string }> {
  const [meta] = await apt.show([KERNEL_METAPACKAGE]);
  const depends = (meta.fields.Depends ?? '')
    .split(/[,|]/)
    .map((d) => d.trim().split(/[\s(]/)[0])
    .filter((d) => d !== '');
  const release = depends.map((d) => /^linux-image-(\d+\.\d+\.\d+-\d+-686-pae)(?:-unsigned)?$/.exec(d)?.[1]).find((x) => x !== undefined);
  if (!release) {
    throw new ImagesError('package-not-found', `${KERNEL_METAPACKAGE} ${meta.version} does not depend on a linux-image-X.Y.Z-N-686-pae package (Depends: ${depends.join(', ') || 'nothing'})`);
  }
  return { package: `linux-image-${release}-unsigned`, release, metapackageVersion: meta.version };
}

/** apt-get download's file naming: the epoch's colon is written %3a. */
function packageDirName(p: { name: string; version: string; architecture: string }): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.architecture}`;
}

/**
 * Downloads (one apt-get call) and unpacks the packages not already unpacked. Each is unpacked in a
 * temporary directory beside its final place and renamed there, so an interrupted fetch leaves nothing
 * that looks complete.
 */
async function fetchPackages(
  apt: PrivateApt,
  images: string,
  packages: readonly AptPackage[],
  log: (line: string) => void,
): Promise<FetchedPackage[]> {
  const result: FetchedPackage[] = [];
  const toFetch: AptPackage[] = [];
  for (const p of packages) {
    const dir = path.join(images, packageDirName(p));
    if (await exists(dir)) {
      const previous = await readFetchInfo(dir);
      result.push({ ...p, dir, fetchedAt: previous?.fetchedAt ?? '', debBytes: previous?.debBytes ?? p.size });
    } else {
      toFetch.push(p);
    }
  }
  if (toFetch.length === 0) return packages.map((p) => result.find((r) => r.name === p.name)!);

  const tmp = await fs.mkdtemp(path.join(images, '.fetch-'));
  try {
    const mb = toFetch.reduce((sum, p) => sum + p.size, 0) / 1e6;
    log(`downloading ${toFetch.map((p) => `${p.name} ${p.version}`).join(', ')} (${mb.toFixed(1)} MB)…`);
    await apt.download(
      toFetch.map((p) => `${p.name}=${p.version}`),
      tmp,
    );
    const debs = await fs.readdir(tmp);
    for (const p of toFetch) {
      const deb = debs.find((f) => f === `${packageDirName(p)}.deb`);
      if (!deb) throw new ImagesError('command-failed', `apt-get download did not leave ${packageDirName(p)}.deb (found: ${debs.join(', ') || 'nothing'})`);
      const debPath = path.join(tmp, deb);
      const fields = parseStanzas((await apt.dpkgDeb(['--field', debPath, 'Package', 'Version', 'Architecture'])).stdout)[0] ?? {};
      if (fields.Package !== p.name || fields.Version !== p.version || fields.Architecture !== p.architecture) {
        throw new ImagesError('bad-package', `${deb} says it is ${fields.Package} ${fields.Version} ${fields.Architecture}`);
      }
      log(`unpacking ${deb}…`);
      const unpacked = path.join(tmp, packageDirName(p));
      await apt.dpkgDeb(['-x', debPath, unpacked]);
      const info: FetchInfo = { fetchedAt: new Date().toISOString(), debBytes: (await fs.stat(debPath)).size };
      await fs.writeFile(path.join(unpacked, FETCH_INFO), JSON.stringify(info) + '\n');
      await fs.rm(debPath);
      const dir = path.join(images, packageDirName(p));
      try {
        await fs.rename(unpacked, dir);
      } catch (e) {
        // Another fetch finished the same package first: its copy is as good as ours.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      }
      result.push({ name: p.name, version: p.version, architecture: p.architecture, dir, ...info });
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  return packages.map((p) => result.find((r) => r.name === p.name)!);
}

/** Kept inside each unpacked tree so that a manifest rebuilt later still knows when it came. */
const FETCH_INFO = '.typevisor-fetch.json';
interface FetchInfo {
  fetchedAt: string;
  debBytes: number;
}

async function readFetchInfo(dir: string): Promise<FetchInfo | null> {
  try {
    const v: unknown = JSON.parse(await fs.readFile(path.join(dir, FETCH_INFO), 'utf8'));
    if (isRecord(v) && typeof v.fetchedAt === 'string' && typeof v.debBytes === 'number') return { fetchedAt: v.fetchedAt, debBytes: v.debBytes };
  } catch {
    // Missing or unreadable: the caller falls back to what apt says.
  }
  return null;
}

/** Temporary directories left by a fetch that was killed; a day is far longer than any fetch takes. */
async function removeStaleTempDirs(images: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await fs.readdir(images)) {
    if (!name.startsWith('.fetch-')) continue;
    const p = path.join(images, name);
    const st = await fs.stat(p).catch(() => null);
    if (st && st.mtimeMs < dayAgo) await fs.rm(p, { recursive: true, force: true });
  }
}

// ---- finding the useful files in each unpacked package ----

async function firstExisting(root: string, candidates: readonly string[], what: string, pkg: FetchedPackage): Promise<string> {
  for (const c of candidates) {
    const p = path.join(root, c);
    if (await exists(p)) return p;
  }
  throw new ImagesError('bad-package', `${pkg.name} ${pkg.version} has no ${what} (looked for ${candidates.join(', ')})`);
}

async function locateInstaller(pkg: FetchedPackage): Promise<NonNullable<ImageManifest['installer']>> {
  // The netboot tree is …/images/12/i386/{text,gtk}/debian-installer/i386/{linux,initrd.gz}; text mode wants text/.
  const all = (await fs.readdir(pkg.dir, { recursive: true })).map((p) => p.split(path.sep).join('/'));
  const kernels = all.filter((p) => p.endsWith('debian-installer/i386/linux') && all.includes(p.replace(/linux$/, 'initrd.gz')));
  const kernel = kernels.find((p) => p.includes('/text/')) ?? kernels.find((p) => !p.includes('/gtk/'));
  if (!kernel) throw new ImagesError('bad-package', `${pkg.name} ${pkg.version} has no debian-installer/i386/linux with an initrd.gz beside it`);
  const kernelPath = path.join(pkg.dir, kernel);
  return {
    package: pkg,
    files: { kernel: kernelPath, initrd: path.join(pkg.dir, kernel.replace(/linux$/, 'initrd.gz')) },
    kernelVersion: await bzImageVersion(kernelPath),
  };
}

async function locateKernel(pkg: FetchedPackage): Promise<Omit<NonNullable<ImageManifest['kernel']>, 'metapackage'>> {
  const release = /^linux-image-(.+)-unsigned$/.exec(pkg.name)?.[1] ?? pkg.name.replace(/^linux-image-/, '');
  return {
    package: pkg,
    release,
    files: {
      vmlinuz: await firstExisting(pkg.dir, [`boot/vmlinuz-${release}`], 'kernel', pkg),
      modules: await firstExisting(pkg.dir, [`lib/modules/${release}`, `usr/lib/modules/${release}`], 'modules tree', pkg),
      config: await firstExisting(pkg.dir, [`boot/config-${release}`], 'kernel config', pkg),
    },
  };
}

async function locateBusybox(pkg: FetchedPackage): Promise<NonNullable<ImageManifest['busybox']>> {
  const busybox = await firstExisting(pkg.dir, ['bin/busybox', 'usr/bin/busybox'], 'busybox binary', pkg);
  const elf = await elfIdent(busybox);
  // apt picks the native architecture when APT::Architecture is not honoured; catch that here.
  if (!elf || elf.class !== 1 || elf.machine !== 3) throw new ImagesError('bad-package', `${busybox} is not an i386 ELF executable`);
  return { package: pkg, files: { busybox } };
}

async function locateSeabios(pkg: FetchedPackage): Promise<NonNullable<ImageManifest['seabios']>> {
  return {
    package: pkg,
    files: {
      bios: await firstExisting(pkg.dir, ['usr/share/seabios/bios.bin'], 'bios.bin', pkg),
      bios256k: await firstExisting(pkg.dir, ['usr/share/seabios/bios-256k.bin'], 'bios-256k.bin', pkg),
    },
  };
}

async function readHead(file: string, length: number): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** ELF class (1 = 32-bit, 2 = 64-bit) and e_machine (3 = i386), or null if not ELF. */
export async function elfIdent(file: string): Promise<{ class: number; machine: number } | null> {
  const h = await readHead(file, 20);
  if (h.length < 20 || h.readUInt32BE(0) !== 0x7f454c46) return null;
  const le = h[5] === 1;
  return { class: h[4], machine: le ? h.readUInt16LE(18) : h.readUInt16BE(18) };
}

/** The version string a Linux bzImage carries in its setup header ("6.1.0-N-686 (…) #1 SMP …"). */
export async function bzImageVersion(file: string): Promise<string | null> {
  const h = await readHead(file, 0x10000);
  if (h.length < 0x210 || h.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const at = h.readUInt16LE(0x20e) + 0x200;
  const end = h.indexOf(0, at);
  return end > at ? h.toString('latin1', at, end) : null;
}

// ---- the manifest ----

async function entryIsPresent(m: ImageManifest, kind: ImageKind): Promise<boolean> {
  const entry = m[kind];
  if (!entry) return false;
  for (const p of [entry.package.dir, ...Object.values<string>(entry.files)]) if (!(await exists(p))) return false;
  return true;
}

/** The manifest stores paths relative to the images directory so that a cache can be moved or copied. */
async function writeManifest(m: ImageManifest): Promise<void> {
  const base = imagesDir(m.cacheDir);
  const stored: Record<string, unknown> = { schema: 1, updatedAt: m.updatedAt };
  for (const kind of IMAGE_KINDS) {
    const entry = m[kind];
    if (entry) stored[kind] = mapPaths(entry, (p) => path.relative(base, p));
  }
  const file = manifestPath(m.cacheDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(stored, null, 2) + '\n');
  await fs.rename(tmp, file);
}

function mapPaths<E extends ImageEntry<string>>(entry: E, f: (p: string) => string): E {
  const files = Object.fromEntries(Object.entries(entry.files).map(([k, v]) => [k, f(v)]));
  return { ...entry, package: { ...entry.package, dir: f(entry.package.dir) }, files };
}

/** The manifest of a cache directory, with absolute paths, or null if nothing was fetched there (or it is unreadable). */
export async function readManifest(cacheDir: string = imageCacheDir()): Promise<ImageManifest | null> {
  const base = imagesDir(cacheDir);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(manifestPath(cacheDir), 'utf8'));
  } catch {
    return null;
  }
  if (!isRecord(raw) || raw.schema !== 1) return null;
  const m: ImageManifest = { cacheDir: path.resolve(cacheDir), updatedAt: typeof raw.updatedAt === 'string' ? raw.updatedAt : '' };
  for (const kind of IMAGE_KINDS) {
    const e = raw[kind];
    // A malformed entry is treated as absent, so it is fetched again.
    if (isStoredEntry(e)) (m as Record<ImageKind, unknown>)[kind] = mapPaths(e, (p) => path.resolve(base, p));
  }
  return m;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStoredEntry(v: unknown): v is ImageEntry<string> {
  if (!isRecord(v) || !isRecord(v.package) || !isRecord(v.files)) return false;
  const p = v.package;
  return (
    ['name', 'version', 'architecture', 'dir', 'fetchedAt'].every((k) => typeof p[k] === 'string') &&
    typeof p.debBytes === 'number' &&
    Object.values(v.files).every((f) => typeof f === 'string')
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}
