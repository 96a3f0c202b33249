import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import type { HttpApi } from '../../local/http-api.ts';
import { expectedTotals, publishBatchDay, type Sale } from '../serving/lake-fixtures.ts';
import { startQueryApi } from '../support/query-api.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-rel-fuzz-'));
const DAY = '2026-11-20';
const DROP_TABLE = "x'); drop table sales_minute; --";
const OR_TRUE = "' or 1=1 --";
const SALES: Sale[] = [
  { order_id: 'a', event_time: `${DAY}T08:30:00Z`, unit_price: '12.34', product_id: 'p1' },
  { order_id: 'b', event_time: `${DAY}T09:10:00Z`, unit_price: '5.00', product_id: DROP_TABLE, quantity: 2 },
  { order_id: 'c', event_time: `${DAY}T10:45:00Z`, unit_price: '0.99', product_id: 'p2' },
];
let api: HttpApi;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'CRITICAL';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  await publishBatchDay(new LocalDirectoryStore(lakeDir), DAY, SALES, 'v-fuzz');
  // The local runtime's HTTP adapter in front of the real query handler: real HTTP parsing on loopback.
  api = await startQueryApi();
}, 30_000);

afterAll(async () => {
  await api?.close();
  rmSync(lakeDir, { recursive: true, force: true });
});

const HOSTILE = [
  DROP_TABLE,
  OR_TRUE,
  "1; select * from read_csv('/etc/passwd')",
  "'; copy (select 1) to '/tmp/pwned.csv'; --",
  '$1',
  '?',
  '%00',
  '%zz',
  '%',
  '%%32%30',
  '\u0000',
  '\u202e',
  '🛒'.repeat(50),
  'x'.repeat(5_000),
  '',
  ' ',
  '../../etc/passwd',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style probe, meant literally
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  'NaN',
  'Infinity',
  '-1',
  '1e309',
  '9999-99-99',
  '2026-11-20',
  '2026-11-20T00:00:00Z',
  '2026-11-21T00:00:00+14:00',
  '2026-02-30T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '275760-09-13T00:00:00Z',
  'minute',
  'hour',
  'day',
  'product',
  '1,5,15',
  '0',
  '1441',
];
const NAMES = ['start', 'end', 'granularity', 'product_id', 'group_by', 'sizes', 'at', 'days', 'limit'];
const PATHS = [
  '/sales',
  '/sales/windows',
  '/health',
  '/reconciliation',
  '/dashboard',
  '/sales/',
  '/SALES',
  '/x',
];

const value = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const name = fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom(...HOSTILE), fc.string({ maxLength: 12 }));
/** Well-formed-looking pairs (encoded or raw), or raw bytes that may be broken percent-encoding. */
const queryString = fc.oneof(
  fc
    .array(fc.tuple(name, value, fc.boolean()), { maxLength: 8 })
    .map((pairs) =>
      pairs
        .map(([n, v, isRaw]) => (isRaw ? `${n}=${v}` : `${encodeURIComponent(n)}=${encodeURIComponent(v)}`))
        .join('&'),
    ),
  fc.string({ unit: 'binary-ascii', maxLength: 200 }),
  fc.constantFrom(
    'start=2026-11-20&end=2026-11-21',
    'start=2026-11-20&end=2026-11-21&start=2026-11-19',
    '&&&=&=',
  ),
);

async function get(pathAndQuery: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${api.url}${pathAndQuery}`);
  return { status: response.status, body: await response.text() };
}

describe('API fuzz over HTTP (local HTTP adapter + real query handler)', () => {
  it('1,200 random and hostile query strings: only 2xx/4xx, never 5xx', async () => {
    // Prepare
    const statuses = new Map<number, number>();
    const faults: string[] = [];
    let refusedByClient = 0;

    // Act
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PATHS), queryString, async (route, query) => {
        let response: { status: number; body: string };
        try {
          response = await get(`${route}?${query}`);
        } catch {
          // fetch itself refused the URL (not something a client can send): nothing reached the API.
          refusedByClient += 1;
          return;
        }
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500) faults.push(`${route}?${query} → ${response.status} ${response.body}`);
      }),
      { numRuns: 1_200, seed: 9 },
    );
    console.info(
      `api fuzz: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, ${refusedByClient} refused by the client`,
    );

    // Assess
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(faults).toEqual([]);
    expect(answered).toBeGreaterThanOrEqual(1_000);
    expect([...statuses.keys()].some((s) => s >= 400 && s < 500)).toBe(true);
    expect([...statuses.keys()].some((s) => s >= 200 && s < 300)).toBe(true);
  }, 80_000);

  it('SQL-looking strings stay data: they match only themselves and change nothing', async () => {
    const range = `start=${DAY}T00:00:00Z&end=${DAY}T23:59:59Z&granularity=day`;
    const totals = async (query: string) => {
      const response = await get(`/sales?${query}`);
      expect(response.status).toBe(200);
      return (JSON.parse(response.body) as { totals: unknown }).totals;
    };

    const dropTable = await totals(`${range}&product_id=${encodeURIComponent(DROP_TABLE)}`);
    const orTrue = await totals(`${range}&product_id=${encodeURIComponent(OR_TRUE)}`);
    const all = await totals(range);

    expect(dropTable).toEqual(expectedTotals(SALES.filter((s) => s.product_id === DROP_TABLE)));
    expect(orTrue).toEqual({ orders: 0, units: 0, revenue_by_currency: {} });
    expect(all).toEqual(expectedTotals(SALES));
  });
});
