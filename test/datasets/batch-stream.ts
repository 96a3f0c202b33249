import fc from 'fast-check';
import { expect } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { publishedFile, readPublished } from '../../functions/pipeline/batch-published.ts';
import { dataset, type ModelDeclaration } from '../../functions/pipeline/datasets.ts';
import { sqlPathList, withConnection } from '../../functions/pipeline/duckdb-session.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import {
  realtimeDaySnapshot,
  realtimeViewsOf,
  snapshotFiles,
} from '../../functions/pipeline/realtime-view.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../../functions/stream/micro-batch.ts';
import { microBatches, streamDeps } from '../stream/stream-helpers.ts';

/**
 * The scaffolding of the batch ≡ stream property tests (DESIGN invariant 1), for any declared dataset: a scenario
 * of events sent with redeliveries, producer retries (the same key in the same hour, another hour or on another
 * day) and shuffled arrival (so some events are late); the batch layer running each day's events as its export;
 * the speed layer consuming them in micro-batches then compacting; and a model's rows as each layer holds them.
 */

/** Where one copy of an event is stamped: its day and hour (the minute stays the event's). */
export interface Stamp {
  day: string;
  hour: string;
}

export interface Scenario {
  /** Every copy's body once (what the exports hold). */
  bodies: string[];
  /** Every delivery, redeliveries included, in a shuffled order. */
  deliveries: StreamMessage[];
  batchSize: number;
  /** Compact once halfway through the micro-batches too. */
  compactMidway: boolean;
}

/**
 * Scenarios of events drawn by `eventArb`: each sent as `body(event, i, stamp, retry)` (retry 0 is the first send),
 * retried by its producer up to twice (a new message, the same key) in the same hour, in another hour (10 ↔ 23) or
 * on another of `days`, and each message delivered once or twice.
 */
export function scenarioArb<E extends Stamp>(
  eventArb: fc.Arbitrary<E>,
  body: (event: E, i: number, stamp: Stamp, retry: number) => Record<string, unknown>,
  options: { days: readonly string[]; maxLength: number },
): fc.Arbitrary<Scenario> {
  return fc
    .array(
      fc.record({
        event: eventArb,
        redeliveries: fc.integer({ min: 0, max: 1 }),
        retries: fc.array(fc.constantFrom('same', 'hour', 'day'), { maxLength: 2 }),
      }),
      { minLength: 1, maxLength: options.maxLength },
    )
    .chain((items) => {
      const messages: StreamMessage[] = [];
      const bodies: string[] = [];
      items.forEach(({ event, redeliveries, retries }, i) => {
        const copies: Stamp[] = [{ day: event.day, hour: event.hour }];
        for (const shift of retries) {
          copies.push({
            day: shift === 'day' ? (options.days.find((d) => d !== event.day) ?? event.day) : event.day,
            hour: shift === 'hour' ? (event.hour === '10' ? '23' : '10') : event.hour,
          });
        }
        for (const [r, stamp] of copies.entries()) {
          const text = JSON.stringify(body(event, i, stamp, r));
          bodies.push(text);
          for (let d = 0; d <= redeliveries; d++) messages.push({ messageId: `m${i}-${r}`, body: text });
        }
      });
      return fc.record({
        bodies: fc.constant(bodies),
        deliveries: fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }),
        batchSize: fc.integer({ min: 3, max: 12 }),
        compactMidway: fc.boolean(),
      });
    });
}

/**
 * Runs a scenario through both layers, each on its own lake: batch publishes each of `days` that has events (its
 * events as that day's export, by the event-time field's day); the speed layer consumes every delivery in
 * micro-batches (none failed, none quarantined), compacting midway if asked, then `beforeLastCompaction`, then
 * compacts.
 */
export async function runBothLayers(
  datasetName: string,
  scenario: Scenario,
  options: {
    days: readonly string[];
    now: Date;
    beforeLastCompaction?: (speed: CoreDeps) => Promise<void>;
  },
): Promise<{ speed: CoreDeps; batch: CoreDeps }> {
  const { days, now } = options;
  const eventTime = dataset(datasetName).eventTime;
  const { deps: speed, clock } = streamDeps(now);
  const { deps: batch } = streamDeps(now);
  for (const day of days) {
    const lines = scenario.bodies.filter((b) =>
      String((JSON.parse(b) as Record<string, unknown>)[eventTime]).startsWith(day),
    );
    if (lines.length === 0) continue;
    await batch.store.put(`landing/${datasetName}/dt=${day}/${datasetName}.jsonl`, `${lines.join('\n')}\n`);
    const report = await runBatchDay({ day, dataset: datasetName, thresholds: { force: true } }, batch);
    expect(report.status, report.error).toBe('published');
  }
  const batches = microBatches(scenario.deliveries, scenario.batchSize);
  for (const [i, messages] of batches.entries()) {
    const result = await consumeMicroBatch({ messages, dataset: datasetName }, speed);
    expect(result.failedMessageIds).toEqual([]);
    expect(result.quarantined).toBe(0);
    if (scenario.compactMidway && i === Math.floor(batches.length / 2)) {
      await compactRealtime(speed, { now: clock.now, days: [...days], datasets: [datasetName] });
    }
  }
  await options.beforeLastCompaction?.(speed);
  await compactRealtime(speed, { now: clock.now, days: [...days], datasets: [datasetName] });
  return { speed, batch };
}

/**
 * A minute model's rows in some Parquet files, summed per minute (`YYYY-MM-DDTHH:MM`) and dimensions, in one order:
 * count, sum and money measures as text, a distinct measure as its sorted distinct values.
 */
async function declaredRows(model: ModelDeclaration, paths: string[]): Promise<Record<string, unknown>[]> {
  if (paths.length === 0) return [];
  const measures = Object.entries(model.measures).map(([name, m]) =>
    m.kind === 'distinct'
      ? `list_sort(list_distinct(flatten(list(${name})))) as ${name}`
      : `sum(${name})::varchar as ${name}`,
  );
  const columns = [`strftime(window_start, '%Y-%m-%dT%H:%M') as minute`, ...model.dimensions, ...measures];
  return withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `select ${columns.join(', ')} from read_parquet(${sqlPathList(paths)}) group by all order by all`,
      )
    ).getRowObjectsJson(),
  );
}

function modelOf(datasetName: string, modelName: string): ModelDeclaration {
  const model = dataset(datasetName).models.find((m) => m.name === modelName);
  if (!model) throw new Error(`dataset "${datasetName}" declares no model "${modelName}"`);
  return model;
}

/** A model's rows for a day as a reader of the realtime view sees them (its consistent snapshot). */
export async function realtimeRows(store: ObjectStore, datasetName: string, modelName: string, day: string) {
  const { manifestModel } = realtimeViewsOf(dataset(datasetName));
  const snapshot = await realtimeDaySnapshot(store, day, { model: modelName, manifestModel });
  const paths = await Promise.all(snapshotFiles(snapshot).map((info) => store.localPath(info)));
  return declaredRows(modelOf(datasetName, modelName), paths);
}

/** A model's rows for a day as batch published them (none if the day is not published). */
export async function batchRows(store: ObjectStore, datasetName: string, modelName: string, day: string) {
  const entry = (await readPublished(store, datasetName)).index.days[day];
  if (!entry) return [];
  const info = await store.head(publishedFile(entry, modelName));
  return declaredRows(modelOf(datasetName, modelName), info ? [await store.localPath(info)] : []);
}
