/** `typevisor images fetch|list`: the guest images cache (src/toolstack/images.ts). */
import * as fs from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  IMAGE_KINDS,
  ImagesError,
  ensureImages,
  imageCacheDir,
  imagesDir,
  readManifest,
  type ImageKind,
  type ImageManifest,
} from '../toolstack/images.js';

export function imagesCommand(): Command {
  const images = new Command('images').description('the Debian i386 kernels, initrd, busybox and SeaBIOS that guests boot');
  const cacheOption = () => new Option('--cache <dir>', 'cache directory (default: $TYPEVISOR_CACHE_DIR, $XDG_CACHE_HOME/typevisor or ~/.cache/typevisor)');

  images
    .command('fetch')
    .description('download (with apt-get) and unpack whatever images are missing from the cache')
    .addOption(cacheOption())
    .option('--refresh', 'update the package lists and fetch newer versions even if the images are there')
    .addOption(new Option('--only <kinds...>', 'fetch only these images').choices(IMAGE_KINDS))
    .action(async (opts: { cache?: string; refresh?: boolean; only?: ImageKind[] }) => {
      process.exitCode = await fetchImages(opts);
    });

  images
    .command('list')
    .description('show what is in the cache (no network)')
    .addOption(cacheOption())
    .option('--json', 'print the manifest as JSON')
    .action(async (opts: { cache?: string; json?: boolean }) => {
      process.exitCode = await listImages(opts);
    });
  return images;
}

/** Returns the process exit code. */
export async function fetchImages(
  opts: { cache?: string; refresh?: boolean; only?: readonly ImageKind[] },
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  const started = performance.now();
  try {
    const manifest = await ensureImages({ cacheDir: opts.cache, refresh: opts.refresh, only: opts.only, log: out });
    await printManifest(manifest, out);
    out(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    if (!(e instanceof ImagesError)) throw e;
    err(`typevisor images: ${e.message}`);
    return 1;
  }
}

/** Returns the process exit code: 1 when nothing has been fetched into that cache yet. */
export async function listImages(opts: { cache?: string; json?: boolean }, out: (line: string) => void = console.log): Promise<number> {
  const cacheDir = opts.cache ?? imageCacheDir();
  const manifest = await readManifest(cacheDir);
  if (opts.json) {
    out(JSON.stringify(manifest, null, 2));
  } else if (!manifest) {
    out(`no images in ${imagesDir(cacheDir)}; run \`typevisor images fetch\``);
  } else {
    await printManifest(manifest, out);
  }
  return manifest ? 0 : 1;
}

async function printManifest(m: ImageManifest, out: (line: string) => void): Promise<void> {
  out(`images in ${imagesDir(m.cacheDir)} (manifest updated ${m.updatedAt})`);
  const missing: ImageKind[] = [];
  for (const kind of IMAGE_KINDS) {
    const entry = m[kind];
    if (!entry) {
      missing.push(kind);
      continue;
    }
    const p = entry.package;
    let line = `${kind.padEnd(10)} ${p.name} ${p.version} (${p.architecture}, ${mb(p.debBytes)} .deb, fetched ${p.fetchedAt})`;
    if (m.kernel && kind === 'kernel') line += ` via ${m.kernel.metapackage.name} ${m.kernel.metapackage.version}`;
    out(line);
    for (const [name, file] of Object.entries<string>(entry.files)) out(`  ${name.padEnd(9)} ${file} ${await describe(file)}`);
    if (m.installer && kind === 'installer') out(`  ${'version'.padEnd(9)} ${m.installer.kernelVersion ?? 'unknown'}`);
  }
  if (missing.length > 0) out(`not fetched: ${missing.join(', ')}`);
}

async function describe(file: string): Promise<string> {
  const st = await fs.stat(file).catch(() => null);
  if (!st) return '(MISSING)';
  return st.isDirectory() ? '(directory)' : `(${mb(st.size)})`;
}

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(0)} kB`;
}
