/**
 * What the function host loads by path in a worker thread (local/lambda-worker.ts and a handler), from the CLI
 * build (scripts/build-cli.mjs compiles both to node_modules/.cache/twinflow-cli/) or through tsx. Its
 * `import.meta.url` is kept by the build, so it tells the bundle from the sources: run from the sources (tsx,
 * vitest) nothing is compiled.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Manifest {
  startedAt: number;
  /** By source file relative to the repository: the compiled file, and every source it was built from. */
  compiled?: Record<string, { file: string; inputs: string[] }>;
}

const FROM_BUILD = !import.meta.url.endsWith('.ts');
const DIST_DIR = fileURLToPath(new URL('./', import.meta.url));
const ROOT = path.resolve(DIST_DIR, '../../..');

/**
 * The compiled JavaScript of `source` (an absolute path) when this module runs from the build and no source that
 * file was built from is newer than the build; else undefined. The manifest is read each time (a rebuild by
 * another `twinflow` replaces it), so a handler edited while `twinflow start` runs is never run stale: its next
 * cold start loads the rebuilt file, or the TypeScript through tsx.
 */
export function compiledEntry(source: string): string | undefined {
  if (!FROM_BUILD) return undefined;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(DIST_DIR, 'manifest.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  const compiled = manifest.compiled?.[path.relative(ROOT, source).split(path.sep).join('/')];
  if (!compiled) return undefined;
  try {
    statSync(path.join(DIST_DIR, compiled.file));
    for (const input of compiled.inputs) {
      if (statSync(path.join(ROOT, input)).mtimeMs > manifest.startedAt) return undefined;
    }
  } catch {
    return undefined; // removed by a clean build, or a source was removed or renamed
  }
  return path.join(DIST_DIR, compiled.file);
}

/** A worker module that registers tsx inside the worker (hooks are per thread on Node 20), then imports `worker`. */
export function tsxWorkerBootstrap(worker: string): URL {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(pathToFileURL(worker).href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/** The worker module and the handler URL it imports: both compiled when both are, else through tsx. */
export function workerModules(worker: string, handler: string): { workerUrl: URL; entryUrl: string } {
  const compiledWorker = compiledEntry(worker);
  const compiledHandler = compiledWorker && compiledEntry(handler);
  if (compiledWorker && compiledHandler) {
    return { workerUrl: pathToFileURL(compiledWorker), entryUrl: pathToFileURL(compiledHandler).href };
  }
  return { workerUrl: tsxWorkerBootstrap(worker), entryUrl: pathToFileURL(handler).href };
}
