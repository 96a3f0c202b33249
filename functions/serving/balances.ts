import type { DuckDBConnection } from '@duckdb/node-api';
import { publishedFile, readPublished } from '../pipeline/batch-published.ts';
import {
  archiveColumns,
  type BalanceDeclaration,
  type Dataset,
  dataset as datasetNamed,
  declaredTable,
  listBalances,
} from '../pipeline/datasets.ts';
import { addDays, dayOf, dayStartMs, UTC } from '../pipeline/dates.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import { getJson, putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { isCovered, realtimeViewsOf } from '../pipeline/realtime-view.ts';
import { materialize } from '../pipeline/sql-models.ts';
import { fieldSqlType } from '../pipeline/validation-sql.ts';
import type { StreamManifest } from '../stream/compaction.ts';
import type { Segment } from './hour-plan.ts';
import { servedModel } from './metric-model.ts';
import { checkFilters, readMergedRange, type ServingDeps } from './metric-query.ts';
import { readTable, type TableRows } from './reference-tables.ts';

/**
 * Balances (declared in a dataset folder, e.g. inventory's `stock`): the level of each key at an instant T is the
 * latest opening at or before T (a row of the opening dataset, e.g. a physical count, exact at its event time) plus
 * every movement with event time in [opening, T). Whole minutes come from the movement model, merged per hour like
 * every answer (batch where published, realtime after); the minutes an opening or T falls inside are computed from
 * the events themselves with the same model SQL, so a level is exact to the event. A key never opened starts at 0
 * before its first movement.
 */

const MINUTE_MS = 60_000;

/** One level: the key's dimensions, the value, where it came from. */
export type LevelJson = Record<string, unknown> & {
  as_of: string;
  /** `source`: the opening dataset (null: never opened, so 0), `at`, and the level it opened at (`on_hand`). */
  opening: Record<string, string | number | null> & { source: string | null; at: string | null };
  /** Since the opening: the movement measure in all (`net_change`) and per segment (batch where published). */
  movements: Record<string, unknown> & {
    since: string | null;
    segments: (Segment & Record<string, string | number>)[];
  };
};

export interface BalanceResponse {
  balance: string;
  query: { at: string | null; where?: Record<string, string> };
  as_of: string;
  /** Below their threshold first (most below first), then by key. */
  levels: LevelJson[];
  /** The layers the movements were read from over the whole range (as in every metric answer). */
  segments: Segment[];
  /** End of the movements' contiguous published batch range, or null. */
  batch_boundary: string | null;
  /** The newest published day of the openings (e.g. counts), or null. */
  openings_through: string | null;
  generated_at: string;
}

export interface BalanceQuery {
  /** The instant of the levels; without it, now (every movement received, the current minute included). */
  at?: Date;
  filters: Record<string, string>;
}

/** Every declared balance (the routes `/<name>`). */
export function servedBalances(): BalanceDeclaration[] {
  return listBalances();
}

/** A balance by name; the error names the declared ones. */
export function servedBalance(name: string): BalanceDeclaration {
  const found = servedBalances().find((b) => b.name === name);
  if (!found) {
    const known = servedBalances().map((b) => b.name);
    throw new Error(`unknown balance "${name.slice(0, 64)}" (declared: ${known.join(', ') || 'none'})`);
  }
  return found;
}

/** A level as computed: its key, value, opening and the movements since (per segment). */
export interface ComputedLevel {
  key: string[];
  value: number;
  opening: Opening | null;
  movements: number;
  segments: (Segment & { value: number })[];
}

interface Opening {
  key: string[];
  atMs: number;
  value: number;
  /** A row of the opening dataset (a count), or a batch close (`views/batch/_balances/<balance>/closes/`). */
  kind?: 'close';
}

const keyOf = (values: readonly unknown[]) =>
  JSON.stringify(values.map((v) => (v === null ? null : String(v))));

/** Every published opening of a balance (e.g. every count), oldest first; cached per version of the publish index. */
const openingsCache = new Map<string, { rows: Opening[]; days: string[] }>();

async function allOpenings(
  balance: BalanceDeclaration,
  deps: ServingDeps,
): Promise<{ rows: Opening[]; days: string[]; zone: string }> {
  const ds = datasetNamed(balance.opening.dataset);
  const { index, etag } = await readPublished(deps.store, ds.name);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const cacheKey = `${deps.store.location}\0${balance.name}\0${etag}`;
  const cached = openingsCache.get(cacheKey);
  if (cached) return { ...cached, zone };
  const days = Object.keys(index.days).sort();
  const paths = await Promise.all(
    days.map(async (day) => {
      const entry = index.days[day];
      if (!entry) throw new Error(`published day ${day} vanished`);
      const info = await deps.store.head(publishedFile(entry, ds.facts));
      if (!info) throw new Error(`${ds.name} facts of ${day} are missing: ${publishedFile(entry, ds.facts)}`);
      return deps.store.localPath(info);
    }),
  );
  const dims = balance.dimensions;
  const found =
    paths.length === 0
      ? []
      : await withConnection(async (connection) =>
          (
            await connection.runAndReadAll(
              `select ${dims.map((d) => `${d}::varchar as ${d}`).join(', ')},
                      epoch_ms(${ds.eventTime})::double as at_ms, ${balance.opening.value}::bigint as value
               from read_parquet(${sqlPathList(paths)})
               order by at_ms, value`,
            )
          ).getRowObjectsJS(),
        );
  const rows = found.map((row) => ({
    key: dims.map((d) => String(row[d])),
    atMs: Number(row['at_ms']),
    value: Number(row['value']),
  }));
  if (openingsCache.size > 16) openingsCache.clear();
  openingsCache.set(cacheKey, { rows, days });
  return { rows, days, zone };
}

/** The latest opening at or before `atMs` per key. */
async function readOpenings(
  balance: BalanceDeclaration,
  atMs: number,
  filters: Record<string, string>,
  deps: ServingDeps,
): Promise<{ openings: Map<string, Opening>; through: string | null }> {
  const { rows, days, zone } = await allOpenings(balance, deps);
  const through = days.filter((day) => dayStartMs(day, zone) <= atMs).at(-1) ?? null;
  const dims = balance.dimensions;
  const openings = new Map<string, Opening>();
  // Oldest first: the last one at or before the instant wins.
  for (const row of rows) {
    if (row.atMs > atMs) break;
    if (dims.some((d, i) => filters[d] !== undefined && filters[d] !== row.key[i])) continue;
    openings.set(keyOf(row.key), row);
  }
  return { openings, through };
}

/** The first instant the movement model has data for (its first published or realtime day), or null. */
async function movementsStartMs(ds: Dataset, model: string, deps: ServingDeps): Promise<number | null> {
  const { index } = await readPublished(deps.store, ds.name);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const days = Object.keys(index.days);
  for (const info of await deps.store.list(lake.realtimeRoot(model))) {
    const day = partitionOf(info.key).day;
    if (day) days.push(day);
  }
  if (days.length === 0) return null;
  days.sort();
  // The lake's days are days of its zone: the first one's events start at its midnight.
  return dayStartMs(days[0] as string, zone);
}

/** An interval [fromMs, toMs) inside one minute, whose movements of one key are read from the events. */
interface Edge {
  key: string[];
  fromMs: number;
  toMs: number;
}

/**
 * The day's deduplicated events of the movement dataset, as the temp table `<facts>`: batch's published facts if
 * the day is published, else the speed layer's (the compacted facts plus every archive written since, deduplicated
 * with the shared rule).
 */
async function loadDayFacts(
  connection: DuckDBConnection,
  ds: Dataset,
  day: string,
  deps: ServingDeps,
): Promise<void> {
  const { store } = deps;
  const columns = archiveColumns(ds);
  const { index } = await readPublished(store, ds.name);
  const entry = index.days[day];
  const localOf = async (key: string) => {
    const info = await store.head(key);
    if (!info) throw new Error(`${key} is missing`);
    return store.localPath(info);
  };
  if (entry) {
    const facts = await localOf(publishedFile(entry, ds.facts));
    await connection.run(
      `create or replace temp table ${ds.facts} as select ${columns} from read_parquet(${sqlPathList([facts])})`,
    );
    return;
  }
  const manifestModel = realtimeViewsOf(ds).manifestModel;
  const manifest = (await getJson<StreamManifest>(store, lake.realtimeManifest(day, manifestModel)))?.value;
  const archives = (await store.list(lake.streamArchivePrefix(day, undefined, ds.name))).filter((info) => {
    const { hour } = partitionOf(info.key);
    const batchId = /\/([A-Za-z0-9._-]+)\.parquet$/.exec(info.key)?.[1];
    return hour !== undefined && batchId !== undefined && !isCovered(manifest, hour, batchId);
  });
  const paths = [
    ...(manifest?.facts ? [await localOf(manifest.facts)] : []),
    ...(await Promise.all(archives.map((info) => store.localPath(info)))),
  ];
  const source =
    paths.length > 0
      ? `select ${columns} from read_parquet(${sqlPathList(paths)}, union_by_name = true)`
      : `select ${Object.entries(ds.fields)
          .map(([name, field]) => `null::${fieldSqlType(field)} as ${name}`)
          .join(', ')} where false`;
  await connection.run(
    `create or replace temp table validated_${ds.name} as
     select *, true as is_valid, $day::date as reporting_day from (${source})`,
    { day },
  );
  await materialize(connection, ds.facts);
}

/**
 * The movement measure of each edge, from the events (the model SQL over only the events inside their key's edge):
 * by `edgeId(key, minute)`. Edges of one key in one minute are computed in separate rounds, so each model row (a
 * minute and key) is one edge.
 */
async function edgeValues(
  balance: BalanceDeclaration,
  ds: Dataset,
  edges: readonly Edge[],
  deps: ServingDeps,
): Promise<Map<Edge, number>> {
  const values = new Map<Edge, number>();
  if (edges.length === 0) return values;
  const { index } = await readPublished(deps.store, ds.name);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const dims = balance.dimensions;
  const rounds: Map<string, Edge>[] = [];
  for (const edge of edges) {
    const id = edgeId(edge.key, floorMinute(edge.fromMs));
    let round = rounds.find((r) => !r.has(id));
    if (!round) {
      round = new Map();
      rounds.push(round);
    }
    round.set(id, edge);
  }
  await withConnection(async (connection) => {
    const loaded = new Set<string>();
    for (const round of rounds) {
      const byDay = new Map<string, Edge[]>();
      for (const edge of round.values()) {
        const day = dayOf(new Date(edge.fromMs), zone);
        byDay.set(day, [...(byDay.get(day) ?? []), edge]);
      }
      for (const [day, dayEdges] of byDay) {
        // The day's facts, kept while the rounds need them.
        const table = `balance_day_${day.replaceAll('-', '')}`;
        if (!loaded.has(table)) {
          await loadDayFacts(connection, ds, day, deps);
          await connection.run(`create or replace temp table ${table} as select * from ${ds.facts}`);
          loaded.add(table);
        }
        await connection.run(
          `create or replace temp table balance_edges (${dims.map((d) => `${d} varchar`).join(', ')}, from_ms double, to_ms double)`,
        );
        const appender = await connection.createAppender('balance_edges');
        for (const edge of dayEdges) {
          for (const value of edge.key) appender.appendVarchar(value);
          appender.appendDouble(edge.fromMs);
          appender.appendDouble(edge.toMs);
          appender.endRow();
        }
        appender.closeSync();
        await connection.run(
          `create or replace temp table ${ds.facts} as
           select f.* from ${table} f
           join balance_edges e on ${dims.map((d) => `f.${d}::varchar = e.${d}`).join(' and ')}
            and epoch_ms(f.${ds.eventTime}) >= e.from_ms and epoch_ms(f.${ds.eventTime}) < e.to_ms`,
        );
        await materialize(connection, balance.movements.model, 'balance_edge_rows');
        const rows = (
          await connection.runAndReadAll(
            `select ${dims.map((d) => `${d}::varchar as ${d}`).join(', ')},
                    epoch_ms(window_start)::double as minute_ms,
                    sum(${balance.movements.measure})::bigint as value
             from balance_edge_rows group by all`,
          )
        ).getRowObjectsJS();
        for (const row of rows) {
          const edge = round.get(
            edgeId(
              dims.map((d) => String(row[d])),
              Number(row['minute_ms']),
            ),
          );
          if (edge) values.set(edge, (values.get(edge) ?? 0) + Number(row['value']));
        }
      }
    }
  });
  return values;
}

/** Contiguous segments of the same layer as one. */
function joinSegments(segments: readonly Segment[]): Segment[] {
  const joined: Segment[] = [];
  for (const segment of segments) {
    const last = joined.at(-1);
    if (last && last.source === segment.source && last.end === segment.start) last.end = segment.end;
    else joined.push({ ...segment });
  }
  return joined;
}

const edgeId = (key: readonly string[], minuteMs: number) => `${keyOf(key)}@${minuteMs}`;
const floorMinute = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;
const ceilMinute = (ms: number) => Math.ceil(ms / MINUTE_MS) * MINUTE_MS;

/** A span of one key's movements: [fromMs, toMs), or from the first movement when `fromMs` is null. */
export interface MovementSpan {
  key: string[];
  fromMs: number | null;
  toMs: number;
}

/** The movements of a span: their measure in all and per segment, and whether there were any. */
export interface SpanMovements {
  span: MovementSpan;
  value: number;
  segments: (Segment & { value: number })[];
  moved: boolean;
}

/**
 * The movement measure over spans, exact to the event: whole minutes from the movement model (merged per hour,
 * batch where published), the part-minutes at a span's ends from the events. `otherKeys`: a span for every key
 * that moved but has no span of its own (from its first movement to `otherKeys.toMs`).
 */
export async function movementsOver(
  balance: BalanceDeclaration,
  spans: readonly MovementSpan[],
  filters: Record<string, string>,
  deps: ServingDeps,
  otherKeys?: { toMs: number; fromMs?: number },
): Promise<{ movements: SpanMovements[]; segments: Segment[]; batchBoundary: string | null }> {
  const ds = datasetNamed(balance.dataset);
  const model = servedModel(balance.movements.model);
  const dims = balance.dimensions;
  const results: SpanMovements[] = spans.map((span) => ({ span, value: 0, segments: [], moved: false }));
  const byKey = new Map<string, SpanMovements[]>();
  for (const r of results) byKey.set(keyOf(r.span.key), [...(byKey.get(keyOf(r.span.key)) ?? []), r]);
  const ends = [...spans.map((s) => s.toMs), ...(otherKeys ? [otherKeys.toMs] : [])];
  if (ends.length === 0) return { movements: results, segments: [], batchBoundary: null };
  const endMs = Math.max(...ends);
  const dataStart = await movementsStartMs(ds, model.name, deps);
  const starts = spans.map((s) => s.fromMs ?? dataStart);
  if (otherKeys) starts.push(otherKeys.fromMs ?? dataStart);
  const known = starts.filter((s): s is number => s !== null);
  if (dataStart === null || known.length === 0)
    return { movements: results, segments: [], batchBoundary: null };
  const startMs = Math.max(Math.min(...known), dataStart);
  if (startMs >= endMs) return { movements: results, segments: [], batchBoundary: null };
  // Spans from the first movement (keys never opened) read whole days up to the day the minutes start: far fewer
  // rows than minutes, and the batch days' answers are cached.
  const needsHistory =
    (otherKeys !== undefined && otherKeys.fromMs === undefined) || spans.some((s) => s.fromMs === null);
  const opened = [
    ...spans.flatMap((s) => (s.fromMs === null ? [] : [s.fromMs])),
    ...(otherKeys?.fromMs !== undefined ? [otherKeys.fromMs] : []),
  ];
  const { index } = await readPublished(deps.store, ds.name);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const minutesFrom = Math.min(opened.length > 0 ? Math.min(...opened) : endMs, endMs);
  const daysEnd = needsHistory ? dayStartMs(dayOf(new Date(minutesFrom), zone), zone) : startMs;
  const read = (start: number, end: number, granularity: 'day' | 'minute') =>
    readMergedRange(
      {
        model,
        start: new Date(start),
        end: new Date(end),
        granularity,
        filters,
        groupBy: dims,
        timeZone: zone,
      },
      deps,
    );
  const [days, minutes] = await Promise.all([
    needsHistory && startMs < daysEnd ? read(startMs, daysEnd, 'day') : undefined,
    read(floorMinute(Math.max(startMs, Math.min(daysEnd, minutesFrom))), ceilMinute(endMs), 'minute'),
  ]);
  const merged = {
    rows: [...(days?.rows ?? []), ...minutes.rows],
    segments: joinSegments([...(days?.segments ?? []), ...minutes.segments]),
    batchBoundary: minutes.batchBoundary,
  };
  const segments = merged.segments;
  const segmentOf = (ms: number) =>
    segments.find((s) => Date.parse(s.start) <= ms && ms < Date.parse(s.end)) ?? segments.at(-1);
  const add = (r: SpanMovements, ms: number, value: number) => {
    r.value += value;
    r.moved = true;
    const segment = segmentOf(ms);
    if (!segment) return;
    let own = r.segments.find((s) => s.start === segment.start);
    if (!own) {
      own = { ...segment, value: 0 };
      r.segments.push(own);
    }
    own.value += value;
  };
  for (const row of merged.rows) {
    const key = dims.map((d) => String(row.keys[d]));
    let own = byKey.get(keyOf(key));
    if (!own && otherKeys) {
      const span = { key, fromMs: otherKeys.fromMs ?? null, toMs: otherKeys.toMs };
      own = [{ span, value: 0, segments: [], moved: false }];
      byKey.set(keyOf(key), own);
      results.push(...own);
    }
    const bucketMs = Date.parse(row.windowStart);
    // A day bucket (before the minutes start) only counts for spans from the first movement.
    const isDay = bucketMs < daysEnd && needsHistory;
    for (const r of own ?? []) {
      // Whole minutes inside the span; its part-minutes are read from the events below.
      if (isDay) {
        if (r.span.fromMs === null) add(r, bucketMs, row.values[balance.movements.measure] ?? 0);
        continue;
      }
      const from = r.span.fromMs ?? Number.NEGATIVE_INFINITY;
      if (bucketMs >= ceilMinute(from) && bucketMs + MINUTE_MS <= r.span.toMs) {
        add(r, bucketMs, row.values[balance.movements.measure] ?? 0);
      }
    }
  }
  // Part-minutes: after a span's start in its minute, and before its end in its minute (one edge when both share it).
  const edges: (Edge & { r: SpanMovements })[] = [];
  for (const r of results) {
    const { fromMs, toMs } = r.span;
    if (fromMs !== null && fromMs < Math.min(ceilMinute(fromMs), toMs)) {
      edges.push({ key: r.span.key, fromMs, toMs: Math.min(ceilMinute(fromMs), toMs), r });
    }
    // A start inside the end's minute already read the whole part-minute; a start on a minute boundary read none.
    const startEdgeCovers =
      fromMs !== null && fromMs % MINUTE_MS !== 0 && floorMinute(fromMs) === floorMinute(toMs);
    if (toMs % MINUTE_MS !== 0 && !startEdgeCovers) {
      edges.push({ key: r.span.key, fromMs: floorMinute(toMs), toMs, r });
    }
  }
  const fromEvents = await edgeValues(balance, ds, edges, deps);
  for (const edge of edges) {
    const value = fromEvents.get(edge);
    if (value !== undefined) add(edge.r, edge.fromMs, value);
  }
  for (const r of results) r.segments.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  return { movements: results, segments, batchBoundary: merged.batchBoundary };
}

/**
 * A batch close: every key's level at the end of a published day, written when batch publishes the movements of
 * that day, so a level opens there instead of at a count long ago (or a key's first movement). It is valid while
 * the batch days it was computed from are what the lake publishes: the movements' and the openings' days up to
 * it, with their versions; a day re-run or published since (and any day up to it with realtime data only) makes
 * it stale, and levels ignore it (then the next run of a day writes a new one).
 */
export interface BatchClose {
  balance: string;
  day: string;
  at: string;
  computed_at: string;
  basis: { movements: Record<string, string>; openings: Record<string, string> };
  levels: { key: string[]; value: number }[];
}

/** The versions of the published days of a dataset that start before `beforeMs`. */
async function basisOf(
  datasetName: string,
  beforeMs: number,
  deps: CoreDeps,
): Promise<Record<string, string>> {
  const { index } = await readPublished(deps.store, datasetName);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  return Object.fromEntries(
    Object.entries(index.days)
      .filter(([day]) => dayStartMs(day, zone) < beforeMs)
      .map(([day, entry]) => [day, entry.version])
      .sort(),
  );
}

/** The days up to `day` with realtime movements but no batch publish (a close cannot vouch for them). */
async function unpublishedMovementDays(balance: BalanceDeclaration, day: string, deps: CoreDeps) {
  const { index } = await readPublished(deps.store, balance.dataset);
  const days = new Set<string>();
  for (const info of await deps.store.list(lake.realtimeRoot(balance.movements.model))) {
    const d = partitionOf(info.key).day;
    if (d && d <= day && !index.days[d]) days.add(d);
  }
  return [...days];
}

/**
 * Writes the close of `day` (batch has just published the balance's movements of it), or nothing when a day up to
 * it is known to the speed layer only.
 */
export async function recordBatchClose(
  balance: BalanceDeclaration,
  day: string,
  deps: CoreDeps,
): Promise<BatchClose | undefined> {
  if ((await unpublishedMovementDays(balance, day, deps)).length > 0) return undefined;
  const { index } = await readPublished(deps.store, balance.dataset);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const atMs = dayStartMs(addDays(day, 1), zone);
  const [{ levels }, movements, openings] = await Promise.all([
    computeLevels(balance, { at: new Date(atMs), filters: {} }, deps),
    basisOf(balance.dataset, atMs, deps),
    basisOf(balance.opening.dataset, atMs, deps),
  ]);
  const close: BatchClose = {
    balance: balance.name,
    day,
    at: new Date(atMs).toISOString(),
    computed_at: deps.clock().toISOString(),
    basis: { movements, openings },
    levels: levels.map((l) => ({ key: l.key, value: l.value })),
  };
  await putJson(deps.store, lake.balanceClose(balance.name, day), close);
  return close;
}

const closeCache = new Map<string, BatchClose>();

/** The newest valid close at or before `atMs` (see `BatchClose`), or undefined. */
async function latestValidClose(
  balance: BalanceDeclaration,
  atMs: number,
  deps: CoreDeps,
): Promise<(BatchClose & { atMs: number }) | undefined> {
  const listed = (await deps.store.list(lake.balanceClosesPrefix(balance.name))).sort((a, b) =>
    a.key < b.key ? 1 : -1,
  );
  for (const info of listed.slice(0, 3)) {
    const cacheKey = `${deps.store.location}\0${info.key}\0${info.etag}`;
    let close = closeCache.get(cacheKey);
    if (!close) {
      close = (await getJson<BatchClose>(deps.store, info.key))?.value;
      if (!close) continue;
      if (closeCache.size > 64) closeCache.clear();
      closeCache.set(cacheKey, close);
    }
    const closeMs = Date.parse(close.at);
    if (closeMs > atMs) continue;
    const [movements, openings, unpublished] = await Promise.all([
      basisOf(balance.dataset, closeMs, deps),
      basisOf(balance.opening.dataset, closeMs, deps),
      unpublishedMovementDays(balance, close.day, deps),
    ]);
    const same = (a: Record<string, string>, b: Record<string, string>) =>
      JSON.stringify(a) === JSON.stringify(b);
    if (
      same(movements, close.basis.movements) &&
      same(openings, close.basis.openings) &&
      unpublished.length === 0
    ) {
      return { ...close, atMs: closeMs };
    }
  }
  return undefined;
}

/** The levels of every key (or the filtered ones) at `at` (or now): see the module comment. */
export async function computeLevels(
  balance: BalanceDeclaration,
  query: BalanceQuery,
  deps: ServingDeps,
): Promise<{
  levels: ComputedLevel[];
  asOfMs: number;
  segments: Segment[];
  batchBoundary: string | null;
  openingsThrough: string | null;
}> {
  // Without `at`: now, with the whole current minute (every movement received so far).
  const asOfMs = query.at ? query.at.getTime() : deps.clock().getTime();
  const endMs = query.at ? asOfMs : ceilMinute(asOfMs + 1);
  const [{ openings, through }, close] = await Promise.all([
    readOpenings(balance, asOfMs, query.filters, deps),
    latestValidClose(balance, asOfMs, deps),
  ]);
  // A batch close later than a key's count opens it instead; a key the close lacks had not moved before it.
  if (close) {
    for (const row of close.levels) {
      if (
        balance.dimensions.some((d, i) => query.filters[d] !== undefined && query.filters[d] !== row.key[i])
      ) {
        continue;
      }
      const count = openings.get(keyOf(row.key));
      if (!count || count.atMs < close.atMs) {
        openings.set(keyOf(row.key), { key: row.key, atMs: close.atMs, value: row.value, kind: 'close' });
      }
    }
  }
  const spans = [...openings.values()].map((o) => ({ key: o.key, fromMs: o.atMs, toMs: endMs }));
  const { movements, segments, batchBoundary } = await movementsOver(balance, spans, query.filters, deps, {
    toMs: endMs,
    ...(close ? { fromMs: close.atMs } : {}),
  });
  // A key neither opened nor moved before the instant has no level (yet).
  const levels = movements
    .filter((m) => openings.has(keyOf(m.span.key)) || m.moved)
    .map((m): ComputedLevel => {
      const opening = openings.get(keyOf(m.span.key)) ?? null;
      return {
        key: m.span.key,
        value: (opening?.value ?? 0) + m.value,
        opening,
        movements: m.value,
        segments: m.segments,
      };
    });
  return { levels, asOfMs, segments, batchBoundary, openingsThrough: through };
}

/** Checks a balance query's filters: each names a dimension of the balance. */
export function checkBalanceFilters(balance: BalanceDeclaration, filters: Record<string, string>): void {
  for (const name of Object.keys(filters)) {
    if (!balance.dimensions.includes(name)) {
      throw new InvalidInputError(
        `${balance.name} has no dimension "${name.slice(0, 64)}" (dimensions: ${balance.dimensions.join(', ')})`,
        name,
      );
    }
  }
  checkFilters(servedModel(balance.movements.model), filters);
}

/** `GET /<balance>` and `twinflow <balance>`: the levels at an instant, with where each came from. */
export async function queryBalance(
  balance: BalanceDeclaration,
  query: BalanceQuery,
  deps: ServingDeps,
): Promise<BalanceResponse> {
  checkBalanceFilters(balance, query.filters);
  const [computed, thresholds] = await Promise.all([
    computeLevels(balance, query, deps),
    balance.threshold ? readTable(deps.store, declaredTable(balance.threshold)) : undefined,
  ]);
  const table = balance.threshold ? declaredTable(balance.threshold) : undefined;
  const openingSource = balance.opening.dataset;
  const levels = computed.levels.map((level) =>
    levelJson(balance, level, computed.asOfMs, openingSource, thresholds, table?.value),
  );
  // Keys with a threshold but no opening and no movement are at 0.
  if (thresholds && table) {
    const present = new Set(computed.levels.map((l) => keyOf(l.key)));
    for (const [k, row] of thresholds) {
      if (present.has(k) || !matchesFilters(balance, row.key, query.filters)) continue;
      levels.push(
        levelJson(
          balance,
          { key: row.key, value: 0, opening: null, movements: 0, segments: [] },
          computed.asOfMs,
          openingSource,
          thresholds,
          table.value,
        ),
      );
    }
  }
  const shortfall = (level: LevelJson) =>
    table && typeof level[table.value] === 'number'
      ? (level[table.value] as number) - (level[balance.value] as number)
      : Number.NEGATIVE_INFINITY;
  levels.sort((a, b) => {
    const below = Number(b['below_threshold'] === true) - Number(a['below_threshold'] === true);
    if (below !== 0) return below;
    if (a['below_threshold'] === true) return shortfall(b) - shortfall(a);
    return keyOf(balance.dimensions.map((d) => a[d])).localeCompare(
      keyOf(balance.dimensions.map((d) => b[d])),
    );
  });
  return {
    balance: balance.name,
    query: {
      at: query.at ? query.at.toISOString() : null,
      ...(Object.keys(query.filters).length > 0 ? { where: query.filters } : {}),
    },
    as_of: new Date(computed.asOfMs).toISOString(),
    levels,
    segments: computed.segments,
    batch_boundary: computed.batchBoundary,
    openings_through: computed.openingsThrough,
    generated_at: deps.clock().toISOString(),
  };
}

function matchesFilters(
  balance: BalanceDeclaration,
  key: readonly string[],
  filters: Record<string, string>,
) {
  return balance.dimensions.every((d, i) => filters[d] === undefined || filters[d] === key[i]);
}

function levelJson(
  balance: BalanceDeclaration,
  level: ComputedLevel,
  asOfMs: number,
  openingSource: string,
  thresholds: TableRows | undefined,
  thresholdName: string | undefined,
): LevelJson {
  const threshold = thresholds?.get(keyOf(level.key))?.value;
  const measure = balance.movements.measure;
  return {
    ...Object.fromEntries(balance.dimensions.map((d, i) => [d, level.key[i]])),
    [balance.value]: level.value,
    as_of: new Date(asOfMs).toISOString(),
    ...(thresholdName
      ? {
          [thresholdName]: threshold ?? null,
          below_threshold: threshold !== undefined && level.value < threshold,
        }
      : {}),
    opening: {
      source: level.opening ? (level.opening.kind === 'close' ? 'batch_close' : openingSource) : null,
      at: level.opening ? new Date(level.opening.atMs).toISOString() : null,
      [balance.value]: level.opening?.value ?? 0,
    },
    movements: {
      since: level.opening ? new Date(level.opening.atMs).toISOString() : null,
      [measure]: level.movements,
      // Each layer's part of the movements since the opening.
      segments: level.segments.map(({ value, ...segment }) => ({
        ...segment,
        start:
          level.opening && Date.parse(segment.start) < level.opening.atMs
            ? new Date(level.opening.atMs).toISOString()
            : segment.start,
        [measure]: value,
      })),
    },
  };
}

export { keyOf as balanceKeyOf };
