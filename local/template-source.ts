import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { importThroughTsx } from '../cli/tsx-import.ts';
import { datasetsDir } from '../functions/pipeline/datasets.ts';
import type { CfnTemplate } from './template-plan.ts';

/**
 * The synthesized template the runtime reads, cached under the data directory by a hash of everything synthesis
 * depends on (stage, overrides, `lib/`, `bin/`, `cdk.json`, the aws-cdk-lib version, and the dataset declarations
 * the per-dataset resources come from). Any change to them re-synthesizes, so the cache cannot make local wiring
 * drift; an unchanged app starts in milliseconds.
 */

async function filesUnder(dir: string, extension?: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && (extension === undefined || e.name.endsWith(extension)))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

export async function synthesisKey(
  repoRoot: string,
  stage: string,
  overrides: unknown,
  declarations: string = datasetsDir(),
): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify({ stage, overrides }));
  const sources = [
    ...(await filesUnder(path.join(repoRoot, 'lib'), '.ts')),
    ...(await filesUnder(path.join(repoRoot, 'bin'), '.ts')),
    path.join(repoRoot, 'cdk.json'),
    path.join(repoRoot, 'node_modules', 'aws-cdk-lib', 'package.json'),
  ];
  const named = [
    ...sources.map((file) => [path.relative(repoRoot, file), file] as const),
    ...(await filesUnder(declarations)).map(
      (file) => [`datasets/${path.relative(declarations, file)}`, file] as const,
    ),
  ];
  for (const [name, file] of named) {
    hash.update(name);
    hash.update(await readFile(file).catch(() => Buffer.alloc(0)));
  }
  return hash.digest('hex').slice(0, 16);
}

export interface LoadedTemplate {
  template: CfnTemplate;
  fromCache: boolean;
  ms: number;
}

/** The template of `stage` with `overrides`, synthesized (via lib/synth.ts) or from the cache in `cacheDir`. */
export async function loadTemplate(options: {
  repoRoot: string;
  stage: string;
  overrides: Record<string, unknown>;
  cacheDir: string;
}): Promise<LoadedTemplate> {
  const started = performance.now();
  const key = await synthesisKey(options.repoRoot, options.stage, options.overrides);
  const cached = path.join(options.cacheDir, `template-${options.stage}-${key}.json`);
  if (existsSync(cached)) {
    const template = JSON.parse(await readFile(cached, 'utf8')) as CfnTemplate;
    return { template, fromCache: true, ms: performance.now() - started };
  }
  // The CDK app is not in the CLI build (scripts/build-cli.mjs): from the build, it runs through tsx.
  const { synthTemplate } = await importThroughTsx(() => import('../lib/synth.ts'));
  const template = synthTemplate(options.stage, options.overrides) as CfnTemplate;
  await mkdir(options.cacheDir, { recursive: true });
  await writeFile(`${cached}.tmp`, JSON.stringify(template));
  await rename(`${cached}.tmp`, cached);
  return { template, fromCache: false, ms: performance.now() - started };
}
