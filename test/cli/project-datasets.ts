import { cpSync } from 'node:fs';
import path from 'node:path';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';

const FIXTURES = {
  stock_moves: path.join(import.meta.dirname, '..', 'datasets', 'fixtures', 'stock_moves'),
  cycle_counts: path.join(import.meta.dirname, 'fixtures', 'cycle_counts'),
};

/**
 * A project copy's `datasets/` in `dir`: the shipped ones (orders) plus fixture folders the repository does not
 * ship — `stock_moves` (stream+batch) and `cycle_counts` (batch only) — plain files, no TypeScript.
 */
export function projectDatasets(dir: string, fixtures: readonly (keyof typeof FIXTURES)[]): string {
  cpSync(datasetsDir(), dir, { recursive: true });
  for (const name of fixtures) cpSync(FIXTURES[name], path.join(dir, name), { recursive: true });
  return dir;
}
