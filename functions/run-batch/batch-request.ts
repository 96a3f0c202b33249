import { z } from 'zod';
import { parseEvent, type ScheduledEvent, scheduledEventSchema } from '../lambda/event-input.ts';
import { batchConcurrency } from '../settings/settings.ts';

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');

/** A declared dataset (default orders): checked against the declarations when the run starts. */
const datasetName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a dataset name')
  .optional();

const dayRequestSchema = z
  .object({ date: day, force: z.boolean().optional(), dataset: datasetName })
  .strict();

const rangeRequestSchema = z
  .object({
    startDate: day,
    endDate: day,
    force: z.boolean().optional(),
    dataset: datasetName,
    concurrency: z
      .number()
      .refine(batchConcurrency.accepts, { error: `must be ${batchConcurrency.rule}` })
      .optional(),
  })
  .strict();

/** The three ways the batch function is invoked: the daily schedule, one day, or a backfill range. */
export type BatchRequest =
  | ScheduledEvent
  | z.infer<typeof dayRequestSchema>
  | z.infer<typeof rangeRequestSchema>;

/**
 * Reads the event as the one form it claims to be (a schedule's `detail-type`/`time`, a `date`, or else a
 * range), so a mistake is named by its field (`time: must be …`) instead of "no form matched".
 */
export function parseBatchRequest(event: unknown): BatchRequest {
  const fields = typeof event === 'object' && event !== null ? event : {};
  const expected = 'a Scheduled Event, {date} or {startDate, endDate}';
  if ('detail-type' in fields || 'time' in fields) return parseEvent(scheduledEventSchema, event, expected);
  if ('date' in fields) return parseEvent(dayRequestSchema, event, expected);
  return parseEvent(rangeRequestSchema, event, expected);
}
