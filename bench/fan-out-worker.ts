/**
 * One worker of bench/fan-out.ts, as a Lambda container is one: a process of its own (its own heap and DuckDB),
 * kept warm across the steps it is given over IPC (`single`, `map`, `reduce`, `merge`), replying with each step's
 * result, the process's peak RSS so far and the peak size of its temp directory (DuckDB's spill files and the work
 * files a step writes before uploading them; bench/fan-out.ts gives each worker a TMPDIR of its own).
 */
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mapFile, mergeDay, reduceBucket } from '../functions/batch/fan-out.ts';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';

export type WorkerStep =
  | { op: 'warm' }
  | { op: 'single'; lake: string; day: string }
  | { op: 'map'; lake: string; item: Parameters<typeof mapFile>[0] }
  | { op: 'reduce'; lake: string; item: Parameters<typeof reduceBucket>[0] }
  | { op: 'merge'; lake: string; job: Parameters<typeof mergeDay>[0]['job']; memoryLimitMb?: number };

const depsOf = (lake: string) => ({
  store: new LocalDirectoryStore(lake),
  clock: () => new Date(),
  log: silentLog,
});

/** Bytes of the files under `dir` (0 once it is gone). */
function bytesUnder(dir: string): number {
  let bytes = 0;
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const at = path.join(dir, entry.name);
      bytes += entry.isDirectory()
        ? bytesUnder(at)
        : entry.isFile()
          ? (statSync(at, { throwIfNoEntry: false })?.size ?? 0)
          : 0;
    }
  } catch {
    // removed while being listed
  }
  return bytes;
}

let peakTmpBytes = 0;
setInterval(() => {
  peakTmpBytes = Math.max(peakTmpBytes, bytesUnder(os.tmpdir()));
}, 50).unref();

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
      return (
        await mergeDay(
          {
            job: step.job,
            ...(step.memoryLimitMb !== undefined ? { memoryLimitMb: step.memoryLimitMb } : {}),
          },
          deps,
        )
      ).counts;
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
        peakTmpMb: peakTmpBytes / 1e6,
      }),
    (error: Error) => process.send?.({ id: message.id, ok: false, error: `${error.name}: ${error.message}` }),
  );
});
