import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOP_HELP_LIMITS } from '../../cli/commands/top.ts';
import { TOP_LIMITS } from '../../functions/serving/top.ts';
import { twinflowFunctions } from '../../lib/twinflow-functions.ts';
// @ts-expect-error: a plain .mjs script, no declarations
import { DIST_DIR, freshEntry } from '../../scripts/build-cli.mjs';
import { twinflowWith } from '../support/cli.ts';

const manifestPath = path.join(DIST_DIR as string, 'manifest.json');
const manifest = () =>
  JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    startedAt: number;
    entry: string;
    inputs: string[];
    compiled: Record<string, { file: string; inputs: string[] }>;
  };
const viaTsx = { TWINFLOW_CLI_TSX: '1' };

/** What the bin prints for these arguments, from the compiled CLI and from the TypeScript through tsx. */
async function bothWays(...args: string[]) {
  const [built, tsx] = await Promise.all([twinflowWith({}, ...args), twinflowWith(viaTsx, ...args)]);
  return { built, tsx };
}

/** The packages a module of the build imports before it runs (its static imports, through its chunks). */
function staticPackages(file: string, seen = new Set<string>()): Set<string> {
  const packages = new Set<string>();
  if (seen.has(file)) return packages;
  seen.add(file);
  const source = readFileSync(path.join(DIST_DIR as string, file), 'utf8');
  for (const [, specifier] of source.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["'];?$/gms)) {
    if (!specifier) continue;
    if (specifier.startsWith('./')) {
      for (const p of staticPackages(specifier.slice(2), seen)) packages.add(p);
    } else if (!specifier.startsWith('node:')) packages.add(specifier);
  }
  return packages;
}

describe('the compiled CLI', () => {
  it('answers --help exactly as the TypeScript sources through tsx do', async () => {
    for (const args of [
      ['--help'],
      ['replay', '--help'],
      ['stock', '--help'],
      ['dlq', 'redrive', '--help'],
    ]) {
      const { built, tsx } = await bothWays(...args);
      expect(built.code, args.join(' ')).toBe(0);
      expect(built, args.join(' ')).toEqual(tsx);
    }
    expect(freshEntry()).toBe(path.join(DIST_DIR as string, manifest().entry));
  });

  it('refuses bad input with the same message and exit code', async () => {
    for (const args of [['nope'], ['replay', '--from-kafka', '--partition', 'x'], ['batch']]) {
      const { built, tsx } = await bothWays(...args);
      expect(built.code, args.join(' ')).toBe(2);
      expect(built, args.join(' ')).toEqual(tsx);
    }
  });

  it('rebuilds before running when a source it was built from changed', async () => {
    await twinflowWith({}, '--help');
    const before = manifest();
    expect(before.inputs).toContain('cli/commands/datasets.ts');
    expect(before.inputs).toContain('functions/pipeline/datasets.ts');
    // Touched, not changed: the content (and so any concurrent test's output) stays the same.
    const source = path.resolve('cli/commands/datasets.ts');
    const now = new Date();
    utimesSync(source, now, now);
    expect(freshEntry()).toBeUndefined();
    const { built, tsx } = await bothWays('datasets', '--help');
    expect(built).toEqual(tsx);
    expect(manifest().startedAt).toBeGreaterThan(before.startedAt);
    expect(manifest().startedAt).toBeGreaterThanOrEqual(statSync(source).mtimeMs - 1);
    expect(freshEntry()).toBe(path.join(DIST_DIR as string, manifest().entry));
  });

  it('loads no DuckDB, AWS SDK or Kafka client before a command runs', () => {
    expect(readdirSync(DIST_DIR as string)).toContain(manifest().entry);
    const eager = [...staticPackages(manifest().entry)].sort();
    expect(eager).toEqual(['commander', 'p-limit', 'yaml', 'zod']);
  });

  it("compiles the function host's worker and every function's handler, each with the sources it is built from", async () => {
    await twinflowWith({}, '--help');
    const { compiled, inputs } = manifest();
    const handlers = new Set(twinflowFunctions().map((fn) => fn.entry));
    expect(Object.keys(compiled).sort()).toEqual(['local/lambda-worker.ts', ...handlers].sort());
    for (const [source, { file, inputs: from }] of Object.entries(compiled)) {
      expect(readdirSync(DIST_DIR as string), source).toContain(file);
      expect(from, source).toContain(source);
      // The CLI's freshness check covers them: a handler edited is rebuilt before the next start.
      for (const input of from) expect(inputs, source).toContain(input);
    }
    expect(compiled['functions/query-sales/handler.ts']?.inputs).toContain('functions/pipeline/datasets.ts');
  });

  it("states top's bounds as functions/serving/top.ts does (the help cannot load it)", () => {
    expect(TOP_HELP_LIMITS).toEqual(TOP_LIMITS);
  });
});
