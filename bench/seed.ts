/**
 * Where the first-start seed's time goes (local/seed.ts, as `twinflow start` runs it on an empty data directory:
 * 7 days through the real functions in worker threads, local S3 and SQS), without the clicks stream and with it,
 * each `seed:` step stamped with the time since the runtime started; then the 7 days of clicks exports alone, in
 * process (the generator and DuckDB writing the files, no batch).
 *
 *   npx tsx bench/seed.ts [--runs 1] [--no-exports]
 *
 * Numbers, not a pass/fail timer. The two configurations alternate, so a busy machine skews both alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dataset } from '../functions/pipeline/datasets.ts';
import { addDays, dayOf } from '../functions/pipeline/dates.ts';
import { openStore } from '../functions/pipeline/open-store.ts';
import { synthTemplate } from '../lib/synth.ts';
import { CLICKS_PER_ORDER } from '../local/order-feed.ts';
import { startRuntime } from '../local/runtime.ts';
import type { CfnTemplate } from '../local/template-plan.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1' }, 'no-exports': { type: 'boolean', default: false } },
});

/** The template without the clicks queue's event source mapping: what the seed does for orders alone. */
function withoutClicksStream(template: CfnTemplate): CfnTemplate {
  const resources = Object.fromEntries(
    Object.entries(template.Resources).filter(
      ([, r]) => !(r.Type === 'AWS::Lambda::EventSourceMapping' && JSON.stringify(r).includes('Clicks')),
    ),
  );
  return { ...template, Resources: resources } as CfnTemplate;
}

async function seedOnce(template: CfnTemplate, label: string): Promise<number> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-seed-'));
  const t0 = performance.now();
  const steps: string[] = [];
  const runtime = await startRuntime({
    template,
    dataDir,
    port: 0,
    rate: 0,
    print: (line) => {
      if (line.startsWith('seed:')) steps.push(`${((performance.now() - t0) / 1000).toFixed(1)} s  ${line}`);
    },
  });
  try {
    const report = await runtime.seeded;
    const ms = report?.durationMs ?? Number.NaN;
    console.log(`${label}: seed ${(ms / 1000).toFixed(1)} s`);
    for (const step of steps) console.log(`  ${step}`);
    return ms;
  } finally {
    await runtime.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The seed's clicks exports alone: 7 days of 2,000 orders' clicks, one generation. */
async function clicksExportsOnly(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-seed-exports-'));
  try {
    // Imported here, so the seeds alone also run against an older local/ (a before/after comparison).
    const { writeDatasetLandingExports } = await import('../local/landing-export.ts');
    const today = dayOf(new Date());
    const days = Array.from({ length: 7 }, (_, i) => ({
      day: addDays(today, i - 7),
      rows: 2000 * CLICKS_PER_ORDER,
    }));
    const t0 = performance.now();
    const written = await writeDatasetLandingExports(
      { dataset: dataset('clicks'), days, seed: 1 },
      openStore(dir),
    );
    const rows = written.reduce((n, w) => n + w.rows, 0);
    console.log(
      `clicks exports alone: 7 days, ${rows} clicks in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const template = synthTemplate('dev', { stream: { maxBatchingWindowSeconds: 1 } }) as CfnTemplate;
const runs = Number(values.runs);
const totals = { without: 0, with: 0 };
for (let run = 0; run < runs; run++) {
  totals.without += await seedOnce(withoutClicksStream(template), 'without clicks');
  totals.with += await seedOnce(template, 'with clicks');
}
console.log(
  `mean of ${runs}: ${(totals.without / runs / 1000).toFixed(1)} s without clicks, ` +
    `${(totals.with / runs / 1000).toFixed(1)} s with (×${(totals.with / totals.without).toFixed(2)})`,
);
if (!values['no-exports']) await clicksExportsOnly();
