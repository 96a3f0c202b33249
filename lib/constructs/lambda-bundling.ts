import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';

/** Repository root: the esbuild project root and where `node_modules` is copied from. */
export const PROJECT_ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));

/**
 * DuckDB ships a native addon, which esbuild cannot bundle. These packages stay external and are copied
 * into the asset's `node_modules` as installed: the JS API, its loader, ONLY the linux-x64 (glibc) binary
 * Lambda x86_64 needs, and `detect-libc`, which the loader requires to tell glibc from musl.
 */
export const DUCKDB_EXTERNAL_PACKAGES = [
  '@duckdb/node-api',
  '@duckdb/node-bindings',
  '@duckdb/node-bindings-linux-x64',
] as const;
export const COPIED_RUNTIME_PACKAGES = [...DUCKDB_EXTERNAL_PACKAGES, 'detect-libc'] as const;

/** The dataset declarations and their models (functions/pipeline/datasets.ts finds `datasets/` next to the bundle). */
const DATASETS_DIR = 'datasets';

/**
 * Lets CommonJS dependencies call `require` inside the ESM bundle. Aliased import so it cannot clash with a
 * bundled module's own `createRequire` binding.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __twinflowCreateRequire } from 'node:module'; const require = __twinflowCreateRequire(import.meta.url);";

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Shell commands that copy the runtime packages and the dataset declarations (with their SQL) next to the bundle.
 * The declarations are the ones the app was synthesized from (`TWINFLOW_DATASETS_DIR` or `datasets/`), so every
 * per-dataset function finds its dataset.
 */
export function afterBundlingCommands(
  inputDir: string,
  outputDir: string,
  declarations: string = datasetsDir(),
): string[] {
  const modules = path.posix.join(outputDir, 'node_modules');
  const commands = [`mkdir -p ${shellQuote(path.posix.join(modules, '@duckdb'))}`];
  for (const name of COPIED_RUNTIME_PACKAGES) {
    const target = path.posix.dirname(path.posix.join(modules, name));
    commands.push(
      `cp -R ${shellQuote(path.posix.join(inputDir, 'node_modules', name))} ${shellQuote(target)}/`,
    );
  }
  // Type declarations and source maps of the copied packages are dead weight at runtime.
  commands.push(`find ${shellQuote(modules)} -type f \\( -name '*.d.ts' -o -name '*.map' \\) -delete`);
  commands.push(
    `cp -R ${shellQuote(path.resolve(declarations))} ${shellQuote(path.posix.join(outputDir, DATASETS_DIR))}`,
  );
  return commands;
}

/**
 * esbuild bundling for every Twinflow function: local esbuild (never Docker, so synth works offline), ESM
 * output (`index.mjs`) targeting Node 22, AWS SDK bundled (pinned versions, tree-shaken), DuckDB external.
 */
export function twinflowBundling(): nodejs.BundlingOptions {
  return {
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    target: 'node22',
    mainFields: ['module', 'main'],
    banner: ESM_REQUIRE_BANNER,
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    externalModules: [...DUCKDB_EXTERNAL_PACKAGES],
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (inputDir, outputDir) => afterBundlingCommands(inputDir, outputDir),
    },
  };
}
