// Compiles the CLI (cli/main.ts and what it imports) to JavaScript in node_modules/.cache/twinflow-cli/, so
// `twinflow` starts without tsx: `node scripts/build-cli.mjs` (npm's `prepare`, so `npm ci` builds it; `npm run
// build:cli`). cli/twinflow.js asks `freshEntry()` on every run and rebuilds first when a source the build read is
// newer than the build.
//
// One ESM bundle with code splitting, packages left to node_modules: each command's heavy code (DuckDB, AWS SDK,
// Kafka…) is a chunk its action imports, so `--help` loads only the declarations. A bundled module's
// `import.meta.url` is rewritten to its source file's URL (datasets.ts finds datasets/ from it, runtime.ts the
// repository). The local runtime and its function host are chunks like any command's; what a worker thread loads
// by path is an entry of its own: local/lambda-worker.ts and every handler of lib/twinflow-functions.ts. The
// manifest maps each to its file and the sources it was built from, and the function host loads it from there
// only while it is fresh (local/compiled-entry.ts), else the TypeScript through tsx. Only the CDK app
// (lib/synth.ts, when the template is not cached) still runs through tsx (cli/tsx-import.ts).
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(fileURLToPath(new URL('../', import.meta.url)));
export const DIST_DIR = path.join(ROOT, 'node_modules', '.cache', 'twinflow-cli');
const MANIFEST = path.join(DIST_DIR, 'manifest.json');
const SELF = path.relative(ROOT, fileURLToPath(import.meta.url));

/** Loaded through tsx, never bundled: the CDK app (its constructs compute paths from their own location). */
const TSX_LOADED = new Set(['lib/synth.ts']);
/** Their `import.meta` is the bundle's: they tell the bundle from the sources. */
const KEEPS_IMPORT_META = new Set(['cli/tsx-import.ts', 'local/compiled-entry.ts']);
/** Worker threads load these by path: each is an entry, compiled on its own. */
const WORKER_ENTRY = 'local/lambda-worker.ts';
const FUNCTIONS_LIST = 'lib/twinflow-functions.ts';
/** The handler of every function of lib/twinflow-functions.ts (its `entry`s). */
const handlerEntries = () => [
  ...new Set(
    readFileSync(path.join(ROOT, FUNCTIONS_LIST), 'utf8').match(/(?<=')functions\/[\w/-]+\.ts(?=')/g),
  ),
];
/** A path or URL relative to the bundle's directory, in the bundle's source. */
const fromDist = (file) =>
  JSON.stringify(path.relative(DIST_DIR, path.join(ROOT, file)).split(path.sep).join('/'));

/**
 * The entry of the build when it is newer than every source it was built from, else undefined. The manifest names
 * the entry (main-<hash>.js) and lists the sources (from esbuild's metafile) with the time the build started, so
 * this is one stat per source.
 */
export function freshEntry() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return undefined;
  }
  const entry = path.join(DIST_DIR, manifest.entry);
  if (!existsSync(entry)) return undefined;
  for (const input of manifest.inputs) {
    try {
      if (statSync(path.join(ROOT, input)).mtimeMs > manifest.startedAt) return undefined;
    } catch {
      return undefined; // a source was removed or renamed
    }
  }
  return entry;
}

/**
 * Builds the CLI and returns its entry. Concurrent builds (parallel test processes) are safe: every file is named
 * by its content's hash and written under a temporary name then renamed, the manifest, which names the entry, last.
 * `clean` removes every file of an older build (otherwise only those unused for an hour, which a long-running
 * `start` cannot still need).
 */
export async function buildCli({ clean = false } = {}) {
  const esbuild = await import('esbuild');
  const startedAt = Date.now() - 1; // a source saved during the build is newer than the build
  const tsxLoaded = {
    name: 'tsx-loaded',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const file = path.relative(ROOT, path.resolve(args.resolveDir, args.path));
        if (!TSX_LOADED.has(file)) return undefined;
        if (args.kind !== 'dynamic-import') {
          return { errors: [{ text: `${file} must be imported lazily, through importThroughTsx` }] };
        }
        return { path: JSON.parse(fromDist(file)), external: true };
      });
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const file = path.relative(ROOT, args.path);
        if (file.startsWith('node_modules') || KEEPS_IMPORT_META.has(file)) return undefined;
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta')) return undefined;
        if (/import\.meta(?!\.url\b)/.test(source)) {
          return { errors: [{ text: `${file}: only import.meta.url can be bundled` }] };
        }
        const url = `new URL(${fromDist(file)}, import.meta.url).href`;
        return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
      });
    },
  };
  const handlers = handlerEntries();
  if (handlers.length === 0) throw new Error(`no handler entries found in ${FUNCTIONS_LIST}`);
  const compiledSources = [WORKER_ENTRY, ...handlers];
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    // Named by their source path, so every handler.ts has its own file.
    entryPoints: [
      { in: 'cli/main.ts', out: 'main' },
      ...compiledSources.map((file) => ({ in: file, out: file.replace(/\.ts$/, '').replaceAll('/', '-') })),
    ],
    outdir: DIST_DIR,
    entryNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    keepNames: true,
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'silent',
    plugins: [tsxLoaded],
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('node_modules/'));
  const outputsOf = result.metafile.outputs;
  /** The sources an output and every chunk it imports (statically or lazily) were built from. */
  const sourcesOf = (output, seen = new Set()) => {
    if (seen.has(output)) return new Set();
    seen.add(output);
    const sources = new Set(
      Object.keys(outputsOf[output].inputs).filter((f) => !f.startsWith('node_modules/')),
    );
    for (const imported of outputsOf[output].imports) {
      if (imported.external || !outputsOf[imported.path]) continue;
      for (const source of sourcesOf(imported.path, seen)) sources.add(source);
    }
    return sources;
  };
  const compiled = {};
  for (const [output, { entryPoint }] of Object.entries(outputsOf)) {
    if (!compiledSources.includes(entryPoint)) continue;
    // The handler list and this script decide what is compiled: a change to either is a change to every entry.
    const from = [...sourcesOf(output), FUNCTIONS_LIST, SELF].sort();
    compiled[entryPoint] = { file: path.basename(output), inputs: [...new Set(from)] };
  }
  const missing = compiledSources.filter((file) => !compiled[file]);
  if (missing.length > 0) throw new Error(`esbuild named no output for ${missing.join(', ')}`);
  mkdirSync(DIST_DIR, { recursive: true });
  const write = (file, contents) => {
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, contents);
    renameSync(temporary, file);
  };
  const outputs = result.outputFiles;
  for (const output of outputs) write(output.path, output.contents);
  const [entry] = Object.entries(result.metafile.outputs).filter(([, o]) => o.entryPoint === 'cli/main.ts');
  if (!entry) throw new Error('esbuild named no entry for cli/main.ts');
  const manifest = {
    startedAt,
    entry: path.basename(entry[0]),
    inputs: [...new Set([...inputs, FUNCTIONS_LIST, SELF])].sort(),
    compiled,
  };
  write(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);

  const current = new Set([...outputs.map((o) => path.basename(o.path)), 'manifest.json']);
  for (const file of readdirSync(DIST_DIR)) {
    const full = path.join(DIST_DIR, file);
    if (current.has(file)) continue;
    try {
      if (clean || statSync(full).mtimeMs < Date.now() - 3_600_000) unlinkSync(full);
    } catch {
      // another build removed it
    }
  }
  return { entry: path.join(DIST_DIR, manifest.entry), inputs: inputs.length, outputs: outputs.length };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const started = performance.now();
  let built;
  try {
    built = await buildCli({ clean: true });
  } catch (error) {
    // Installed without devDependencies: cli/twinflow.js loads the TypeScript through tsx instead.
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes("'esbuild'")) throw error;
    console.log('build-cli: esbuild is not installed; twinflow will run its TypeScript through tsx');
    process.exit(0);
  }
  const { inputs, outputs } = built;
  console.log(
    `built ${path.relative(ROOT, DIST_DIR)}/ from ${inputs} sources into ${outputs} files (${Math.round(performance.now() - started)} ms)`,
  );
}
