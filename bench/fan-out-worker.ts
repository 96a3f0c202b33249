/**
 * One worker of bench/fan-out.ts, as a Lambda container is one: a process of its own (its own heap and DuckDB),
 * kept warm across the steps it is given over IPC (`single`, `map`, `reduce`, `merge`), replying with each step's
 * result and the process's peak RSS so far.
 */
import { mapFile, mergeDay, reduceBucket } from '../functions/batch/fan-out.ts';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';

export type WorkerStep =
  | { op: 'warm' }
  | { op: 'single'; lake: string; day: string }
  | { op: 'map'; lake: string; item: Parameters<typeof mapFile>[0] }
  | { op: 'reduce'; lake: string; item: Parameters<typeof reduceBucket>[0] }
  | { op: 'merge'; lake: string; job: Parameters<typeof mergeDay>[0]['job'] };

const depsOf = (lake: string) => ({
  store: new LocalDirectoryStore(lake),
  clock: () => new Date(),
  log: silentLog,
});

async function run(step: WorkerStep): Promise<unknown> {
  // A warm container: the modules and DuckDB loaded before the clock starts.
  if (step.op === 'warm')
    return (await import('../functions/pipeline/duckdb-session.ts')).duckdb().then(() => 'warm');
  const deps = depsOf(step.lake);
  switch (step.op) {
    case 'single':
      return (await runBatchDay({ day: step.day }, deps)).counts;
    case 'map':
      return (await mapFile(step.item, deps)).received;
    case 'reduce':
      return (await reduceBucket(step.item, deps)).facts;
    case 'merge':
      return (await mergeDay({ job: step.job }, deps)).counts;
  }
}

process.on('message', (message: { id: number; step: WorkerStep }) => {
  const t0 = performance.now();
  run(message.step).then(
    (result) =>
      process.send?.({
        id: message.id,
        ok: true,
        result,
        ms: performance.now() - t0,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      }),
    (error: Error) => process.send?.({ id: message.id, ok: false, error: `${error.name}: ${error.message}` }),
  );
});
