import { describe, expect, it } from 'vitest';
import { validateRawTable } from '../../functions/pipeline/dataset-views.ts';
import { type Dataset, dataset } from '../../functions/pipeline/datasets.ts';
import { dayRange } from '../../functions/pipeline/dates.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { appendJsonRecords, createRawTable } from '../../functions/pipeline/record-sources.ts';
import { validationPolicy } from '../../functions/pipeline/validation-policy.ts';
import {
  type ClickEvent,
  clickRecordsForDay,
  clickRecordsForDays,
  clicksBetween,
  clicksForDay,
  clicksForDays,
  createClickStream,
  eventsPerSession,
  fitsClickDeclaration,
  type PlannedSession,
} from '../../local/click-generator.ts';
import { ordersForDay } from '../../local/order-generator.ts';
import { type ComputedSession, sessionsOf } from './click-sessions.ts';

const clicks = dataset('clicks');
const GAP_MINUTES = clicks.parameters['session_gap_minutes'] as number;

/** Each event through the clicks validation (real DuckDB) as the stream receives it: the ids of the invalid. */
async function invalidOnTheStream(events: readonly ClickEvent[]): Promise<string[]> {
  return withConnection(async (connection) => {
    await createRawTable(connection, clicks);
    await appendJsonRecords(
      connection,
      events.map((event, i) => ({
        ref: String(i).padStart(6, '0'),
        line: JSON.stringify(event),
        receivedAt: new Date('2100-01-01T00:00:00Z'),
      })),
      { source: 'generated', isEventIdRequired: true },
      clicks,
    );
    await validateRawTable(connection, validationPolicy({ currencies: [] }), 'UTC', clicks);
    const reader = await connection.runAndReadAll(
      'select record_ref, reasons from validated_clicks where not is_valid order by record_ref',
    );
    return reader.getRowObjectsJson().map((row) => `${row['record_ref']}: ${String(row['reasons'])}`);
  });
}

/** The client's session ids, each with the computed sessions it falls in and its largest gap between events. */
function clientSessions(sessions: readonly ComputedSession<ClickEvent>[]) {
  const byId = new Map<string, { sessions: Set<ComputedSession>; events: ClickEvent[] }>();
  for (const session of sessions) {
    for (const event of session.events) {
      if (!event.session_id) continue;
      const entry = byId.get(event.session_id) ?? { sessions: new Set(), events: [] };
      entry.sessions.add(session);
      entry.events.push(event);
      byId.set(event.session_id, entry);
    }
  }
  return [...byId.values()].map(({ sessions: inSessions, events }) => {
    const times = events.map((e) => Date.parse(e.event_time)).sort((a, b) => a - b);
    const largestGapMs = Math.max(0, ...times.slice(1).map((t, i) => t - (times[i] as number)));
    return {
      computedSessions: inSessions.size,
      largestGapMs,
      users: new Set(events.map((e) => e.user_id)).size,
    };
  });
}

const share = (part: number, whole: number) => part / whole;

/** A session by its user, first event and size: the same key for a planned and a computed one. */
const plannedKey = (s: PlannedSession) => `${s.user_id}|${s.start}|${s.events}`;
const computedKey = (s: ComputedSession<ClickEvent>) =>
  `${s.user_id}|${s.events[0]?.event_time}|${s.events.length}`;

/** A generation of `days` (from 2026-11-19) with `count` events each, and the sessions it planned. */
function generation(days: number, count: number, seed: number) {
  const planned: PlannedSession[] = [];
  const input = {
    days: Array.from({ length: days }, (_, i) => ({ day: `2026-11-${19 + i}`, count })),
    seed,
    onSession: (session: PlannedSession) => planned.push(session),
  };
  return { input, events: [...clicksForDays(input)], planned };
}

describe('the click generator', () => {
  it('is deterministic per seed: the same day and seed give the same clicks, another seed others', () => {
    // Prepare
    const input = { day: '2026-11-20', count: 1500, seed: 11 };

    // Act
    const a = [...clicksForDay(input)];
    const b = [...clicksForDay(input)];
    const other = [...clicksForDay({ ...input, seed: 12 })];
    const records = [...clickRecordsForDay(clicks, { ...input, duplicateShare: 0.1, invalidShare: 0.05 })];
    const recordsAgain = [
      ...clickRecordsForDay(clicks, { ...input, duplicateShare: 0.1, invalidShare: 0.05 }),
    ];

    // Assess
    expect(b).toEqual(a);
    expect(other).not.toEqual(a);
    expect(other.map((e) => e.event_id)).not.toEqual(a.map((e) => e.event_id).slice(0, other.length));
    expect(recordsAgain).toEqual(records);
    const days = {
      days: [
        { day: '2026-11-20', count: 800 },
        { day: '2026-11-21', count: 900 },
      ],
      seed: 11,
    };
    expect([...clicksForDays(days)]).toEqual([...clicksForDays(days)]);
    expect([...clickRecordsForDays(clicks, { ...days, duplicateShare: 0.1 })]).toEqual([
      ...clickRecordsForDays(clicks, { ...days, duplicateShare: 0.1 }),
    ]);
    // The day is part of the seed: the same seed gives another day other clicks, not the same ones a day later.
    const nextDay = [...clicksForDay({ ...input, day: '2026-11-21' })];
    expect(nextDay.map((e) => e.user_id)).not.toEqual(a.map((e) => e.user_id));
  });

  it('writes exactly the count asked for, in time order, inside the reporting day of a DST zone', () => {
    // 2026-03-08 in New York has 23 hours.
    const { start, end } = dayRange('2026-03-08', 'America/New_York');
    const events = [
      ...clicksForDay({ day: '2026-03-08', count: 3001, seed: 3, timeZone: 'America/New_York' }),
    ];
    const times = events.map((e) => Date.parse(e.event_time));
    expect(events).toHaveLength(3001);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start.getTime());
    expect(Math.max(...times)).toBeLessThan(end.getTime());
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(end.getTime() - start.getTime()).toBe(23 * 3_600_000);
    // The evening is busier than the night, as the orders' day curve says.
    const hourOf = (t: number) => new Date(t).getUTCHours();
    const night = times.filter((t) => [8, 9].includes(hourOf(t))).length; // 03:00–05:00 local (EDT)
    const evening = times.filter((t) => [23, 0].includes(hourOf(t))).length; // 19:00–21:00 local
    expect(evening).toBeGreaterThan(4 * night);
  });

  it('makes every event valid under the declaration: unique ids, a product on all but page views', async () => {
    // Prepare
    const events = [...clicksForDay({ day: '2026-11-20', count: 4000, seed: 5 })];

    // Act
    const invalid = await invalidOnTheStream(events);

    // Assess
    expect(invalid).toEqual([]);
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length);
    expect(events.filter((e) => e.product_id === undefined).every((e) => e.event_type === 'page_view')).toBe(
      true,
    );
    expect(events.filter((e) => e.event_type === 'page_view').every((e) => e.product_id === undefined)).toBe(
      true,
    );
    expect(fitsClickDeclaration(clicks)).toBe(true);
    // Optional fields as clients send them: some without a device or a session id, direct visits without a
    // referrer.
    const missing = (field: keyof ClickEvent) => events.filter((e) => e[field] === undefined).length;
    expect(missing('device')).toBeGreaterThan(0);
    expect(missing('device')).toBeLessThan(events.length * 0.06);
    expect(missing('session_id')).toBeGreaterThan(0);
    expect(missing('session_id')).toBeLessThan(events.length * 0.08);
    expect(missing('referrer')).toBeGreaterThan(0);
    for (const e of events.filter((x) => x.session_id !== undefined)) {
      expect(e.session_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('makes realistic sessions: bounces, funnel drop-off, returning and multi-device users', () => {
    // Prepare
    const events = [...clicksForDay({ day: '2026-11-20', count: 20_000, seed: 8 })];

    // Act: sessions as the definition cuts them, apart from the generator.
    const sessions = sessionsOf(events, GAP_MINUTES);
    const byType = (type: string) => events.filter((e) => e.event_type === type).length;
    const sessionsPerUser = new Map<string, ComputedSession<ClickEvent>[]>();
    for (const s of sessions) sessionsPerUser.set(s.user_id, [...(sessionsPerUser.get(s.user_id) ?? []), s]);
    const returning = [...sessionsPerUser.values()].filter((list) => list.length > 1);
    const multiDevice = returning.filter((list) => new Set(list.map((s) => s.device)).size > 1);

    // Assess
    expect(share(sessions.filter((s) => s.isBounced).length, sessions.length)).toBeGreaterThan(0.25);
    expect(share(sessions.filter((s) => s.isBounced).length, sessions.length)).toBeLessThan(0.45);
    const conversion = share(sessions.filter((s) => s.isConverted).length, sessions.length);
    expect(conversion).toBeGreaterThan(0.01);
    expect(conversion).toBeLessThan(0.1);
    // Each funnel step loses shoppers.
    expect(byType('add_to_cart')).toBeLessThan(byType('product_view') * 0.2);
    expect(byType('checkout')).toBeLessThan(byType('add_to_cart'));
    expect(byType('purchase')).toBeLessThan(byType('checkout'));
    expect(byType('purchase')).toBeGreaterThan(0);
    expect(share(returning.length, sessionsPerUser.size)).toBeGreaterThan(0.05);
    expect(multiDevice.length).toBeGreaterThan(0.01 * sessionsPerUser.size);
    expect(sessions.length / events.length).toBeCloseTo(1 / eventsPerSession(), 1);
  });

  it("cuts the client's sessions with the declared gap: each session_id is one computed session, its gaps shorter", () => {
    // Prepare: the declared gap, and a declaration whose gap is 5 minutes.
    const fiveMinutes: Dataset = { ...clicks, parameters: { ...clicks.parameters, session_gap_minutes: 5 } };

    for (const [ds, gapMinutes] of [
      [clicks, GAP_MINUTES],
      [fiveMinutes, 5],
    ] as const) {
      // Act
      const events = [...clicksForDay({ day: '2026-11-20', count: 8000, seed: 21, dataset: ds })];
      const sessions = sessionsOf(events, gapMinutes);
      const client = clientSessions(sessions);

      // Assess: a client session is never split (its gaps are shorter than the gap) nor merged with another
      // session of its user (a returning visitor comes back at least a gap later).
      expect(client.filter((c) => c.computedSessions !== 1)).toEqual([]);
      expect(client.filter((c) => c.users !== 1)).toEqual([]);
      expect(Math.max(...client.map((c) => c.largestGapMs))).toBeLessThan(gapMinutes * 60_000);
      const withIds = sessions.filter((s) => s.events.some((e) => e.session_id));
      expect(withIds.every((s) => new Set(s.events.map((e) => e.session_id)).size === 1)).toBe(true);
      // Some pauses come close to the gap: the boundary is exercised, not avoided.
      expect(Math.max(...client.map((c) => c.largestGapMs))).toBeGreaterThan(gapMinutes * 60_000 * 0.7);
    }
  });

  it("trends the orders' hot products: the most carted products are the best sellers", () => {
    const carted = new Map<string, number>();
    for (const e of clicksForDay({ day: '2026-11-20', count: 30_000, seed: 2 })) {
      if (e.event_type === 'add_to_cart')
        carted.set(e.product_id as string, (carted.get(e.product_id as string) ?? 0) + 1);
    }
    const sold = new Map<string, number>();
    for (const o of ordersForDay('2026-11-20', 5000, 2))
      sold.set(o.product_id, (sold.get(o.product_id) ?? 0) + 1);
    const top = (counts: Map<string, number>) =>
      [...counts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([product]) => product);
    expect(top(carted)[0]).toBe('p-0001');
    expect(top(sold)[0]).toBe('p-0001');
    expect(top(carted).filter((p) => top(sold).includes(p)).length).toBeGreaterThanOrEqual(3);
  });

  it('streams live: sessions go on across calls, each call gives the events due since the last, in order', () => {
    // Prepare
    const start = Date.parse('2026-11-20T12:00:00Z');
    const stream = createClickStream({ start: new Date(start), seed: 4, idPrefix: 'live' });
    const calls: ClickEvent[][] = [];

    // Act: a second per call, 2 new sessions each, for 20 minutes.
    for (let second = 1; second <= 1200; second++)
      calls.push(stream.advance(new Date(start + second * 1000), 2));

    // Assess
    calls.forEach((events, i) => {
      for (const e of events) {
        expect(Date.parse(e.event_time)).toBeGreaterThanOrEqual(start + i * 1000);
        expect(Date.parse(e.event_time)).toBeLessThan(start + (i + 1) * 1000);
      }
    });
    const all = calls.flat();
    expect(new Set(all.map((e) => e.event_id)).size).toBe(all.length);
    const callOf = new Map(calls.flatMap((events, i) => events.map((e) => [e.event_id, i] as const)));
    const spanning = sessionsOf(all, GAP_MINUTES).filter(
      (s) => new Set(s.events.map((e) => callOf.get(e.event_id))).size > 1,
    );
    expect(spanning.length).toBeGreaterThan(500);
    expect(stream.pending).toBeGreaterThan(0);
    // About 2 sessions a second; once the first sessions have run their course, their events at the mean rate.
    const lastTenMinutes = calls.slice(600).flat().length;
    expect(lastTenMinutes / 600).toBeGreaterThan(2 * eventsPerSession() * 0.8);
    expect(lastTenMinutes / 600).toBeLessThan(2 * eventsPerSession() * 1.2);
  });

  it('gives a time range its sessions, cut at the end of the range', () => {
    const start = new Date('2026-11-20T08:00:00Z');
    const end = new Date('2026-11-20T09:00:00Z');
    const events = clicksBetween({ start, end, sessions: 300, seed: 6 });
    expect(events.every((e) => e.event_time >= start.toISOString() && e.event_time < end.toISOString())).toBe(
      true,
    );
    expect(new Set(events.map((e) => e.session_id ?? e.user_id)).size).toBeGreaterThan(250);
    expect(clicksBetween({ start, end, sessions: 300, seed: 6 })).toEqual(events);
  });
});

describe('a generation of several days', () => {
  it("goes on past midnight: a late session's later events are the next day's, the session is the day's it starts on", () => {
    // Act
    const { events, planned } = generation(3, 12_000, 9);

    // Assess: each day's sessions hold its count, whatever the day their events fall on.
    const startedOn = (day: string) => planned.filter((s) => s.start.startsWith(day));
    for (const day of ['2026-11-19', '2026-11-20', '2026-11-21'])
      expect(startedOn(day).reduce((n, s) => n + s.events, 0)).toBe(12_000);
    const pastMidnight = planned.filter((s) => s.start.slice(0, 10) !== s.end.slice(0, 10));
    expect(pastMidnight.length).toBeGreaterThanOrEqual(4);
    // Only between generated days: the last day's late sessions are squeezed in before its end.
    expect(pastMidnight.every((s) => s.end < '2026-11-22')).toBe(true);
    expect(events.every((e) => e.event_time >= '2026-11-19' && e.event_time < '2026-11-22')).toBe(true);
    const times = events.map((e) => Date.parse(e.event_time));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length);
    // The computed sessions are the planned ones, those past midnight too.
    const computed = sessionsOf(events, GAP_MINUTES);
    expect(computed.map(computedKey).sort()).toEqual(planned.map(plannedKey).sort());
    const crossing = computed.filter(
      (s) => s.events[0]?.event_time.slice(0, 10) !== s.events.at(-1)?.event_time.slice(0, 10),
    );
    expect(crossing.map(computedKey).sort()).toEqual(pastMidnight.map(plannedKey).sort());
  });

  it('brings visitors back on later days, never within the gap, so the sessions computed are the planned ones', () => {
    // Prepare: a gap of 5 hours makes a visitor back the next morning a likely merge, were the gap not kept.
    const longGap: Dataset = { ...clicks, parameters: { ...clicks.parameters, session_gap_minutes: 300 } };

    for (const [ds, gapMinutes] of [
      [clicks, GAP_MINUTES],
      [longGap, 300],
    ] as const) {
      // Act
      const planned: PlannedSession[] = [];
      const events = [
        ...clicksForDays({
          days: ['2026-11-19', '2026-11-20', '2026-11-21'].map((day) => ({ day, count: 8000 })),
          seed: 4,
          dataset: ds,
          onSession: (session) => planned.push(session),
        }),
      ];

      // Assess
      const visitorsBefore = new Set<string>();
      let back = 0;
      let later = 0;
      for (const day of ['2026-11-19', '2026-11-20', '2026-11-21']) {
        const sessions = planned.filter((s) => s.start.startsWith(day));
        if (day !== '2026-11-19') {
          later += sessions.length;
          back += sessions.filter((s) => visitorsBefore.has(s.user_id)).length;
        }
        for (const s of sessions) visitorsBefore.add(s.user_id);
      }
      expect(share(back, later)).toBeGreaterThan(0.1);
      expect(share(back, later)).toBeLessThan(0.3);
      expect(sessionsOf(events, gapMinutes).map(computedKey).sort()).toEqual(planned.map(plannedKey).sort());
    }
  });

  it("splits the generation's exports by event_time: each day's events, its retries and invalid records exactly, all days' rows adding up", () => {
    // Act
    const days = ['2026-11-19', '2026-11-20', '2026-11-21'].map((day) => ({ day, count: 5000 }));
    const exports = [
      ...clickRecordsForDays(clicks, { days, seed: 6, duplicateShare: 0.04, invalidShare: 0.02 }),
    ];

    // Assess
    expect(exports.map((e) => e.day)).toEqual(days.map((d) => d.day));
    const kinds = (records: (typeof exports)[number]['records'], kind: string) =>
      records.filter((r) => r.kind === kind).length;
    for (const { day, records } of exports) {
      expect(kinds(records, 'duplicate')).toBe(200);
      expect(kinds(records, 'invalid')).toBe(100);
      const valid = records.filter((r) => r.kind !== 'invalid');
      expect(valid.every((r) => String(r.event['event_time']).startsWith(day))).toBe(true);
      // A retry repeats an event of its own export, so every layer's per-day dedup removes it.
      const ids = new Set(records.filter((r) => r.kind === 'event').map((r) => r.event['event_id']));
      expect(records.filter((r) => r.kind === 'duplicate').every((r) => ids.has(r.event['event_id']))).toBe(
        true,
      );
    }
    expect(exports.reduce((n, e) => n + e.records.length, 0)).toBe(15_000);
    // Sessions begun the evening before have their later events in the next day's export.
    const rows = exports.map((e) => e.records.length);
    expect(rows.slice(0, 2).some((n) => n !== 5000)).toBe(true);
  });

  it('refuses days that do not follow each other', () => {
    const days = [
      { day: '2026-11-19', count: 10 },
      { day: '2026-11-21', count: 10 },
    ];
    expect(() => [...clicksForDays({ days })]).toThrow(
      /days must be consecutive: 2026-11-21 does not follow 2026-11-19/,
    );
    expect(() => [...clicksForDays({ days: [] })]).toThrow(/at least one day/);
  });
});

describe('orders after sharing their product popularity with clicks', () => {
  it('are the orders they were for the same seed', () => {
    // Pinned from the generator before clicks shared hotProduct: an order stream's shape must not move.
    const first = [...ordersForDay('2026-11-20', 5, 9)].map((o) => [
      o.order_id,
      o.product_id,
      o.unit_price,
      o.user_id,
    ]);
    expect(first).toEqual([
      ['o-20261120s9-1', 'p-0006', '115.99', 'u-41084'],
      ['o-20261120s9-2', 'p-0099', '82.99', 'u-45973'],
      ['o-20261120s9-3', 'p-0003', '58.99', 'u-29365'],
      ['o-20261120s9-4', 'p-0013', '48.49', 'u-32099'],
      ['o-20261120s9-5', 'p-0023', '38.00', 'u-43278'],
    ]);
  });
});
