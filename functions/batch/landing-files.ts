import { shortHash } from '../pipeline/ids.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import { type ExportFormat, exportFormatOf } from '../pipeline/order-sources.ts';
import { modelSql } from '../pipeline/sql-models.ts';

/** An export file of one day's landing partition. */
export interface LandingFile extends ObjectInfo {
  format: ExportFormat;
}

/** The export files of a day (other objects, like `_SUCCESS` markers, are ignored). */
export async function landingFiles(store: ObjectStore, day: string): Promise<LandingFile[]> {
  const objects = await store.list(lake.landingPrefix(day));
  return objects.flatMap((info) => {
    const format = exportFormatOf(info.key);
    return format ? [{ ...info, format }] : [];
  });
}

/** Every day that has landing objects, with their objects, from one listing of `landing/orders/`. */
export async function landingDays(store: ObjectStore): Promise<Map<string, LandingFile[]>> {
  const byDay = new Map<string, LandingFile[]>();
  for (const info of await store.list(lake.landingRoot)) {
    const format = exportFormatOf(info.key);
    const { day } = partitionOf(info.key);
    if (!format || !day) continue;
    byDay.set(day, [...(byDay.get(day) ?? []), { ...info, format }]);
  }
  return byDay;
}

const LOGIC_VERSION = shortHash(
  modelSql('raw_orders_from_json'),
  modelSql('validated_orders'),
  modelSql('order_facts'),
  modelSql('sales_minute'),
  modelSql('daily_sales'),
);

/**
 * The deterministic version of a day's views: a hash of its export files (key, ETag, size) and of the SQL.
 * Unchanged inputs and logic give the same version, so a re-run overwrites identical objects.
 */
export function viewVersion(files: readonly LandingFile[]): string {
  return shortHash(LOGIC_VERSION, ...files.map((f) => `${f.key}|${f.etag}|${f.size}`));
}
