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
import { dayOf, dayStartMs, UTC } from '../pipeline/dates.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import { getJson } from '../pipeline/object-store.ts';
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
}

const keyOf = (values: readonly unknown[]) =>
  JSON.stringify(values.map((v) => (v === null ? null : String(v))));

/** The latest opening at or before `atMs` per key (`before`: strictly before, the book level a count is checked against). */
async function readOpenings(
  balance: BalanceDeclaration,
  atMs: number,
  filters: Record<string, string>,
  deps: ServingDeps,
  strictlyBefore = false,
): Promise<{ openings: Map<string, Opening>; through: string | null }> {
  const ds = datasetNamed(balance.opening.dataset);
  const { index } = await readPublished(deps.store, ds.name);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const days = Object.keys(index.days)
    .sort()
    .filter((day) => dayStartMs(day, zone) <= atMs);
  const through = days.at(-1) ?? null;
  if (days.length === 0) return { openings: new Map(), through };
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
  const where = [
    `epoch_ms(${ds.eventTime}) ${strictlyBefore ? '<' : '<='} $at`,
    ...dims.filter((d) => filters[d] !== undefined).map((d) => `${d}::varchar = $${d}`),
  ].join(' and ');
  const rows = await withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `select ${dims.map((d) => `${d}::varchar as ${d}`).join(', ')},
                epoch_ms(${ds.eventTime})::double as at_ms, ${balance.opening.value}::bigint as value
         from read_parquet(${sqlPathList(paths)})
         where ${where}
         qualify row_number() over (partition by ${dims.join(', ')} order by ${ds.eventTime} desc, value) = 1`,
        {
          at: atMs,
          ...Object.fromEntries(dims.filter((d) => filters[d] !== undefined).map((d) => [d, filters[d]])),
        },
      )
    ).getRowObjectsJS(),
  );
  const openings = new Map<string, Opening>();
  for (const row of rows) {
    const key = dims.map((d) => String(row[d]));
    openings.set(keyOf(key), { key, atMs: Number(row['at_ms']), value: Number(row['value']) });
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

/** The movement measure of each key over its edges, from the events (the model SQL over only those events). */
async function edgeValues(
  balance: BalanceDeclaration,
  ds: Dataset,
  edges: readonly Edge[],
  deps: ServingDeps,
): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  if (edges.length === 0) return values;
  const { index } = await readPublished(deps.store, ds.name);
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  const byDay = new Map<string, Edge[]>();
  for (const edge of edges) {
    const day = dayOf(new Date(edge.fromMs), zone);
    byDay.set(day, [...(byDay.get(day) ?? []), edge]);
  }
  const dims = balance.dimensions;
  await withConnection(async (connection) => {
    for (const [day, dayEdges] of byDay) {
      await loadDayFacts(connection, ds, day, deps);
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
      // Only the events inside their key's edges; the intervals of one key never share a minute, so each row of
      // the model is one edge.
      await connection.run(
        `create or replace temp table ${ds.facts} as
         select f.* from ${ds.facts} f
         join balance_edges e on ${dims.map((d) => `f.${d}::varchar = e.${d}`).join(' and ')}
          and epoch_ms(f.${ds.eventTime}) >= e.from_ms and epoch_ms(f.${ds.eventTime}) < e.to_ms`,
      );
      await materialize(connection, balance.movements.model, 'balance_edge_rows');
      const rows = (
        await connection.runAndReadAll(
          `select ${dims.map((d) => `${d}::varchar as ${d}`).join(', ')},
                  sum(${balance.movements.measure})::bigint as value
           from balance_edge_rows group by all`,
        )
      ).getRowObjectsJS();
      for (const row of rows) {
        const key = keyOf(dims.map((d) => row[d]));
        values.set(key, (values.get(key) ?? 0) + Number(row['value']));
      }
    }
  });
  return values;
}

const floorMinute = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;
const ceilMinute = (ms: number) => Math.ceil(ms / MINUTE_MS) * MINUTE_MS;

/** The levels of every key (or the filtered ones) at `at` (or now): see the module comment. */
export async function computeLevels(
  balance: BalanceDeclaration,
  query: BalanceQuery,
  deps: ServingDeps,
  options: { openingsStrictlyBefore?: boolean } = {},
): Promise<{
  levels: ComputedLevel[];
  asOfMs: number;
  segments: Segment[];
  batchBoundary: string | null;
  openingsThrough: string | null;
}> {
  const ds = datasetNamed(balance.dataset);
  const model = servedModel(balance.movements.model);
  const dims = balance.dimensions;
  // Without `at`: now, with the whole current minute (every movement received so far).
  const asOfMs = query.at ? query.at.getTime() : deps.clock().getTime();
  const endMs = query.at ? asOfMs : ceilMinute(asOfMs + 1);
  const { openings, through } = await readOpenings(
    balance,
    asOfMs,
    query.filters,
    deps,
    options.openingsStrictlyBefore,
  );
  const startMs = await movementsStartMs(ds, model.name, deps);
  const levels = new Map<string, ComputedLevel & { counted?: boolean }>();
  for (const [k, opening] of openings) {
    levels.set(k, { key: opening.key, value: opening.value, opening, movements: 0, segments: [] });
  }
  let segments: Segment[] = [];
  let batchBoundary: string | null = null;
  if (startMs !== null && startMs < endMs) {
    const merged = await readMergedRange(
      {
        model,
        start: new Date(floorMinute(startMs)),
        end: new Date(ceilMinute(endMs)),
        granularity: 'minute',
        filters: query.filters,
        groupBy: dims,
        timeZone: deps.timeZone ?? UTC,
      },
      deps,
    );
    segments = merged.segments;
    batchBoundary = merged.batchBoundary;
    const segmentOf = (ms: number) =>
      segments.find((s) => Date.parse(s.start) <= ms && ms < Date.parse(s.end)) ?? segments.at(-1);
    const add = (level: { segments: (Segment & { value: number })[] }, ms: number, value: number) => {
      const segment = segmentOf(ms);
      if (!segment) return;
      let own = level.segments.find((s) => s.start === segment.start);
      if (!own) {
        own = { ...segment, value: 0 };
        level.segments.push(own);
      }
      own.value += value;
    };
    const edges: Edge[] = [];
    for (const row of merged.rows) {
      const key = dims.map((d) => String(row.keys[d]));
      const k = keyOf(key);
      let level = levels.get(k);
      if (!level) {
        level = { key, value: 0, opening: null, movements: 0, segments: [] };
        levels.set(k, level);
      }
      const minuteMs = Date.parse(row.windowStart);
      const from = level.opening?.atMs ?? Number.NEGATIVE_INFINITY;
      // Whole minutes inside [opening, end): the edge minutes are read from the events below.
      if (minuteMs >= ceilMinute(from) && minuteMs + MINUTE_MS <= endMs) {
        const value = row.values[balance.movements.measure] ?? 0;
        level.movements += value;
        level.counted = true;
        add(level, minuteMs, value);
      }
    }
    // Edges: the part of the opening's minute after it, and the part of T's minute before it.
    for (const level of levels.values()) {
      const from = level.opening?.atMs;
      const fromEdgeEnd = from === undefined ? undefined : Math.min(ceilMinute(from), endMs);
      if (from !== undefined && fromEdgeEnd !== undefined && from < fromEdgeEnd) {
        edges.push({ key: level.key, fromMs: from, toMs: fromEdgeEnd });
      }
      const toEdgeStart = Math.max(floorMinute(endMs), from ?? Number.NEGATIVE_INFINITY);
      if (
        endMs % MINUTE_MS !== 0 &&
        toEdgeStart < endMs &&
        !(from !== undefined && floorMinute(from) === floorMinute(endMs))
      ) {
        edges.push({ key: level.key, fromMs: toEdgeStart, toMs: endMs });
      }
    }
    const fromEvents = await edgeValues(balance, ds, edges, deps);
    for (const edge of edges) {
      const level = levels.get(keyOf(edge.key));
      const value = fromEvents.get(keyOf(edge.key));
      if (!level || value === undefined) continue;
      fromEvents.delete(keyOf(edge.key)); // a key's edges were summed together
      level.movements += value;
      level.counted = true;
      add(level, edge.fromMs, value);
    }
  }
  for (const [k, level] of levels) {
    // A key neither opened nor moved before the instant has no level (yet).
    if (!level.opening && !level.counted) levels.delete(k);
    level.value = (level.opening?.value ?? 0) + level.movements;
    level.segments.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  }
  return {
    levels: [...levels.values()].map(({ counted: _, ...level }) => level),
    asOfMs,
    segments,
    batchBoundary,
    openingsThrough: through,
  };
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
      source: level.opening ? openingSource : null,
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
