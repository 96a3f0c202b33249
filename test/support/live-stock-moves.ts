import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { addDays } from '../../functions/pipeline/dates.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { type CoreDeps, silentLog } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';

/**
 * A stock_moves lake around the wall clock, for what serves "now" without a clock to inject (the CLI, the Lambda
 * handler): movements 2 to 9 minutes ago (inside a 15-minute window even if the test takes minutes), 40 minutes
 * ago (outside it) and a published batch day two days ago, each of which would top the ranking if it leaked in.
 * The datasets directory must declare stock_moves (`TWINFLOW_DATASETS_DIR`).
 */
export async function liveStockMovesLake(lakeDir: string): Promise<{
  /** `[product_id, movements]` over the last 15 minutes, highest first, ties by product: counted here. */
  expected: [string, number][];
  /** The same, for warehouse w-north only. */
  expectedNorth: [string, number][];
}> {
  const now = Date.now();
  const deps: CoreDeps = {
    store: new LocalDirectoryStore(lakeDir),
    clock: () => new Date(now),
    log: silentLog,
  };
  let serial = 0;
  const move = (product: string, minutesAgo: number, warehouse = 'w-north') => {
    serial += 1;
    return {
      movement_id: `live-${serial}`,
      product_id: product,
      warehouse_id: warehouse,
      movement_type: 'sale',
      quantity: serial,
      event_time: new Date(now - minutesAgo * 60_000).toISOString(),
    };
  };
  const recent = [
    ...[2, 3, 5, 9].map((ago) => move('p-hot', ago, ago === 9 ? 'w-south' : 'w-north')),
    ...[4, 6].map((ago) => move('p-warm', ago, 'w-south')),
    ...[3, 8].map((ago) => move('p-cool', ago)),
  ];
  const older = [40, 41, 42, 43, 44, 45].map((ago) => move('p-old', ago));
  const day = addDays(new Date(now).toISOString().slice(0, 10), -2);
  const batchDay = Array.from({ length: 20 }, (_, i) => ({
    ...move('p-batch', 0),
    event_time: `${day}T12:${String(i).padStart(2, '0')}:00Z`,
  }));
  await deps.store.put(
    `landing/stock_moves/dt=${day}/moves.jsonl`,
    `${batchDay.map((m) => JSON.stringify(m)).join('\n')}\n`,
  );
  const report = await runBatchDay({ day, dataset: 'stock_moves', thresholds: { force: true } }, deps);
  if (report.status !== 'published') throw new Error(`batch day not published: ${report.error}`);
  const all = [...recent, ...older];
  for (const part of [all.slice(0, 5), all.slice(5)]) {
    const result = await consumeMicroBatch(
      {
        messages: part.map((m) => ({ messageId: `msg-${m.movement_id}`, body: JSON.stringify(m) })),
        dataset: 'stock_moves',
      },
      deps,
    );
    if (result.failedMessageIds.length > 0 || result.quarantined > 0) {
      throw new Error(`micro-batch failed: ${JSON.stringify(result)}`);
    }
  }
  const rank = (list: typeof recent): [string, number][] => {
    const counts = new Map<string, number>();
    for (const m of list) counts.set(m.product_id, (counts.get(m.product_id) ?? 0) + 1);
    return [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  };
  return { expected: rank(recent), expectedNorth: rank(recent.filter((m) => m.warehouse_id === 'w-north')) };
}
