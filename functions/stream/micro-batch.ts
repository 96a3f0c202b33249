import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { buildDatasetViews, copyToParquet, type RecordCounts } from '../pipeline/dataset-views.ts';
import { archiveColumns, type Dataset, dataset } from '../pipeline/datasets.ts';
import { dayOf, hourOf } from '../pipeline/dates.ts';
import { withConnection } from '../pipeline/duckdb-session.ts';
import { shortHash } from '../pipeline/ids.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { microBatchModelsOf, realtimeViewsOf } from '../pipeline/realtime-view.ts';
import { appendJsonRecords, createRawTable } from '../pipeline/record-sources.ts';
import type { ValidationPolicy } from '../pipeline/validation-policy.ts';
import { advanceWatermark, DEFAULT_ALLOWED_LATENESS_SECONDS, readWatermark } from './watermark.ts';

/** One received event: an SQS message (or a line of a replayed file) before validation. */
export interface StreamMessage {
  /** SQS message id (replay: `file@contenthash:line`); the batch id is derived from these. */
  messageId: string;
  body: string;
  /** When the producer sent it (SQS `SentTimestamp`). */
  sentAt?: Date;
  /** SQS `ApproximateReceiveCount`: 2+ means a redelivery. */
  receiveCount?: number;
  /** Replay of a file line whose bytes were not UTF-8 (the body shows them as `\xNN`): quarantined as such. */
  isInvalidUtf8?: boolean;
}

/** Counts for one event hour of one micro-batch. */
export interface HourCounts {
  /** Valid records whose event time falls in the hour. */
  valid: number;
  /** Distinct orders written to the hour's partial (valid − duplicates within the batch). */
  orders: number;
  /** Valid records dropped because their order_id was already in this batch. */
  duplicates: number;
  /** Orders older than the watermark when they arrived (still counted in their own minute). */
  late: number;
}

export interface MicroBatchResult {
  batchId: string;
  received: number;
  valid: number;
  quarantined: number;
  duplicates: number;
  late: number;
  orders: number;
  /** Messages SQS must redeliver (transient failure): report them as `batchItemFailures`. */
  failedMessageIds: string[];
  /** Event hours written, `YYYY-MM-DD/HH`. */
  hours: Record<string, HourCounts>;
  quarantineKey: string | null;
  /** Processing time − event time over the accepted orders, ms. */
  ingestLagMs: { avg: number; max: number } | null;
  durationMs: number;
  error?: string;
}

/** `state/stream/<dataset>/batches/dt=D/<batch-id>.json`: what one micro-batch did for one event day. */
export interface BatchStatsDoc {
  batchId: string;
  day: string;
  processedAt: string;
  /** Per event hour `HH` of this day. */
  hours: Record<string, HourCounts>;
  /** Records of the batch quarantined, attributed to the hour `HH` the batch was sent (present on that day only). */
  quarantined?: { hour: string; count: number };
}

export interface MicroBatchInput {
  messages: readonly StreamMessage[];
  /** The declared dataset the messages belong to (default `orders`). */
  dataset?: string;
  allowedLatenessSeconds?: number;
  /** Recorded as `source` of quarantined records. */
  source?: string;
  /** Accepted currencies and clock skew (default: every ISO 4217 code, 5 minutes). */
  policy?: ValidationPolicy;
}

/** One line of a stream quarantine file (JSONL). */
export interface StreamQuarantineRecord {
  record_ref: string;
  source: string;
  reasons: string[];
  raw: string;
  quarantined_at: string;
  message_id: string;
  batch_id: string;
  sent_at: string | null;
  receive_count: number | null;
}

const WRITE_CONCURRENCY = 8;

/** The batch id: a hash of the sorted message ids, so a redelivered batch overwrites its own files. */
export function batchIdOf(messages: readonly Pick<StreamMessage, 'messageId'>[]): string {
  return shortHash(...messages.map((m) => m.messageId).sort());
}

async function rows<T>(connection: DuckDBConnection, sql: string, values?: Record<string, string>) {
  return (await connection.runAndReadAll(sql, values)).getRowObjectsJson() as T[];
}

/**
 * Rows of one lake partition: reporting day `day` (the stage's zone, from the `validation_policy` table) and UTC
 * hour `hh`. Facts carry their `reporting_day`; a minute model's rows are placed by their `window_start`. In a
 * zone with a half-hour offset, or on a 25-hour DST day, two stretches of a day share an hour.
 */
function partitionFilter(time: { facts: string } | 'window_start', day: string, hh: string): string {
  const [column, reportingDay] =
    time === 'window_start'
      ? [time, `local_date(${time}, (select time_zone from validation_policy))`]
      : [time.facts, 'reporting_day'];
  return `${reportingDay} = date '${day}' and hour(${column}) = ${Number(hh)}`;
}

/** An ISO instant as a DuckDB TIMESTAMP literal in UTC (event times are stored as UTC timestamps). */
function sqlTimestamp(iso: string): string {
  return iso.replace('T', ' ').replace('Z', '');
}

function sample(ids: readonly string[], limit = 100) {
  return ids.length <= limit ? ids : [...ids.slice(0, limit), `… ${ids.length - limit} more`];
}

/** What every step of one micro-batch needs to know about it. */
interface BatchContext {
  dataset: Dataset;
  batchId: string;
  messages: readonly StreamMessage[];
  byId: ReadonlyMap<string, StreamMessage>;
  /** When this consumer started the batch (`deps.clock()`). */
  started: Date;
  /** The batch's earliest SQS sent time, else `started`: where its quarantined records are filed and counted. */
  sentAt: Date;
  source: string;
  allowedLatenessSeconds: number;
  policy?: ValidationPolicy;
  workDir: string;
}

/** One event hour of the batch's accepted orders. */
interface HourRow {
  day: string;
  hh: string;
  valid: number;
  orders: number;
  late: number;
}

function emptyResult(batchId: string, received: number): MicroBatchResult {
  return {
    batchId,
    received,
    valid: 0,
    quarantined: 0,
    duplicates: 0,
    late: 0,
    orders: 0,
    failedMessageIds: [],
    hours: {},
    quarantineKey: null,
    ingestLagMs: null,
    durationMs: 0,
  };
}

/** Deterministic per batch (a redelivery has the same sent times), so a retry overwrites the same file. */
function batchSentAt(messages: readonly StreamMessage[], started: Date): Date {
  const sentTimes = messages.flatMap((m) => (m.sentAt ? [m.sentAt.getTime()] : []));
  return new Date(sentTimes.length ? Math.min(...sentTimes) : started.getTime());
}

/** Loads the messages as raw records and runs the shared validation and models over them. */
async function validateBatch(
  connection: DuckDBConnection,
  batch: BatchContext,
  deps: CoreDeps,
): Promise<RecordCounts> {
  const ds = batch.dataset;
  await createRawTable(connection, ds);
  await appendJsonRecords(
    connection,
    // Received = when SQS took the message (stable across redeliveries), else when this batch started.
    batch.messages.map((m) => ({
      ref: m.messageId,
      line: m.body,
      receivedAt: m.sentAt ?? batch.started,
      isInvalidUtf8: m.isInvalidUtf8,
    })),
    { source: batch.source, isEventIdRequired: true },
    ds,
  );
  return buildDatasetViews(connection, {
    dataset: ds,
    microBatch: true,
    ...(batch.policy ? { policy: batch.policy } : {}),
    ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
  });
}

async function validRecordRefs(connection: DuckDBConnection, ds: Dataset): Promise<string[]> {
  return (
    await rows<{ ref: string }>(
      connection,
      `select record_ref as ref from validated_${ds.name} where is_valid`,
    )
  ).map((r) => r.ref);
}

/** The batch's quarantine file: its rejected records, with their reasons. */
function quarantineKeyOf(batch: BatchContext, timeZone: string | undefined): string {
  return lake.quarantine(dayOf(batch.sentAt, timeZone), batch.batchId, batch.dataset.name);
}

/** Writes the batch's rejected records, with their reasons, to `key`. */
async function quarantineRejected(
  connection: DuckDBConnection,
  batch: BatchContext,
  key: string,
  { store, log }: CoreDeps,
): Promise<void> {
  const rejected = await rows<{ ref: string; reasons: string[]; raw: string }>(
    connection,
    `select record_ref as ref, reasons, raw from validated_${batch.dataset.name} where not is_valid order by record_ref`,
  );
  const lines = rejected.map((r) => {
    const message = batch.byId.get(r.ref);
    const record: StreamQuarantineRecord = {
      record_ref: r.ref,
      source: batch.source,
      reasons: r.reasons,
      raw: r.raw,
      quarantined_at: batch.started.toISOString(),
      message_id: r.ref,
      batch_id: batch.batchId,
      sent_at: message?.sentAt?.toISOString() ?? null,
      receive_count: message?.receiveCount ?? null,
    };
    return JSON.stringify(record);
  });
  await store.put(key, `${lines.join('\n')}\n`, { contentType: 'application/x-ndjson' });
  log.warn('records quarantined', {
    batchId: batch.batchId,
    quarantineKey: key,
    messageIds: sample(
      rejected.map((r) => r.ref),
      1000,
    ),
    reasons: sample([...new Set(rejected.flatMap((r) => r.reasons))], 50),
  });
}

/** Valid records, distinct events and late events (event time before `watermark`) per event day and hour. */
async function hourRows(
  connection: DuckDBConnection,
  ds: Dataset,
  watermark: string | null,
): Promise<HourRow[]> {
  const time = ds.eventTime;
  return rows<HourRow>(
    connection,
    `with
     valid_hours as (
         select strftime(reporting_day, '%Y-%m-%d') as day, strftime(${time}, '%H') as hh, count(*)::integer as valid,
         from validated_${ds.name}
         where is_valid
         group by all
     ),
     fact_hours as (
         select
             strftime(reporting_day, '%Y-%m-%d') as day,
             strftime(${time}, '%H') as hh,
             count(*)::integer as orders,
             count(*) filter (where ${time} < $watermark::timestamp)::integer as late,
         from ${ds.facts}
         group by all
     )
     select day, hh, valid_hours.valid, fact_hours.orders, fact_hours.late
     from fact_hours
     join valid_hours using (day, hh)
     order by day, hh`,
    // Before the first event nothing is late.
    { watermark: sqlTimestamp(watermark ?? '1970-01-01T00:00:00.000Z') },
  );
}

/** Processing time (`nowIso`) − event time over the accepted events, and their latest event time, ms. */
async function ingestLag(connection: DuckDBConnection, ds: Dataset, nowIso: string) {
  const time = ds.eventTime;
  return (
    await rows<{ avg: number; max: number; max_ms: number }>(
      connection,
      `select avg(epoch_ms($now::timestamp) - epoch_ms(${time}))::double as avg,
              max(epoch_ms($now::timestamp) - epoch_ms(${time}))::double as max,
              max(epoch_ms(${time}))::double as max_ms,
       from ${ds.facts}`,
      { now: sqlTimestamp(nowIso) },
    )
  )[0];
}

export { archiveColumns };

/**
 * Writes each hour's stream archive and each minute model's partial: local files first (DuckDB), then uploads —
 * archives before partials, so compaction (which lists archives) never misses a batch whose partial a reader can
 * see.
 */
async function writeHourFiles(
  connection: DuckDBConnection,
  batch: BatchContext,
  hours: readonly HourRow[],
  { store }: CoreDeps,
): Promise<void> {
  const { batchId, workDir, dataset: ds } = batch;
  // A model only compaction computes (`realtime: compaction`, e.g. sessions) has no partials.
  const models = microBatchModelsOf(ds);
  const archives = [] as [string, string][];
  const partials = [] as [string, string][];
  for (const { day, hh } of hours) {
    const archiveFile = path.join(workDir, `archive-${day}-${hh}.parquet`);
    await copyToParquet(
      connection,
      `select ${archiveColumns(ds)}, '${batchId}' as batch_id
       from ${ds.facts} where ${partitionFilter({ facts: ds.eventTime }, day, hh)}
       order by ${[ds.eventTime, ...ds.key].join(', ')}`,
      archiveFile,
    );
    archives.push([lake.streamArchive(day, hh, batchId, ds.name), archiveFile]);
    for (const model of models) {
      const partialFile = path.join(workDir, `partial-${model.name}-${day}-${hh}.parquet`);
      await copyToParquet(
        connection,
        `select * from ${model.name} where ${partitionFilter('window_start', day, hh)}
         order by ${['window_start', ...model.dimensions].join(', ')}`,
        partialFile,
      );
      partials.push([lake.realtimePartial(day, hh, batchId, model.name), partialFile]);
    }
  }
  const limit = pLimit(WRITE_CONCURRENCY);
  await Promise.all(archives.map((archive) => limit(() => store.putFile(...archive))));
  await Promise.all(partials.map((partial) => limit(() => store.putFile(...partial))));
}

/**
 * The accepted orders of a batch with at least one: per-hour counts and ingest lag into `result`, the hour files,
 * the batch's stats documents, then the watermark.
 */
async function writeAcceptedOrders(
  connection: DuckDBConnection,
  batch: BatchContext,
  result: MicroBatchResult,
  deps: CoreDeps,
): Promise<void> {
  const { store, timeZone } = deps;
  const ds = batch.dataset;
  const { value: mark } = await readWatermark(store, ds.name);
  const nowIso = batch.started.toISOString();
  const hours = await hourRows(connection, ds, mark.watermark);
  const lag = await ingestLag(connection, ds, nowIso);
  if (lag) result.ingestLagMs = { avg: Math.round(lag.avg), max: Math.round(lag.max) };
  for (const h of hours) {
    result.hours[`${h.day}/${h.hh}`] = {
      valid: h.valid,
      orders: h.orders,
      duplicates: h.valid - h.orders,
      late: h.late,
    };
    result.late += h.late;
  }
  await writeHourFiles(connection, batch, hours, deps);
  await writeBatchStats(deps, ds.name, {
    batchId: batch.batchId,
    processedAt: nowIso,
    hours: result.hours,
    quarantined: {
      day: dayOf(batch.sentAt, timeZone),
      hour: hourOf(batch.sentAt),
      count: result.quarantined,
    },
  });
  if (lag) {
    await advanceWatermark(store, ds.name, {
      maxEventTime: new Date(lag.max_ms),
      allowedLatenessSeconds: batch.allowedLatenessSeconds,
      now: batch.started,
    });
  }
}

function logProcessed(log: CoreDeps['log'], result: MicroBatchResult, messages: readonly StreamMessage[]) {
  log.info('micro-batch processed', {
    batchId: result.batchId,
    received: result.received,
    valid: result.valid,
    quarantined: result.quarantined,
    duplicates: result.duplicates,
    late: result.late,
    orders: result.orders,
    hours: Object.keys(result.hours),
    durationMs: result.durationMs,
    messageIds: sample(messages.map((m) => m.messageId)),
  });
}

/**
 * The speed layer's consumer core: validates a micro-batch with the shared SQL, quarantines poison records
 * (acknowledged), and writes the accepted orders as stream archives, then minute partials, per event hour.
 * Any write or DuckDB failure reports the affected messages in `failedMessageIds` (SQS retries them); outputs
 * are named from the batch id, so a retry overwrites instead of adding.
 */
export async function consumeMicroBatch(input: MicroBatchInput, deps: CoreDeps): Promise<MicroBatchResult> {
  const { clock, log } = deps;
  const started = clock();
  const t0 = performance.now();
  const messages = input.messages;
  const batchId = batchIdOf(messages);
  const result = emptyResult(batchId, messages.length);
  if (messages.length === 0) return result;
  const ds = dataset(input.dataset ?? 'orders');
  // A dataset without a minute model has nothing to stream into: refused before any message is acknowledged.
  realtimeViewsOf(ds);
  const batch: BatchContext = {
    dataset: ds,
    batchId,
    messages,
    byId: new Map(messages.map((m) => [m.messageId, m])),
    started,
    sentAt: batchSentAt(messages, started),
    source: input.source ?? 'stream',
    allowedLatenessSeconds: input.allowedLatenessSeconds ?? DEFAULT_ALLOWED_LATENESS_SECONDS,
    ...(input.policy ? { policy: input.policy } : {}),
    workDir: await mkdtemp(path.join(os.tmpdir(), `twinflow-stream-${batchId}-`)),
  };
  let validIds: string[] = [];
  let quarantineSettled = false;
  try {
    await withConnection(async (connection) => {
      const counts = await validateBatch(connection, batch, deps);
      result.valid = counts.valid;
      result.quarantined = counts.quarantined;
      result.duplicates = counts.duplicates;
      result.orders = counts.orders;
      validIds = await validRecordRefs(connection, ds);
      if (counts.quarantined > 0) {
        result.quarantineKey = quarantineKeyOf(batch, deps.timeZone);
        await quarantineRejected(connection, batch, result.quarantineKey, deps);
      }
      quarantineSettled = true;
      if (counts.orders > 0) await writeAcceptedOrders(connection, batch, result, deps);
    });
    if (result.orders === 0 && result.quarantined > 0) {
      await writeBatchStats(deps, ds.name, {
        batchId,
        processedAt: started.toISOString(),
        hours: {},
        quarantined: {
          day: dayOf(batch.sentAt, deps.timeZone),
          hour: hourOf(batch.sentAt),
          count: result.quarantined,
        },
      });
    }
  } catch (error) {
    // Quarantined records stay acknowledged only if their quarantine file was written.
    result.failedMessageIds = quarantineSettled ? validIds : messages.map((m) => m.messageId);
    result.error = (error as Error).message;
    log.error('micro-batch failed; messages will be retried', {
      batchId,
      error: result.error,
      failedMessageIds: sample(result.failedMessageIds, 1000),
    });
  } finally {
    await rm(batch.workDir, { recursive: true, force: true });
  }
  result.durationMs = Math.round(performance.now() - t0);
  if (!result.error) logProcessed(log, result, messages);
  return result;
}

/** Writes one stats document per event day the batch touched (and the day its quarantined records count on). */
async function writeBatchStats(
  { store }: CoreDeps,
  datasetName: string,
  input: {
    batchId: string;
    processedAt: string;
    hours: Record<string, HourCounts>;
    quarantined: { day: string; hour: string; count: number };
  },
): Promise<void> {
  const docs = new Map<string, BatchStatsDoc>();
  const docFor = (day: string) => {
    let doc = docs.get(day);
    if (!doc) {
      doc = { batchId: input.batchId, day, processedAt: input.processedAt, hours: {} };
      docs.set(day, doc);
    }
    return doc;
  };
  for (const [dayHour, counts] of Object.entries(input.hours)) {
    const [day, hh] = dayHour.split('/') as [string, string];
    docFor(day).hours[hh] = counts;
  }
  if (input.quarantined.count > 0) {
    docFor(input.quarantined.day).quarantined = {
      hour: input.quarantined.hour,
      count: input.quarantined.count,
    };
  }
  await Promise.all(
    [...docs.values()].map((doc) =>
      putJson(store, lake.streamBatchStats(doc.day, doc.batchId, datasetName), doc),
    ),
  );
}
