import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { type ClickLike, dedupByEventId, sessionsOf, sessionTotals } from '../local/click-sessions.ts';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();
const GAP_MINUTES = dataset('clicks').parameters['session_gap_minutes'] as number;

async function ok(...args: string[]) {
  const result = await twinflow(...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

/** The JSONL export's rows as a client sent them (an absent field is null in an export). */
function exportedClicks(lake: string, key: string): ClickLike[] {
  return readFileSync(path.join(lake, key), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ClickLike);
}

describe('twinflow generate-landing --dataset clicks (realistic sessions)', () => {
  it.each([
    ['2026-11-20', 'UTC'],
    // A 23-hour day: the export holds the New York day only.
    ['2026-03-08', 'America/New_York'],
  ])(
    'batch publishes every click of %s (%s) and counts the sessions a separate computation finds',
    async (day, tz) => {
      // Prepare: one day alone, so no neighbouring day's clicks move a session's start or end.
      const lake = tempDir();
      const lakeArgs = ['--tz', tz, '--lake', lake];

      // Act
      const generated = await ok(
        ...['generate-landing', '--dataset', 'clicks', '--date', day, '--events', '6000'],
        ...['--duplicates', '0.05', '--format', 'jsonl', '--seed', '17', '--json', ...lakeArgs],
      );
      const batch = await ok('batch', '--dataset', 'clicks', '--date', day, '--json', ...lakeArgs);
      const query = (...extra: string[]) =>
        ok(
          ...['query', '--model', 'sessions_minute', '--start', day, '--granularity', 'day', '--json'],
          ...extra,
          ...lakeArgs,
        );
      const totals = (await query()).totals;
      const byDevice = (await query('--group-by', 'device')).rows as Record<string, string | number>[];
      const funnel = (
        await ok(
          ...['query', '--model', 'funnel_minute', '--start', day, '--granularity', 'day', '--json'],
          ...lakeArgs,
        )
      ).totals;

      // Assess
      const outcome = batch.outcomes[0];
      expect(outcome.status).toBe('published');
      expect(outcome.report.counts).toEqual({
        received: 6000,
        valid: 6000,
        quarantined: 0,
        duplicates: generated.duplicates,
        orders: generated.events,
      });
      expect(generated.duplicates).toBe(300);
      const events = dedupByEventId(exportedClicks(lake, generated.key));
      expect(events).toHaveLength(generated.events);
      const sessions = sessionsOf(events, GAP_MINUTES);
      expect(totals).toEqual(sessionTotals(sessions));
      expect(totals.sessions).toBeGreaterThan(1500);
      const devices = [...new Set(sessions.map((s) => s.device))].sort();
      expect(byDevice.map((row) => row['device']).sort()).toEqual(devices);
      for (const row of byDevice) {
        const { device, window_start: _, ...measures } = row;
        expect(measures, String(device)).toEqual(sessionTotals(sessions.filter((s) => s.device === device)));
      }
      const count = (type: string) => events.filter((e) => e.event_type === type).length;
      expect(funnel).toMatchObject({
        product_views: count('product_view'),
        add_to_carts: count('add_to_cart'),
        checkouts: count('checkout'),
        purchases: count('purchase'),
      });
      expect(Number(funnel.view_to_purchase)).toBeGreaterThan(0);
      expect(Number(funnel.view_to_purchase)).toBeLessThan(0.1);
    },
  );

  it('--days 2: one generation whose sessions go on past midnight into the next export; batch counts each once', async () => {
    // Prepare
    const lake = tempDir();
    const days = ['2026-11-20', '2026-11-21'];

    // Act
    const generated = await ok(
      ...['generate-landing', '--dataset', 'clicks', '--date', days[0] as string, '--days', '2'],
      ...[
        '--events',
        '5000',
        '--duplicates',
        '0.02',
        '--format',
        'jsonl',
        '--seed',
        '8',
        '--json',
        '--lake',
        lake,
      ],
    );
    const batch = await ok(
      ...['batch', '--dataset', 'clicks', '--start-date', days[0] as string, '--end-date', days[1] as string],
      ...['--json', '--lake', lake],
    );
    const { totals } = await ok(
      ...['query', '--model', 'sessions_minute', '--start', days[0] as string, '--end', '2026-11-22'],
      ...['--granularity', 'day', '--json', '--lake', lake],
    );

    // Assess
    expect(generated.map((g: { key: string }) => g.key)).toEqual(
      days.map((day) => `landing/clicks/dt=${day}/clicks-8.jsonl`),
    );
    expect(generated.reduce((n: number, g: { rows: number }) => n + g.rows, 0)).toBe(10_000);
    expect(batch.outcomes.map((o: { status: string }) => o.status)).toEqual(['published', 'published']);
    const events = generated.flatMap((g: { key: string }) => dedupByEventId(exportedClicks(lake, g.key)));
    const sessions = sessionsOf(events, GAP_MINUTES);
    const dayOf = (e: ClickLike) => e.event_time.slice(0, 10);
    expect(
      sessions.some((s) => dayOf(s.events[0] as ClickLike) !== dayOf(s.events.at(-1) as ClickLike)),
    ).toBe(true);
    expect(totals).toEqual(sessionTotals(sessions));
  });

  it.each(['parquet', 'csv'])('a clean %s export validates with nothing quarantined', async (format) => {
    const lake = tempDir();
    await ok(
      ...['generate-landing', '--dataset', 'clicks', '--date', '2026-11-20', '--events', '3000'],
      ...['--format', format, '--json', '--lake', lake],
    );
    const batch = await ok('batch', '--dataset', 'clicks', '--date', '2026-11-20', '--json', '--lake', lake);
    expect(batch.outcomes[0].report.counts).toMatchObject({ received: 3000, valid: 3000, quarantined: 0 });
  });

  it('--malformed: batch quarantines exactly the malformed clicks, one reason each, every field in turn', async () => {
    const lake = tempDir();
    const generated = await ok(
      ...['generate-landing', '--dataset', 'clicks', '--date', '2026-11-20', '--events', '2000'],
      ...['--malformed', '0.02', '--duplicates', '0.03', '--format', 'csv', '--json', '--lake', lake],
    );
    const batch = await ok('batch', '--dataset', 'clicks', '--date', '2026-11-20', '--json', '--lake', lake);
    const { report } = batch.outcomes[0];
    expect(generated).toMatchObject({ rows: 2000, malformed: 40, duplicates: 60, events: 1900 });
    expect(report.counts).toEqual({
      received: 2000,
      valid: 1960,
      quarantined: 40,
      duplicates: 60,
      orders: 1900,
    });
    const quarantined = readFileSync(path.join(lake, report.quarantineKey), 'utf8').trim().split('\n');
    const reasons = quarantined.map((line) => JSON.parse(line).reasons as string[]);
    expect(reasons.map((r) => r.length)).toEqual(Array(40).fill(1));
    const fields = new Set(reasons.map((r) => (r[0] ?? '').split(':')[0]));
    expect(fields).toEqual(new Set(Object.keys(dataset('clicks').fields)));
  });

  it('the same seed writes the same export, another seed another', async () => {
    const [a, b, c] = [tempDir(), tempDir(), tempDir()];
    const args = ['generate-landing', '--dataset', 'clicks', '--date', '2026-11-20', '--events', '800'];
    const key = 'landing/clicks/dt=2026-11-20/clicks-5.jsonl';
    await ok(...args, '--seed', '5', '--format', 'jsonl', '--json', '--lake', a);
    await ok(...args, '--seed', '5', '--format', 'jsonl', '--json', '--lake', b);
    await ok(...args, '--seed', '6', '--format', 'jsonl', '--json', '--lake', c);
    const file = (lake: string, name: string) => readFileSync(path.join(lake, name), 'utf8');
    expect(file(b, key)).toBe(file(a, key));
    expect(file(c, 'landing/clicks/dt=2026-11-20/clicks-6.jsonl')).not.toBe(file(a, key));
    // Realistic, not declaration-driven: client session ids, catalogue products, shop pages.
    const first = JSON.parse(file(a, key).split('\n')[0] ?? '{}');
    expect(first.event_id).toBe('ck-20261120s5-1');
    expect(first.page).toMatch(/^\//);
  });
});
