import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { publishedFile, readPublished } from '../../functions/pipeline/batch-published.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { sqlPathList, withConnection } from '../../functions/pipeline/duckdb-session.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { realtimeDaySnapshot, snapshotFiles } from '../../functions/pipeline/realtime-view.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { clickRecordsForDays, type PlannedSession } from '../../local/click-generator.ts';
import { seededRandom } from '../../local/order-generator.ts';
import { streamDeps } from '../stream/stream-helpers.ts';

/**
 * clicks' sessions_minute (datasets/clicks/): a session is one user's events with gaps shorter than 30 minutes, and
 * it belongs to the minute (and day) of its first event. Proven against an independent computation in this test,
 * for sessions that cross midnight both ways, in batch (which reads the neighbouring days' exports) and in the
 * speed layer (compaction over the day's facts and its neighbours').
 */

const BEFORE = '2026-11-19';
const DAY = '2026-11-20';
const AFTER = '2026-11-21';
const GAP_MS = 30 * 60_000;
const TYPES = ['page_view', 'product_view', 'add_to_cart', 'checkout', 'purchase'] as const;
const DEVICES = ['desktop', 'mobile', 'tablet', undefined] as const;

interface Click {
  event_id: string;
  user_id: string;
  event_type: (typeof TYPES)[number];
  product_id?: string;
  device?: string;
  session_id: string;
  event_time: string;
}

/** Sessions of 24 users around DAY: some start the evening before, some run past midnight into AFTER. */
function clicks(seed: number): Click[] {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)] as T;
  const events: Click[] = [];
  for (let u = 0; u < 24; u++) {
    // From 22:00 the day before to 02:00 the day after, so sessions cross both midnights.
    let t = Date.parse(`${BEFORE}T22:00:00Z`) + Math.floor(random() * 3 * 3_600_000);
    const end = Date.parse(`${AFTER}T02:00:00Z`);
    let session = 0;
    while (t < end) {
      const device = pick(DEVICES);
      const length = random() < 0.35 ? 1 : 2 + Math.floor(random() * 5);
      for (let e = 0; e < length && t < end; e++) {
        const type = e === 0 ? pick(['page_view', 'product_view'] as const) : pick(TYPES);
        events.push({
          event_id: `u${u}-s${session}-e${e}`,
          user_id: `u${u}`,
          event_type: type,
          ...(type === 'page_view' ? {} : { product_id: `p${Math.floor(random() * 5)}` }),
          ...(device ? { device } : {}),
          session_id: `client-${u}-${session}`,
          event_time: new Date(t).toISOString(),
        });
        // Inside a session: 1..29 minutes (exactly 29:59 at most), never the gap.
        t += 60_000 + Math.floor(random() * (GAP_MS - 60_001));
      }
      // Between sessions: exactly the gap (a new session: gaps shorter than 30 minutes continue one) or longer.
      t += random() < 0.2 ? GAP_MS : GAP_MS + Math.floor(random() * 4 * 3_600_000);
      session += 1;
    }
  }
  // Two sessions decided by the neighbours: one begun the evening before, one whose only event of the day is its
  // first, completed by a purchase after midnight (not bounced, converted).
  const fixed = (id: string, type: Click['event_type'], time: string): Click => ({
    event_id: id,
    user_id: 'u-night',
    event_type: type,
    product_id: 'p1',
    device: 'mobile',
    session_id: 'client-night',
    event_time: time,
  });
  events.push(
    fixed('night-1', 'product_view', `${BEFORE}T23:50:00.000Z`),
    fixed('night-2', 'add_to_cart', `${DAY}T00:10:00.000Z`),
    fixed('night-3', 'product_view', `${DAY}T23:50:00.000Z`),
    fixed('night-4', 'purchase', `${AFTER}T00:10:00.000Z`),
  );
  return events;
}

type SessionRow = [
  minute: string,
  device: string,
  sessions: number,
  bounced: number,
  converted: number,
  users: string[],
];

/** The test's own sessionisation: no SQL, from the definition. */
function expectedSessions(events: readonly Click[], day: string): SessionRow[] {
  const byUser = new Map<string, Click[]>();
  for (const e of events) byUser.set(e.user_id, [...(byUser.get(e.user_id) ?? []), e]);
  const rows = new Map<
    string,
    { sessions: number; bounced: number; converted: number; users: Set<string> }
  >();
  for (const [user, list] of byUser) {
    list.sort((a, b) => a.event_time.localeCompare(b.event_time) || a.event_id.localeCompare(b.event_id));
    const sessions: Click[][] = [];
    for (const e of list) {
      const current = sessions.at(-1);
      const last = current?.at(-1);
      if (current && last && Date.parse(e.event_time) - Date.parse(last.event_time) < GAP_MS) current.push(e);
      else sessions.push([e]);
    }
    for (const s of sessions) {
      const first = s[0] as Click;
      if (!first.event_time.startsWith(day)) continue;
      const key = `${first.event_time.slice(0, 16)}|${first.device ?? 'unknown'}`;
      const row = rows.get(key) ?? { sessions: 0, bounced: 0, converted: 0, users: new Set<string>() };
      row.sessions += 1;
      if (s.length === 1) row.bounced += 1;
      if (s.some((e) => e.event_type === 'purchase')) row.converted += 1;
      row.users.add(user);
      rows.set(key, row);
    }
  }
  return [...rows]
    .map(([key, r]): SessionRow => {
      const [minute = '', device = ''] = key.split('|');
      return [minute, device, r.sessions, r.bounced, r.converted, [...r.users].sort()];
    })
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

async function sessionRows(paths: string[]): Promise<SessionRow[]> {
  if (paths.length === 0) return [];
  return withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `select strftime(window_start, '%Y-%m-%dT%H:%M') as minute, device,
                sum(sessions)::integer as sessions, sum(bounced_sessions)::integer as bounced,
                sum(converted_sessions)::integer as converted,
                list_sort(list_distinct(flatten(list(unique_users)))) as users
         from read_parquet(${sqlPathList(paths)}) group by all order by minute, device`,
      )
    )
      .getRows()
      .map((r) => [
        String(r[0]),
        String(r[1]),
        Number(r[2]),
        Number(r[3]),
        Number(r[4]),
        (r[5] as { items: string[] }).items,
      ]),
  );
}

/** The published sessions_minute rows of these days. */
async function batchSessions(store: ObjectStore, days: readonly string[]): Promise<SessionRow[]> {
  const { index } = await readPublished(store, 'clicks');
  const paths: string[] = [];
  for (const day of days) {
    const entry = index.days[day];
    const info = entry ? await store.head(publishedFile(entry, 'sessions_minute')) : undefined;
    if (info) paths.push(await store.localPath(info));
  }
  return sessionRows(paths);
}

/** What sessions_minute must hold for the sessions a generator planned: each in the minute it starts. */
function plannedRows(sessions: readonly PlannedSession[]): SessionRow[] {
  const rows = new Map<
    string,
    { sessions: number; bounced: number; converted: number; users: Set<string> }
  >();
  for (const s of sessions) {
    const key = `${s.start.slice(0, 16)}|${s.device ?? 'unknown'}`;
    const row = rows.get(key) ?? { sessions: 0, bounced: 0, converted: 0, users: new Set<string>() };
    row.sessions += 1;
    if (s.events === 1) row.bounced += 1;
    if (s.isConverted) row.converted += 1;
    row.users.add(s.user_id);
    rows.set(key, row);
  }
  return [...rows]
    .map(([key, r]): SessionRow => {
      const [minute = '', device = ''] = key.split('|');
      return [minute, device, r.sessions, r.bounced, r.converted, [...r.users].sort()];
    })
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

async function realtimeSessions(store: ObjectStore, day: string) {
  const snapshot = await realtimeDaySnapshot(store, day, {
    model: 'sessions_minute',
    manifestModel: 'funnel_minute',
  });
  return sessionRows(await Promise.all(snapshotFiles(snapshot).map((info) => store.localPath(info))));
}

describe('clicks sessions (sessions_minute): a session crosses micro-batches, hours and midnight', () => {
  it('batch counts each session once, on the day and minute it starts, with its device, bounce and conversion, reading the neighbouring days', async () => {
    // Prepare: three days of exports (with one producer retry of an event).
    const events = clicks(7);
    const { deps } = streamDeps(new Date(`${AFTER}T06:00:00Z`));
    for (const day of [BEFORE, DAY, AFTER]) {
      const lines = events.filter((e) => e.event_time.startsWith(day)).map((e) => JSON.stringify(e));
      await deps.store.put(`landing/clicks/dt=${day}/clicks.jsonl`, `${[...lines, lines[0]].join('\n')}\n`);
    }
    const expected = expectedSessions(events, DAY);

    // Act
    const report = await runBatchDay({ day: DAY, dataset: 'clicks', thresholds: { force: true } }, deps);

    // Assess
    expect(report.status, report.error).toBe('published');
    const entry = (await readPublished(deps.store, 'clicks')).index.days[DAY];
    const info = entry ? await deps.store.head(publishedFile(entry, 'sessions_minute')) : undefined;
    const actual = await sessionRows(info ? [await deps.store.localPath(info)] : []);
    // The data has what the rule is about: sessions from the evening before, past midnight, bounces, purchases.
    expect(events.some((e) => e.event_time.startsWith(BEFORE))).toBe(true);
    expect(expected.reduce((n, r) => n + r[3], 0)).toBeGreaterThan(0);
    expect(expected.reduce((n, r) => n + r[4], 0)).toBeGreaterThan(0);
    expect(actual).toEqual(expected);
  });

  it('batch counts the sessions the click generator planned over two days, the ones past midnight on the day they start', async () => {
    // Prepare: two days of generated clicks, one generation (sessions go on past midnight, visitors come back the
    // next day), with producer retries; each day's export holds the events of its day by their event_time.
    const planned: PlannedSession[] = [];
    const days = [DAY, AFTER];
    const exports = [
      ...clickRecordsForDays(dataset('clicks'), {
        days: days.map((day) => ({ day, count: 6000 })),
        seed: 5,
        duplicateShare: 0.02,
        onSession: (session) => planned.push(session),
      }),
    ];
    const { deps } = streamDeps(new Date('2026-11-22T06:00:00Z'));
    for (const { day, records } of exports) {
      const lines = records.map(({ event }) => JSON.stringify(event));
      await deps.store.put(`landing/clicks/dt=${day}/clicks.jsonl`, `${lines.join('\n')}\n`);
    }

    // Act
    const reports = [];
    for (const day of days) reports.push(await runBatchDay({ day, dataset: 'clicks' }, deps));

    // Assess
    for (const report of reports) expect(report.status, report.error).toBe('published');
    const pastMidnight = planned.filter((s) => s.start.startsWith(DAY) && s.end.startsWith(AFTER));
    expect(pastMidnight.length).toBeGreaterThan(0);
    const firstDayVisitors = new Set(planned.filter((s) => s.start.startsWith(DAY)).map((s) => s.user_id));
    expect(planned.some((s) => s.start.startsWith(AFTER) && firstDayVisitors.has(s.user_id))).toBe(true);
    expect(
      exports.map((e) => e.records.every((r) => String(r.event['event_time']).startsWith(e.day))),
    ).toEqual([true, true]);
    expect(await batchSessions(deps.store, days)).toEqual(plannedRows(planned));
  }, 60_000);

  it('the speed layer converges on the same sessions: compaction over the day and its neighbours, re-run when a neighbour changes, and then at rest', async () => {
    // Prepare
    const events = clicks(11);
    const { deps, clock } = streamDeps(new Date(`${AFTER}T06:00:00Z`));
    const random = seededRandom(3);
    const shuffled = [...events].sort(() => random() - 0.5);
    const days = [BEFORE, DAY, AFTER];

    // Act: micro-batches of 13 in arrival order, then the compaction schedule three times.
    for (let i = 0; i < shuffled.length; i += 13) {
      const messages = shuffled
        .slice(i, i + 13)
        .map((e) => ({ messageId: e.event_id, body: JSON.stringify(e) }));
      const result = await consumeMicroBatch({ messages, dataset: 'clicks' }, deps);
      expect(result.failedMessageIds).toEqual([]);
      expect(result.quarantined).toBe(0);
    }
    const runs = [];
    for (let i = 0; i < 3; i++)
      runs.push(await compactRealtime(deps, { now: clock.now, days, datasets: ['clicks'] }));

    // Assess: exact after the neighbour re-run, and nothing left to do after that (no neighbours re-compacting each other).
    expect(await realtimeSessions(deps.store, DAY)).toEqual(expectedSessions(events, DAY));
    expect(runs[0]?.days.map((d) => d.day)).toEqual(days);
    expect(runs[2]?.days).toEqual([]);
  }, 180_000);
});
