import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDay } from '../functions/pipeline/dates.ts';
import { sqlPath, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { InvalidInputError } from '../functions/pipeline/errors.ts';
import { lake } from '../functions/pipeline/lake-layout.ts';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import { type ExportFormat, ORDER_FIELDS } from '../functions/pipeline/order-sources.ts';
import { type OrderEvent, ordersForDay, seededRandom } from './order-generator.ts';

export interface LandingExportInput {
  day: string;
  orders: number;
  seed?: number;
  format?: ExportFormat;
  /** Share of rows made invalid on purpose (demos of quarantine), 0..1. */
  malformedShare?: number;
  /** File name inside the day's landing partition (default `orders-<seed>.<ext>`). */
  name?: string;
  /** The reporting time zone whose day `day` is (default UTC). */
  timeZone?: string;
}

const MALFORMATIONS: ((event: OrderEvent) => Record<string, string | number | null>)[] = [
  (e) => ({ ...e, quantity: '-1' }),
  (e) => ({ ...e, unit_price: 'abc' }),
  (e) => ({ ...e, event_time: 'yesterday' }),
  (e) => ({ ...e, product_id: null }),
  (e) => ({ ...e, unit_price: '1.999' }),
];

/**
 * Writes a realistic export for `day` into `landing/orders/dt=D/` (Parquet, CSV or JSONL), the way an OLTP
 * export job would. DuckDB writes the file; the store moves it. Returns the key and the row count.
 */
export async function writeLandingExport(
  input: LandingExportInput,
  store: ObjectStore,
): Promise<{ key: string; rows: number; malformed: number }> {
  const day = parseDay(input.day);
  if (!Number.isInteger(input.orders) || input.orders < 0) {
    throw new InvalidInputError(`orders must be a whole number >= 0, got ${input.orders}`, 'orders');
  }
  const share = input.malformedShare ?? 0;
  if (!(share >= 0 && share <= 1))
    throw new InvalidInputError(`malformed share must be 0..1, got ${share}`, 'malformed');
  const seed = input.seed ?? 42;
  const format = input.format ?? 'parquet';
  const extension = format === 'jsonl' ? 'jsonl' : format;
  const key = `${lake.landingPrefix(day)}${input.name ?? `orders-${seed}.${extension}`}`;
  const random = seededRandom(seed ^ 0x1234567);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-landing-'));
  let malformed = 0;
  try {
    const file = path.join(workDir, `export.${extension}`);
    await withConnection(async (connection) => {
      await connection.run(
        `create temp table export_rows (${ORDER_FIELDS.map((field) => `${field} varchar`).join(', ')})`,
      );
      const appender = await connection.createAppender('export_rows');
      let i = 0;
      for (const event of ordersForDay(day, input.orders, seed, input.timeZone)) {
        let row: Record<string, string | number | null> = event as unknown as Record<string, string | number>;
        if (share > 0 && random() < share) {
          malformed += 1;
          row = MALFORMATIONS[i++ % MALFORMATIONS.length]?.(event) ?? row;
        }
        for (const field of ORDER_FIELDS) {
          const value = row[field];
          if (value === null || value === undefined) appender.appendNull();
          else appender.appendVarchar(String(value));
        }
        appender.endRow();
      }
      appender.flushSync();
      appender.closeSync();
      // Clean exports carry real types, as an OLTP export would; a deliberately broken one stays text.
      const select =
        malformed === 0
          ? `select event_id, order_id, user_id, product_id, quantity::integer as quantity,
               unit_price::decimal(18,2) as unit_price, currency, event_time::timestamptz as event_time from export_rows`
          : 'select * from export_rows';
      const options =
        format === 'parquet'
          ? 'format parquet, compression zstd'
          : format === 'csv'
            ? 'format csv, header true'
            : 'format json';
      await connection.run(`copy (${select}) to ${sqlPath(file)} (${options})`);
    });
    await store.putFile(key, file);
    return { key, rows: input.orders, malformed };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
