import { type PublishedIndex, publishedFile, readPublished } from '../pipeline/batch-published.ts';
import { type BalanceDeclaration, dataset as datasetNamed } from '../pipeline/datasets.ts';
import { addDays, dayStartMs, parseDay, UTC } from '../pipeline/dates.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { balanceKeyOf, movementsOver } from './balances.ts';

/**
 * Count discrepancies (shrinkage): when batch publishes a day of a balance's opening dataset (a day of physical
 * counts), each count is compared with the book level at its instant — the previous opening plus the movements
 * since, exactly as a level is computed — and the difference is recorded in
 * `views/batch/_balances/<balance>/discrepancies/dt=D.json`. From its instant on, the count is the level's opening (the
 * reset): a level never carries the books' drift past a count.
 */

export interface DiscrepancyRow extends Record<string, string | number | null> {
  counted_at: string;
  /** What was found (the opening dataset's value, e.g. on_hand). */
  counted: number;
  /** What the books said at that instant: the previous opening plus the movements since. */
  book: number;
  /** counted − book: negative is shrinkage (units missing), positive units found. */
  discrepancy: number;
  /** The opening the book level started from (the previous count), or null if there was none. */
  previous_opening_at: string | null;
}

export interface DiscrepancyRecord {
  balance: string;
  day: string;
  /** The opening dataset's published version the counts came from. */
  version: string;
  /** The versions of the earlier published days of counts the book levels started from. */
  earlier: Record<string, string>;
  computed_at: string;
  counts: number;
  /** Counts whose discrepancy is not 0. */
  mismatched: number;
  /** The sum of the discrepancies (units): negative = shrinkage. */
  net_discrepancy: number;
  /** Largest |discrepancy| first. */
  rows: DiscrepancyRow[];
}

function earlierVersions(index: PublishedIndex, day: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(index.days)
      .filter(([d]) => d < day)
      .map(([d, e]) => [d, e.version])
      .sort(),
  );
}

/**
 * After a day of counts is published: its discrepancies, and again those of the later count days that were
 * compared without it (a backfill publishes its days in any order, and a count's book starts at the count before).
 */
export async function recordDiscrepanciesFrom(
  balance: BalanceDeclaration,
  day: string,
  deps: CoreDeps,
): Promise<DiscrepancyRecord | undefined> {
  const own = await recordDiscrepancies(balance, day, deps);
  const { index } = await readPublished(deps.store, balance.opening.dataset);
  for (const later of Object.keys(index.days)
    .filter((d) => d > day)
    .sort()) {
    const stored = (
      await getJson<DiscrepancyRecord>(deps.store, lake.balanceDiscrepancies(balance.name, later))
    )?.value;
    if (JSON.stringify(stored?.earlier ?? null) !== JSON.stringify(earlierVersions(index, later))) {
      await recordDiscrepancies(balance, later, deps);
    }
  }
  return own;
}

/** Computes and stores the discrepancies of a published day of the balance's opening dataset. */
export async function recordDiscrepancies(
  balance: BalanceDeclaration,
  day: string,
  deps: CoreDeps,
): Promise<DiscrepancyRecord | undefined> {
  const ds = datasetNamed(balance.opening.dataset);
  const { index } = await readPublished(deps.store, ds.name);
  const entry = index.days[day];
  if (!entry) return undefined;
  const zone = index.timeZone ?? deps.timeZone ?? UTC;
  // This day's counts and, for each, the one before it (any earlier published day, or earlier the same day).
  const days = Object.keys(index.days)
    .sort()
    .filter((d) => d <= day);
  const paths = await Promise.all(
    days.map(async (d) => {
      const e = index.days[d];
      const info = e ? await deps.store.head(publishedFile(e, ds.facts)) : undefined;
      if (!info) throw new Error(`${ds.name} facts of ${d} are missing`);
      return deps.store.localPath(info);
    }),
  );
  const dims = balance.dimensions;
  const start = dayStartMs(day, zone);
  const rows = await withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `with openings as (
           select ${dims.map((d) => `${d}::varchar as ${d}`).join(', ')},
                  epoch_ms(${ds.eventTime})::double as at_ms, ${balance.opening.value}::bigint as value
           from read_parquet(${sqlPathList(paths)})
         ),
         ordered as (
           select *,
                  lag(at_ms) over (partition by ${dims.join(', ')} order by at_ms, value) as previous_at_ms,
                  lag(value) over (partition by ${dims.join(', ')} order by at_ms, value) as previous_value
           from openings
         )
         select * from ordered where at_ms >= $start and at_ms < $end order by all`,
        { start, end: dayStartMs(addDays(day, 1), zone) },
      )
    ).getRowObjectsJS(),
  );
  const counts = rows.map((row) => ({
    key: dims.map((d) => String(row[d])),
    atMs: Number(row['at_ms']),
    counted: Number(row['value']),
    previousAtMs: row['previous_at_ms'] === null ? null : Number(row['previous_at_ms']),
    previousValue: row['previous_value'] === null ? 0 : Number(row['previous_value']),
  }));
  const { movements } = await movementsOver(
    balance,
    counts.map((c) => ({ key: c.key, fromMs: c.previousAtMs, toMs: c.atMs })),
    {},
    deps,
  );
  const record: DiscrepancyRecord = {
    balance: balance.name,
    day,
    version: entry.version,
    earlier: earlierVersions(index, day),
    computed_at: deps.clock().toISOString(),
    counts: counts.length,
    mismatched: 0,
    net_discrepancy: 0,
    rows: counts
      .map((c, i): DiscrepancyRow => {
        const book = c.previousValue + (movements[i]?.value ?? 0);
        return {
          ...Object.fromEntries(dims.map((d, j) => [d, c.key[j] ?? null])),
          counted_at: new Date(c.atMs).toISOString(),
          counted: c.counted,
          book,
          discrepancy: c.counted - book,
          previous_opening_at: c.previousAtMs === null ? null : new Date(c.previousAtMs).toISOString(),
        };
      })
      .sort(
        (a, b) =>
          Math.abs(b.discrepancy) - Math.abs(a.discrepancy) ||
          balanceKeyOf(dims.map((d) => a[d])).localeCompare(balanceKeyOf(dims.map((d) => b[d]))),
      ),
  };
  record.mismatched = record.rows.filter((r) => r.discrepancy !== 0).length;
  record.net_discrepancy = record.rows.reduce((sum, r) => sum + r.discrepancy, 0);
  await putJson(deps.store, lake.balanceDiscrepancies(balance.name, day), record);
  return record;
}

/** `GET /<balance>/discrepancies`: a day's record (default the newest), its largest discrepancies first. */
export async function queryDiscrepancies(
  balance: BalanceDeclaration,
  query: { day?: string; limit: number },
  deps: CoreDeps,
): Promise<DiscrepancyRecord & { recorded_days: string[] }> {
  const recorded = (await deps.store.list(lake.balanceDiscrepanciesPrefix(balance.name)))
    .map((info) => /dt=(\d{4}-\d{2}-\d{2})\.json$/.exec(info.key)?.[1])
    .filter((d): d is string => d !== undefined)
    .sort();
  const day = query.day === undefined ? recorded.at(-1) : parseDay(query.day, 'day');
  const empty = {
    balance: balance.name,
    day: day ?? null,
    version: '',
    earlier: {},
    computed_at: '',
    counts: 0,
    mismatched: 0,
    net_discrepancy: 0,
    rows: [],
  };
  if (day === undefined) return { ...empty, day: '', recorded_days: recorded };
  const found = (await getJson<DiscrepancyRecord>(deps.store, lake.balanceDiscrepancies(balance.name, day)))
    ?.value;
  if (!found && query.day !== undefined && !recorded.includes(day)) {
    throw new InvalidInputError(
      `no ${balance.opening.dataset} day ${day} has been compared yet (recorded: ${recorded.slice(-5).join(', ') || 'none'})`,
      'day',
    );
  }
  const record = found ?? { ...empty, day };
  return { ...record, rows: record.rows.slice(0, query.limit), recorded_days: recorded };
}
