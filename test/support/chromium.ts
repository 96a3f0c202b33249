import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';

/**
 * The browser tests' Chromium, from the first of:
 * 1. `CHROMIUM_PATH`, if set (any Chromium or Chrome build);
 * 2. the chrome-headless-shell that the devDependency `@sparticuz/chromium` ships inside its npm tarball
 *    (Linux x64 only), so `npm ci && npm test` needs nothing but Node and npm;
 * 3. the system's `/usr/bin/chromium` (Debian's `chromium` package), e.g. on arm64.
 */
export interface ChromiumExecutable {
  executablePath: string;
  source: 'CHROMIUM_PATH' | '@sparticuz/chromium' | 'system';
  /** Extra environment for the browser process (the shipped browser's own shared libraries). */
  env?: Record<string, string>;
}

const SYSTEM_CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // chrome-headless-shell takes navigator.language from the POSIX locale: under LANG=C.UTF-8 it is
  // 'en-US@posix', which Intl rejects (uPlot formats its axes with it) and the dashboard never loads.
  '--accept-lang=en-US',
];

/** Headless Chromium for a test; see {@link findChromium} for where it comes from. */
export async function launchChromium(): Promise<Browser> {
  const found = await findChromium();
  return chromium.launch({
    executablePath: found.executablePath,
    args: ARGS,
    ...(found.env ? { env: { ...process.env, ...found.env } } : {}),
  });
}

/** Resolves the browser to launch, unpacking the npm-shipped one on first use. */
export async function findChromium(): Promise<ChromiumExecutable> {
  const override = process.env['CHROMIUM_PATH'];
  if (override) return { executablePath: override, source: 'CHROMIUM_PATH' };
  const packageDir = shippedChromiumPackage();
  if (packageDir) return unpackShippedChromium(packageDir);
  if (existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, source: 'system' };
  throw new Error(
    `no Chromium for the browser tests: CHROMIUM_PATH is not set, @sparticuz/chromium is not installed ` +
      `(run npm ci; it ships Linux x64 only, this is ${process.platform} ${process.arch}) and ` +
      `${SYSTEM_CHROMIUM} does not exist (apt-get install chromium)`,
  );
}

/** The installed `@sparticuz/chromium` package folder, if this platform can run what it ships. */
function shippedChromiumPackage(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  try {
    // The package exports only its entry point (build/cjs/index.cjs): its folder is two levels up.
    const entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
    return path.resolve(path.dirname(entry), '..', '..');
  } catch {
    return undefined;
  }
}

/**
 * The package keeps the browser brotli-compressed (`bin/chromium.br`) with the NSS and expat libraries it links
 * against (`bin/al2023.tar.br`, built for Amazon Linux 2023, so they need only glibc ≥ 2.34). Its own
 * `executablePath()` inflates into the shared `/tmp/chromium` and returns that path as soon as the file
 * exists, so a second test worker could launch a half-written binary, and a stale one of another version is
 * never replaced. Here both go into a folder named by the package version under `node_modules/.cache`,
 * unpacked beside it and renamed into place whole.
 */
async function unpackShippedChromium(packageDir: string): Promise<ChromiumExecutable> {
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const target = path.resolve(packageDir, '..', '..', '.cache', `twinflow-chromium-${version}`);
  const found = (): ChromiumExecutable => ({
    executablePath: path.join(target, 'chromium'),
    source: '@sparticuz/chromium',
    env: {
      LD_LIBRARY_PATH: [path.join(target, 'lib'), process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
    },
  });
  if (existsSync(path.join(target, 'chromium'))) return found();

  const partial = `${target}.${process.pid}.${Math.random().toString(16).slice(2)}.partial`;
  try {
    await mkdir(path.join(partial, 'lib'), { recursive: true });
    await pipeline(
      createReadStream(path.join(packageDir, 'bin', 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(path.join(partial, 'chromium'), { mode: 0o755 }),
    );
    const libraries = path.join(partial, 'al2023.tar');
    await pipeline(
      createReadStream(path.join(packageDir, 'bin', 'al2023.tar.br')),
      createBrotliDecompress(),
      createWriteStream(libraries),
    );
    await untarFlat(await readFile(libraries), path.join(partial, 'lib'));
    await rm(libraries);
    await rename(partial, target);
  } catch (error) {
    // Another worker renamed its copy into place first: use that one.
    if (!existsSync(path.join(target, 'chromium'))) throw error;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return found();
}

/** Writes the regular files of a ustar archive into `into`, by base name (the archive holds `lib/*.so`). */
async function untarFlat(archive: Buffer, into: string): Promise<void> {
  let at = 0;
  while (at + 512 <= archive.length) {
    const header = archive.subarray(at, at + 512);
    if (header.every((byte) => byte === 0)) return;
    const field = (from: number, length: number) =>
      header
        .subarray(from, from + length)
        .toString('latin1')
        .replace(/\0[\s\S]*$/, '');
    const name = field(0, 100);
    const size = Number.parseInt(field(124, 12).trim(), 8);
    const type = field(156, 1);
    if (!Number.isFinite(size)) throw new Error(`al2023.tar: bad size in the header of ${name}`);
    at += 512;
    if (type === '0' || type === '') {
      await writeFile(path.join(into, path.basename(name)), archive.subarray(at, at + size), { mode: 0o755 });
    } else if (type !== '5') {
      throw new Error(`al2023.tar: ${name} is neither a file nor a folder (type ${type})`);
    }
    at += Math.ceil(size / 512) * 512;
  }
}
