import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { listQuarantine } from '../../functions/stream/quarantine.ts';

/**
 * Corrects one quarantined record's raw body in its quarantine file, the way an operator repairs a producer's
 * mistake before `quarantine replay` (or as a rule change would make it valid). Returns the corrected body.
 */
export async function fixQuarantined(
  store: ObjectStore,
  messageId: string,
  fix: (raw: string) => string,
): Promise<string> {
  const record = (await listQuarantine(store)).find((r) => r.message_id === messageId);
  if (!record) throw new Error(`no quarantined record with message id ${messageId}`);
  const object = await store.get(record.key);
  if (!object) throw new Error(`${record.key} is gone`);
  const fixed = fix(record.raw);
  const lines = object.body
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const stored = JSON.parse(line) as { message_id?: string };
      return stored.message_id === messageId ? JSON.stringify({ ...stored, raw: fixed }) : line;
    });
  await store.put(record.key, `${lines.join('\n')}\n`);
  return fixed;
}
