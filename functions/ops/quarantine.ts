import pLimit from 'p-limit';
import { validateRawTable } from '../pipeline/dataset-views.ts';
import { dataset } from '../pipeline/datasets.ts';
import { addDays, dayOf, UTC } from '../pipeline/dates.ts';
import { withConnection } from '../pipeline/duckdb-session.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import type { ObjectStore } from '../pipeline/object-store.ts';
import { appendJsonRecords, createRawTable } from '../pipeline/record-sources.ts';
import type { StreamMessage } from '../stream/micro-batch.ts';

/** A quarantined record as stored (batch and stream quarantine share these fields; stream adds message ids). */
export interface QuarantinedRecord {
  key: string;
  record_ref: string;
  source: string;
  reasons: string[];
  raw: string;
  quarantined_at: string;
  message_id?: string;
  batch_id?: string;
}

/** Every quarantined record of a dataset (default orders; optionally since an instant), oldest day first. */
export async function listQuarantine(
  store: ObjectStore,
  options: { since?: Date; dataset?: string } = {},
): Promise<QuarantinedRecord[]> {
  // Partitions are days of the reporting zone; a day earlier covers any zone (offsets stay under a day).
  const sinceDay = options.since ? addDays(dayOf(options.since), -1) : undefined;
  const prefix = lake.quarantinePrefix(undefined, options.dataset ?? 'orders');
  const files = (await store.list(prefix)).filter((info) => {
    const day = partitionOf(info.key).day;
    return day !== undefined && (sinceDay === undefined || day >= sinceDay);
  });
  const limit = pLimit(16);
  const perFile = await Promise.all(
    files.map((info) =>
      limit(async () => {
        const object = await store.get(info.key);
        if (!object) return [];
        return object.body
          .toString('utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => ({ key: info.key, ...(JSON.parse(line) as Omit<QuarantinedRecord, 'key'>) }));
      }),
    ),
  );
  const since = options.since?.getTime();
  return perFile
    .flat()
    .filter((r) => since === undefined || Date.parse(r.quarantined_at) >= since)
    .map((r) => ({ ...r, reasons: Array.isArray(r.reasons) ? r.reasons : [String(r.reasons)] }));
}

/**
 * Splits quarantined stream records into those that validate now (under the current rules of their dataset's
 * declaration, default orders) and those that still do not, with today's reasons. Batch-layer records are left
 * out: their fix is a corrected export.
 */
export async function revalidateQuarantine(
  records: readonly QuarantinedRecord[],
  datasetName = 'orders',
): Promise<{
  nowValid: StreamMessage[];
  stillInvalid: (QuarantinedRecord & { reasonsNow: string[] })[];
}> {
  const streamRecords = records.filter((r) => r.message_id !== undefined);
  if (streamRecords.length === 0) return { nowValid: [], stillInvalid: [] };
  const ds = dataset(datasetName);
  const verdicts = await withConnection(async (connection) => {
    await createRawTable(connection, ds);
    await appendJsonRecords(
      connection,
      streamRecords.map((r, i) => ({ ref: String(i), line: r.raw })),
      { source: 'quarantine-replay', isEventIdRequired: true },
      ds,
    );
    await validateRawTable(connection, undefined, UTC, ds);
    const reader = await connection.runAndReadAll(
      `select record_ref as ref, is_valid, reasons from validated_${ds.name}`,
    );
    return reader.getRowObjectsJson() as { ref: string; is_valid: boolean; reasons: string[] }[];
  });
  const nowValid: StreamMessage[] = [];
  const stillInvalid: (QuarantinedRecord & { reasonsNow: string[] })[] = [];
  for (const verdict of verdicts) {
    const record = streamRecords[Number(verdict.ref)];
    if (!record) continue;
    if (verdict.is_valid) {
      // The original message id: replaying the same quarantine again forms the same batches (idempotent).
      nowValid.push({ messageId: record.message_id ?? record.record_ref, body: record.raw });
    } else {
      stillInvalid.push({ ...record, reasonsNow: verdict.reasons });
    }
  }
  return { nowValid, stillInvalid };
}
