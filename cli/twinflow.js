#!/usr/bin/env node
// Entry point for `npx twinflow`: runs the CLI compiled by scripts/build-cli.mjs into node_modules/.cache/twinflow-cli/
// (`npm ci` builds it, through `prepare`). When a source the build was made from is newer than the build, it
// rebuilds first, so the build is never stale; if it cannot build (no esbuild, a syntax error), it loads the
// TypeScript through tsx, as before the build existed (TWINFLOW_CLI_TSX=1 forces that).
import { pathToFileURL } from 'node:url';
import { buildCli, freshEntry } from '../scripts/build-cli.mjs';

async function compiledEntry() {
  if (process.env.TWINFLOW_CLI_TSX === '1') return undefined;
  try {
    return freshEntry() ?? (await buildCli()).entry;
  } catch {
    return undefined;
  }
}

const entry = await compiledEntry();
if (entry) {
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./main.ts');
}
