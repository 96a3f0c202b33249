import {
  batchBoundary,
  type PublishedDay,
  type PublishedIndex,
  publishedFile,
  readPublished,
} from '../pipeline/batch-published.ts';
import { dayRange, UTC } from '../pipeline/dates.ts';
import { InvalidInputError, PreconditionFailedError } from '../pipeline/errors.ts';
import { formatMicros, ratioMicros } from '../pipeline/fixed-point.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { type RealtimeSnapshot, realtimeDaySnapshot } from '../pipeline/realtime-view.ts';
import {
  type BatchCache,
  processBatchCache,
  processRealtimeCache,
  type RealtimeCache,
} from './batch-cache.ts';
import { ServingReadError } from './errors.ts';
import { planHours, type Segment } from './hour-plan.ts';
import type { ServedModel } from './metric-model.ts';
import { addAllMoney, type MoneyByCurrency, revenueJson } from './money.ts';
import { checkDimensionValue, checkRange, type Granularity } from './query-limits.ts';
import { type BucketRow, type BucketSpec, readBuckets, rowDimensions } from './read-buckets.ts';
import { realtimeFilesFor } from './realtime-files.ts';

/**
 * What the serving core needs: the lake, a clock, a logger and the stage's reporting time zone (the default `tz`
 * and, until batch publishes, the zone of the lake's days); optionally its own batch cache (tests, benches).
 */
export interface ServingDeps extends CoreDeps {
  cache?: BatchCache;
  /** What queries read from compacted realtime files (default: this process's); apart, so it never evicts batch. */
  realtimeCache?: RealtimeCache;
  /** Code version reported by `health` (Lambda: the function version). */
  version?: string;
}

/** What `GET /metrics/{model}` and `twinflow query --model` ask for, already parsed. The range is [start, end). */
export interface MetricQuery {
  start: Date;
  end: Date;
  granularity: Granularity;
  /** `dimension → value`: only those rows (rows then carry the dimension). */
  filters: Record<string, string>;
  /** One row per bucket and value of these dimensions. */
  groupBy: string[];
  /** Zone whose days are the day buckets (`tz=`; default the lake's reporting zone). */
  timeZone?: string;
}

/**
 * A row or total: each measure by its declared name; money as `<name>_by_currency` (+ `<name>` for one currency);
 * then, where the model declares them, each ratio as a 6-place decimal string, or null (denominator 0).
 */
export type MeasuresJson = Record<string, number | string | null | Record<string, string>>;

/** The body of `GET /metrics/{model}`: the same shape as `/sales`, measures by their declared names. */
export interface MetricResponse {
  query: {
    model: string;
    start: string;
    end: string;
    granularity: Granularity;
    tz: string;
    group_by?: string[];
    where?: Record<string, string>;
  };
  rows: ({ window_start: string } & Record<string, unknown>)[];
  totals: MeasuresJson;
  /** Contiguous runs of the range and the layer that served each (batch wherever it has published). */
  segments: Segment[];
  /** End of the contiguous published batch range (exclusive, ISO), or null before the first publish. */
  batch_boundary: string | null;
  /** Newest realtime minute window inside the range, whatever the filters (ISO), or null when realtime has none. */
  realtime_freshness: string | null;
  generated_at: string;
}

/** Buckets of a range, merged across layers, before formatting. */
export interface MergedRange {
  rows: BucketRow[];
  segments: Segment[];
  batchBoundary: string | null;
  realtimeLatest: string | null;
  publishedDays: string[];
}

const MAX_READ_ATTEMPTS = 4;

/** Batch file metadata by store and key (published files are immutable per version; dropped on a vanish). */
const batchFileInfo = new Map<string, ObjectInfo>();

function isVanishedFile(error: unknown): boolean {
  if (error instanceof PreconditionFailedError) return true;
  const message = error instanceof Error ? error.message : String(error);
  // DuckDB's wording when a listed Parquet file was deleted before it could be opened.
  return /No files found that match|No such file or directory|Cannot open file|Could not open file/i.test(
    message,
  );
}

async function batchFilePath(store: ObjectStore, key: string): Promise<string> {
  const cacheKey = `${store.location}\0${key}`;
  let info = batchFileInfo.get(cacheKey);
  if (!info) {
    info = await store.head(key);
    if (!info) throw new PreconditionFailedError(key);
    batchFileInfo.set(cacheKey, info);
  }
  return store.localPath(info);
}

/**
 * At granularity=day a whole published day is read from the model's daily rollup instead of its minutes, when
 * the model has one and the query's days are the lake's days (same zone).
 */
function usesDailyRollup(spec: BucketSpec, day: string, clip: { start: Date; end: Date }): boolean {
  if (spec.granularity !== 'day' || !spec.model.daily) return false;
  if ((spec.timeZone ?? UTC) !== (spec.lakeZone ?? UTC)) return false;
  const whole = dayRange(day, spec.lakeZone ?? UTC);
  return clip.start.getTime() === whole.start.getTime() && clip.end.getTime() === whole.end.getTime();
}

function batchCacheKey(
  store: ObjectStore,
  entry: PublishedDay,
  spec: BucketSpec,
  clip: { start: Date; end: Date },
) {
  return [
    store.location,
    spec.model.name,
    entry.day,
    entry.version,
    publishedFile(entry, spec.model.name),
    entry.publishedAt,
    ...queryShape(spec, clip),
  ].join('\0');
}

/** What the rows read from a file depend on besides the file: the query's shape over `range`. */
function queryShape(spec: BucketSpec, range: { start: Date; end: Date }): string[] {
  return [
    spec.granularity,
    rowDimensions(spec).join(','),
    JSON.stringify(Object.entries(spec.filters).sort()),
    spec.timeZone ?? UTC,
    spec.lakeZone ?? UTC,
    range.start.toISOString(),
    range.end.toISOString(),
  ];
}

/**
 * The cache key of what a query shape read from one realtime file. Every realtime file (compacted, roll-up,
 * partial) is written once under its name and replaced only by another name, so name and ETag identify its rows;
 * which files count is the day's snapshot, listed on every call.
 */
function realtimeCacheKey(store: ObjectStore, file: ObjectInfo, spec: BucketSpec) {
  return [
    store.location,
    spec.model.name,
    'realtime',
    `${file.key}@${file.etag}`,
    ...queryShape(spec, spec),
  ].join('\0');
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function rowKey(row: BucketRow): string {
  return [row.windowStart, ...Object.values(row.keys).map((v) => v ?? '')].join('\0');
}

function cloneRow(row: BucketRow): BucketRow {
  return {
    ...row,
    values: { ...row.values },
    money: Object.fromEntries(Object.entries(row.money).map(([name, m]) => [name, new Map(m)])),
    sets: Object.fromEntries(Object.entries(row.sets).map(([name, s]) => [name, new Set(s)])),
  };
}

/** Adds `from`'s values into `into` (mutates and returns it). */
function unionInto(into: Set<string>, from: ReadonlySet<string>): Set<string> {
  for (const value of from) into.add(value);
  return into;
}

/** A measure of a row as a number: a count or sum, or the size of a distinct set. */
function measureNumber(row: BucketRow, name: string): number {
  return row.sets[name]?.size ?? row.values[name] ?? 0;
}

/** Sums rows of the same bucket (and dimensions); ordered by time, then the first measure (largest first). */
function mergeRows(model: ServedModel, parts: readonly (readonly BucketRow[])[]): BucketRow[] {
  const merged = new Map<string, BucketRow>();
  for (const part of parts) {
    for (const row of part) {
      const key = rowKey(row);
      const existing = merged.get(key);
      if (!existing) {
        merged.set(key, cloneRow(row));
        continue;
      }
      for (const [name, value] of Object.entries(row.values))
        existing.values[name] = (existing.values[name] ?? 0) + value;
      for (const [name, money] of Object.entries(row.money)) {
        const into = existing.money[name] ?? new Map();
        existing.money[name] = addAllMoney(into, money);
      }
      for (const [name, set] of Object.entries(row.sets)) {
        existing.sets[name] = unionInto(existing.sets[name] ?? new Set(), set);
      }
    }
  }
  const first = model.measures.find((m) => m.kind !== 'money')?.name;
  return [...merged.values()].sort(
    (a, b) =>
      compareText(a.windowStart, b.windowStart) ||
      (first ? measureNumber(b, first) - measureNumber(a, first) : 0) ||
      compareText(rowKey(a), rowKey(b)),
  );
}

/** The publish index a dataset had at this process's last read of it: what the next read lists realtime ahead by. */
const lastIndex = new Map<string, PublishedIndex>();
const LIST_AHEAD_MAX_DAYS = 3;

/**
 * Starts the day snapshots the range will most likely need — its realtime days by the index this process saw last —
 * while the publish index is read, so a request waits for one S3 round trip instead of two. The caller takes only
 * the days the fresh index leaves to realtime; a snapshot listed a moment before the index is read is as consistent
 * as one listed after (each hour is still served by the one layer the fresh index names; a file deleted since its
 * listing makes the read start again).
 */
function listAhead(
  given: BucketSpec,
  deps: ServingDeps,
  indexKey: string,
): Map<string, Promise<RealtimeSnapshot>> {
  const previous = lastIndex.get(indexKey);
  if (!previous) return new Map();
  const plan = planHours(previous, given.start, given.end, previous.timeZone ?? deps.timeZone ?? UTC);
  if (plan.realtimeHours.size > LIST_AHEAD_MAX_DAYS) return new Map();
  return new Map(
    [...plan.realtimeHours.keys()].map((day) => {
      const snapshot = realtimeDaySnapshot(deps.store, day, given.model.realtime);
      snapshot.catch(() => undefined); // a day the fresh plan does not need is never awaited
      return [day, snapshot];
    }),
  );
}

async function readRangeOnce(given: BucketSpec, deps: ServingDeps): Promise<MergedRange> {
  const { store } = deps;
  const cache = deps.cache ?? processBatchCache;
  const indexKey = `${store.location}\0${given.model.dataset}`;
  const listed = listAhead(given, deps, indexKey);
  const { index } = await readPublished(store, given.model.dataset);
  lastIndex.set(indexKey, index);
  // The zone of the lake's days: the index's once batch has published, else the stage's.
  const lakeZone = index.timeZone ?? deps.timeZone ?? UTC;
  const spec: BucketSpec = { ...given, timeZone: given.timeZone ?? deps.timeZone ?? UTC, lakeZone };
  const plan = planHours(index, spec.start, spec.end, lakeZone);

  const cachedParts: BucketRow[][] = [];
  const missing: { key: string; day: string; entry: PublishedDay; isDaily: boolean }[] = [];
  for (const [day, clip] of plan.batchDays) {
    const entry = index.days[day];
    if (!entry) continue;
    const key = batchCacheKey(store, entry, spec, clip);
    const cached = cache.get(key);
    if (cached) cachedParts.push(cached);
    else missing.push({ key, day, entry, isDaily: usesDailyRollup(spec, day, clip) });
  }

  const { model } = spec;
  // Each realtime file's rows for this query shape are cached by name and ETag like a published day: a warm query
  // reads only the files written since it last ran (new partials, a new roll-up or compacted file).
  const realtimeFiles = await realtimeFilesFor(store, plan.realtimeHours, model.realtime, listed);
  const realtimeCache = deps.realtimeCache ?? processRealtimeCache;
  const realtimeParts: BucketRow[][] = [];
  const latests: (string | null)[] = [];
  const realtimeMissing: { key: string; info: ObjectInfo }[] = [];
  for (const info of realtimeFiles) {
    const key = realtimeCacheKey(store, info, spec);
    const read = realtimeCache.get(key);
    if (read) {
      realtimeParts.push(read.rows);
      latests.push(read.latest);
    } else realtimeMissing.push({ key, info });
  }
  const [batchMinutes, batchDaily, realtimePaths] = await Promise.all([
    Promise.all(
      missing
        .filter((m) => !m.isDaily)
        .map(({ entry }) => batchFilePath(store, publishedFile(entry, model.name))),
    ),
    Promise.all(
      missing
        .filter((m) => m.isDaily)
        .map(({ entry }) => batchFilePath(store, publishedFile(entry, model.daily as string))),
    ),
    Promise.all(realtimeMissing.map(({ info }) => store.localPath(info))),
  ]);

  const fresh =
    missing.length > 0 || realtimeMissing.length > 0
      ? await readBuckets(spec, { batchMinutes, batchDaily, realtimeMinutes: realtimePaths })
      : undefined;
  if (fresh) {
    const byDay = new Map<string, BucketRow[]>(missing.map(({ day }) => [day, []]));
    for (const row of fresh.batch) if (row.partDay) byDay.get(row.partDay)?.push(row);
    for (const { key, day } of missing) cache.set(key, byDay.get(day) ?? []);
    const byFile = new Map<string, BucketRow[]>(realtimePaths.map((p) => [p, []]));
    for (const row of fresh.realtime) if (row.partFile) byFile.get(row.partFile)?.push(row);
    realtimeMissing.forEach(({ key }, i) => {
      const local = realtimePaths[i] as string;
      realtimeCache.set(key, {
        rows: byFile.get(local) ?? [],
        latest: fresh.realtimeLatestByFile.get(local) ?? null,
      });
    });
    latests.push(fresh.realtimeLatest);
  }
  const realtimeLatest = latests.reduce<string | null>(
    (a, b) => (a === null || (b !== null && b > a) ? b : a),
    null,
  );

  return {
    rows: mergeRows(model, [...cachedParts, ...realtimeParts, fresh?.batch ?? [], fresh?.realtime ?? []]),
    segments: plan.segments,
    batchBoundary: batchBoundary(index),
    realtimeLatest,
    publishedDays: Object.keys(index.days).sort(),
  };
}

/**
 * Reads [start, end) of a model at `granularity`, batch wherever published and realtime for every other hour.
 * A file deleted under the read (compaction removing an old partial, batch removing a superseded version) makes
 * the whole read start again from a fresh publish index and snapshot, so each event is counted exactly once.
 */
export async function readMergedRange(spec: BucketSpec, deps: ServingDeps): Promise<MergedRange> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readRangeOnce(spec, deps);
    } catch (error) {
      if (!isVanishedFile(error)) throw error;
      batchFileInfo.clear();
      if (attempt >= MAX_READ_ATTEMPTS) {
        throw new ServingReadError(`lake files kept vanishing during the read (${attempt} attempts)`, {
          cause: error,
        });
      }
      deps.log.warn('a file vanished during a read; retrying with a fresh snapshot', {
        attempt,
        error: (error as Error).message,
      });
    }
  }
}

/** The measures of a row or total as JSON: counts and sums as numbers, money per currency as decimal strings. */
export function measuresJson(
  model: ServedModel,
  values: Record<string, number>,
  money: Record<string, MoneyByCurrency>,
  sets: Record<string, ReadonlySet<string>> = {},
): MeasuresJson {
  const json: MeasuresJson = {};
  for (const m of model.measures) {
    if (m.kind === 'distinct') {
      // Counted where the values are (a set); a count computed elsewhere (reconciliation's cells) as given.
      json[m.name] = sets[m.name]?.size ?? values[m.name] ?? 0;
      continue;
    }
    if (m.kind !== 'money') {
      json[m.name] = values[m.name] ?? 0;
      continue;
    }
    const { revenue_by_currency: byCurrency, revenue: single } = revenueJson(money[m.name] ?? new Map());
    json[`${m.name}_by_currency`] = byCurrency;
    if (single !== undefined) json[m.name] = single;
  }
  return json;
}

/**
 * The model's declared ratios of one row or total, from its own sums (so a range's ratio is the ratio of its
 * sums, never an average of its rows' ratios): exact, 6 places rounded half away from zero; null where the
 * denominator is 0.
 */
export function ratiosJson(
  model: ServedModel,
  values: Record<string, number>,
): Record<string, string | null> {
  const json: Record<string, string | null> = {};
  for (const r of model.ratios) {
    const micros = ratioMicros(BigInt(values[r.numerator] ?? 0), BigInt(values[r.denominator] ?? 0));
    json[r.name] = micros === null ? null : formatMicros(micros);
  }
  return json;
}

/** What an answer (row, total, window) serves: its measures, then its ratios. */
export function answerJson(
  model: ServedModel,
  values: Record<string, number>,
  money: Record<string, MoneyByCurrency>,
  sets: Record<string, ReadonlySet<string>> = {},
): MeasuresJson {
  return { ...measuresJson(model, values, money, sets), ...ratiosJson(model, values) };
}

/** Sums of a set of buckets. */
export function totalsOf(
  model: ServedModel,
  rows: readonly BucketRow[],
): {
  values: Record<string, number>;
  money: Record<string, MoneyByCurrency>;
  sets: Record<string, Set<string>>;
} {
  const values: Record<string, number> = {};
  const money: Record<string, MoneyByCurrency> = {};
  const sets: Record<string, Set<string>> = {};
  for (const m of model.measures) {
    if (m.kind === 'money') money[m.name] = new Map();
    else if (m.kind === 'distinct') sets[m.name] = new Set();
    else values[m.name] = 0;
  }
  for (const row of rows) {
    for (const [name, value] of Object.entries(row.values)) values[name] = (values[name] ?? 0) + value;
    for (const [name, m] of Object.entries(row.money)) money[name] = addAllMoney(money[name] ?? new Map(), m);
    for (const [name, s] of Object.entries(row.sets)) sets[name] = unionInto(sets[name] ?? new Set(), s);
  }
  return { values, money, sets };
}

/** A bucket as a JSON row: its start, the dimensions it carries, its measures (money after counts), its ratios. */
export function rowJson(
  model: ServedModel,
  row: BucketRow,
): { window_start: string } & Record<string, unknown> {
  const keys = Object.fromEntries(Object.entries(row.keys).filter(([, value]) => value !== null));
  return { window_start: row.windowStart, ...keys, ...answerJson(model, row.values, row.money, row.sets) };
}

/** Checks filters against the model: each names a declared dimension and has a value that can match. */
export function checkFilters(model: ServedModel, filters: Record<string, string>): void {
  for (const [name, value] of Object.entries(filters)) {
    if (!model.dimensions.includes(name)) throw unknownDimension(model, name, name);
    checkDimensionValue(name, value);
  }
}

/** Checks a metric query against its model: dimensions named in filters and groups must be declared ones. */
function checkMetricQuery(model: ServedModel, query: MetricQuery): MetricQuery {
  checkRange(query);
  checkFilters(model, query.filters);
  for (const name of query.groupBy) {
    if (!model.dimensions.includes(name)) throw unknownDimension(model, name, 'group_by');
  }
  return query;
}

function unknownDimension(model: ServedModel, name: string, parameter: string): InvalidInputError {
  return new InvalidInputError(
    `${model.name} has no dimension "${name.slice(0, 64)}" (dimensions: ${model.dimensions.join(', ')})`,
    parameter,
  );
}

/**
 * A model over [start, end) by minute, hour or day, merged per hour across batch and realtime (DESIGN rule 6),
 * split by `group_by` and the filtered dimensions. Throws `InvalidInputError` naming the parameter.
 */
export async function queryMetric(
  model: ServedModel,
  input: MetricQuery,
  deps: ServingDeps,
): Promise<MetricResponse> {
  const query = checkMetricQuery(model, input);
  const spec: BucketSpec = {
    model,
    start: query.start,
    end: query.end,
    granularity: query.granularity,
    filters: query.filters,
    groupBy: query.groupBy,
    timeZone: query.timeZone ?? deps.timeZone ?? UTC,
  };
  const merged = await readMergedRange(spec, deps);
  const totals = totalsOf(model, merged.rows);
  return {
    query: {
      model: model.name,
      start: query.start.toISOString(),
      end: query.end.toISOString(),
      granularity: query.granularity,
      tz: spec.timeZone ?? UTC,
      ...(query.groupBy.length > 0 ? { group_by: query.groupBy } : {}),
      ...(Object.keys(query.filters).length > 0 ? { where: query.filters } : {}),
    },
    rows: merged.rows.map((row) => rowJson(model, row)),
    totals: answerJson(model, totals.values, totals.money, totals.sets),
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}
