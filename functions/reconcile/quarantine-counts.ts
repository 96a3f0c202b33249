import pLimit from 'p-limit';
import type { Dataset } from '../pipeline/datasets.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { lake } from '../pipeline/lake-layout.ts';
import type { ObjectStore } from '../pipeline/object-store.ts';

/** Batch writes its rejects as `batch-<version>.jsonl`; everything else in the partition came from the stream. */
const BATCH_FILE = /\/batch-[^/]+\.jsonl$/;

export interface QuarantineCounts {
  records: number;
  byReason: Record<string, number>;
  /** By the event hour the record claimed, where its raw text had a readable event_time. */
  byHour: Record<string, number>;
}

/** Counts the stream-side quarantined records of a dataset's day by reason and by the event hour they claimed. */
export async function streamQuarantineCounts(
  store: ObjectStore,
  day: string,
  timeZone: string,
  ds: Pick<Dataset, 'name' | 'eventTime'> = { name: 'orders', eventTime: 'event_time' },
): Promise<QuarantineCounts> {
  const infos = (await store.list(lake.quarantinePrefix(day, ds.name))).filter(
    (info) => info.key.endsWith('.jsonl') && !BATCH_FILE.test(info.key),
  );
  if (infos.length === 0) return { records: 0, byReason: {}, byHour: {} };
  const limit = pLimit(16);
  const paths = await Promise.all(infos.map((info) => limit(() => store.localPath(info))));
  return withConnection(async (connection) => {
    await connection.run(
      `create or replace temp table stream_quarantine as
       select reasons, raw
       from read_json(${sqlPathList(paths)}, format = 'newline_delimited',
           columns = {record_ref: 'varchar', source: 'varchar', reasons: 'varchar[]', raw: 'varchar', quarantined_at: 'varchar'})`,
    );
    const read = async (sql: string, params?: Record<string, string>) =>
      (await connection.runAndReadAll(sql, params)).getRowObjectsJson() as Record<string, unknown>[];
    const total = await read('select count(*)::integer as n from stream_quarantine');
    const reasons = await read(
      `select reason, count(*)::integer as n
       from (select unnest(reasons) as reason from stream_quarantine)
       group by all order by n desc, reason`,
    );
    const hours = await read(
      `with claimed as (
           select try_cast(json_extract_string(raw, $path) as timestamptz) as event_time
           from stream_quarantine
           where json_valid(raw)
       )
       select strftime(event_time::timestamp, '%H') as hour, count(*)::integer as n
       from claimed
       where event_time is not null and local_date(event_time, $zone) = $day::date
       group by all order by hour`,
      { day, zone: timeZone, path: `$.${ds.eventTime}` },
    );
    await connection.run('drop table stream_quarantine');
    return {
      records: Number(total[0]?.['n'] ?? 0),
      byReason: Object.fromEntries(reasons.map((r) => [String(r['reason']), Number(r['n'])])),
      byHour: Object.fromEntries(hours.map((r) => [String(r['hour']), Number(r['n'])])),
    };
  });
}
