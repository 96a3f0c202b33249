import { describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { queryMetric } from '../../functions/serving/metric-query.ts';
import { querySales } from '../../functions/serving/sales.ts';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { publishBatchDay, putRealtimePartial } from './lake-fixtures.ts';

const tempDir = useTempDirs();

async function seededLake(): Promise<string> {
  const dir = tempDir();
  const store = new LocalDirectoryStore(dir);
  await publishBatchDay(
    store,
    '2026-11-19',
    [
      { order_id: 'a', product_id: 'p-1', event_time: '2026-11-19T10:00:00Z', unit_price: '2.50' },
      {
        order_id: 'b',
        product_id: 'p-2',
        event_time: '2026-11-19T11:00:00Z',
        unit_price: '1.25',
        quantity: 2,
      },
    ],
    'v1',
  );
  await putRealtimePartial(store, '2026-11-20', '00', 'rt', [
    { order_id: 'c', product_id: 'p-1', event_time: '2026-11-20T00:10:00Z', unit_price: '0.99' },
  ]);
  return dir;
}

describe('twinflow query', () => {
  it('--model prints the GET /metrics/{model} body: --where per dimension, --group-by dimensions, a table', async () => {
    const lake = await seededLake();
    const args = [
      '--model',
      'sales_minute',
      '--start',
      '2026-11-19',
      '--end',
      '2026-11-21',
      '--granularity',
      'day',
    ];
    const json = await twinflow('query', ...args, '--where', 'product_id=p-1', '--json', '--lake', lake);
    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout);
    const direct = await queryMetric(
      servedModel('sales_minute'),
      {
        start: new Date('2026-11-19T00:00:00Z'),
        end: new Date('2026-11-21T00:00:00Z'),
        granularity: 'day',
        filters: { product_id: 'p-1' },
        groupBy: [],
        timeZone: 'UTC',
      },
      {
        store: new LocalDirectoryStore(lake),
        clock: () => new Date(),
        log: silentLog,
        cache: new BatchCache(),
      },
    );
    expect({ ...body, generated_at: '' }).toEqual({ ...direct, generated_at: '' });
    expect(body.totals).toMatchObject({ orders: 2, units: 2, revenue: '3.49' });
    expect(body.rows.map((r: { product_id: string }) => r.product_id)).toEqual(['p-1', 'p-1']);

    const table = await twinflow('query', ...args, '--group-by', 'product_id', '--lake', lake);
    expect(table.stdout).toContain('sales_minute (dataset orders)');
    expect(table.stdout).toMatch(/window_start\s+product_id\s+orders\s+units\s+revenue/);

    for (const [flags, message] of [
      [['--model', 'nope'], /unknown model "nope" \(declared: .*sales_minute/],
      [['--model', 'sales_minute', '--where', 'color=red'], /unknown parameter "color"/],
      [['--model', 'sales_minute', '--where', 'product_id'], /--where expects dimension=value/],
    ] as const) {
      const result = await twinflow('query', '--start', '2026-11-19', ...flags, '--lake', lake);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });

  it('--json prints the same body as GET /sales (bar the generation time)', async () => {
    const lake = await seededLake();
    const args = ['--start', '2026-11-19', '--end', '2026-11-21', '--granularity', 'day'];

    const result = await twinflow('query', ...args, '--lake', lake, '--json');
    const core = await querySales(
      { start: new Date('2026-11-19T00:00:00Z'), end: new Date('2026-11-21T00:00:00Z'), granularity: 'day' },
      {
        store: new LocalDirectoryStore(lake),
        clock: () => new Date(),
        log: silentLog,
        cache: new BatchCache(),
      },
    );

    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as typeof core;
    expect({ ...printed, generated_at: 'x' }).toEqual({ ...core, generated_at: 'x' });
    expect(printed.totals).toEqual({
      orders: 3,
      units: 4,
      revenue: '5.99',
      revenue_by_currency: { USD: '5.99' },
    });
  }, 20_000);

  it('prints a readable table with totals and segments', async () => {
    const lake = await seededLake();
    const result = await twinflow(
      'query',
      '--start',
      '2026-11-19',
      '--end',
      '2026-11-20T01:00:00Z',
      '--group-by',
      'product',
      '--lake',
      lake,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/window_start\s+product_id\s+orders\s+units\s+revenue/);
    expect(result.stdout).toMatch(/2026-11-19T10:00:00Z\s+p-1\s+1\s+1\s+2\.50/);
    expect(result.stdout).toMatch(/total\s+3\s+4\s+5\.99/);
    expect(result.stdout).toContain('realtime 2026-11-20T00:00:00.000Z → 2026-11-20T01:00:00.000Z');
  }, 20_000);

  it.each([
    [['--start', 'yesterday', '--end', '2026-11-20'], /start must be an ISO-8601 instant/],
    [['--start', '2026-11-01', '--end', '2026-11-20', '--granularity', 'minute'], /at most 7 days/],
    [['--start', '2026-11-20', '--end', '2026-11-20'], /end .* must be after start/],
    [['--start', '2026-11-19', '--end', '2026-11-20', '--granularity', 'week'], /granularity must be one of/],
  ])(
    'rejects %j with exit code 2 and a message naming the problem',
    async (args, message) => {
      const result = await twinflow('query', ...args, '--lake', tempDir());
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
    },
    20_000,
  );
});
