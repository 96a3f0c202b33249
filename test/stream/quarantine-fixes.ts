import { listQuarantine } from '../../functions/ops/quarantine.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';

/** `orders.jsonl@1a2b3c4d:48` (a replayed line's message id) → `orders.jsonl:48`. */
export function lineRefOf(messageId: string | undefined): string | undefined {
  return messageId?.replace(/@[0-9a-f]+:/, ':');
}

/**
 * Corrects one quarantined record's raw body in its quarantine file, the way an operator repairs a producer's
 * mistake before `quarantine replay` (or as a rule change would make it valid). `lineRef`: `orders.jsonl:48`.
 * Returns the corrected body.
 */
export async function fixQuarantined(
  store: ObjectStore,
  lineRef: string,
  fix: (raw: string) => string,
): Promise<string> {
  const record = (await listQuarantine(store)).find((r) => lineRefOf(r.message_id) === lineRef);
  if (!record) throw new Error(`no quarantined record from ${lineRef}`);
  const messageId = record.message_id;
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
