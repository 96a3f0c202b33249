import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MSKEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import type { StreamQuarantineRecord } from '../../functions/stream/micro-batch.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

/**
 * events/msk-clicks.json (an MSK `aws:kafka` event: the clicks of events/sqs-clicks.json on two partitions of
 * `twinflow.clicks` — a product view without a product, a producer retry of clk-0002, five other clicks) through
 * the ingest handler deployed for clicks (TWINFLOW_DATASET=clicks), on a real local lake.
 */
const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-kafka-clicks-'));
type Response = { batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[] };
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<Response>;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  delete process.env['LAKE_BUCKET'];
  process.env['TWINFLOW_DATASET'] = 'clicks';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

const DAY = '2026-11-21';

async function rows<T>(sql: string): Promise<T[]> {
  return withConnection(
    async (connection) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as T[],
  );
}

describe('ingest-clicks handler, MSK event source', () => {
  it('msk-clicks.json: clicks stored once each, the product view without a product quarantined', async () => {
    // Prepare
    const event = (await fixture('msk-clicks.json')) as MSKEvent;
    const values = Object.values(event.records)
      .flat()
      .map(
        (r) =>
          JSON.parse(Buffer.from(r.value, 'base64').toString()) as { event_id: string; product_id?: string },
      );
    const stored = [
      ...new Set(values.filter((v) => v.event_id !== 'clk-0004').map((v) => v.event_id)),
    ].sort();
    expect(values).toHaveLength(7);
    expect(stored).toHaveLength(5);

    // Act
    const response = await handler(event, lambdaContext('ingest-clicks'));

    // Assess: all acknowledged; each valid click archived once (the retry of clk-0002 removed).
    expect(response).toEqual({ batchItemFailures: [] });
    const archive = path.join(lakeDir, 'stream', 'clicks', `dt=${DAY}`, '**', '*.parquet');
    const archived = await rows<{ event_id: string }>(
      `select event_id from read_parquet('${archive}') order by event_id`,
    );
    expect(archived.map((r) => r.event_id)).toEqual(stored);
    const funnel = path.join(lakeDir, 'views', 'realtime', 'funnel_minute', '**', '*.parquet');
    expect(
      await rows(
        `select sum(product_views)::int as product_views, sum(add_to_carts)::int as add_to_carts,
                sum(purchases)::int as purchases from read_parquet('${funnel}')`,
      ),
    ).toEqual([{ product_views: 2, add_to_carts: 1, purchases: 1 }]);
    const quarantineDir = path.join(lakeDir, 'quarantine', 'clicks', `dt=${DAY}`);
    const quarantined = readdirSync(quarantineDir).flatMap((file) =>
      readFileSync(path.join(quarantineDir, file), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as StreamQuarantineRecord),
    );
    expect(quarantined.map((r) => [r.message_id, r.source, JSON.parse(r.raw).event_id, r.reasons])).toEqual([
      ['twinflow.clicks-1-310', 'kafka', 'clk-0004', ['product_id: required unless event_type is page_view']],
    ]);
  });
});
