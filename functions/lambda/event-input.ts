import { type ZodType, z } from 'zod';
import { InvalidInputError } from '../pipeline/errors.ts';

/**
 * The event every EventBridge schedule sends, for every scheduled function. Its `time` is the run's logical
 * time (so a fixture replays any run); a time without a zone would be read in the machine's zone, so it is
 * refused rather than guessed.
 */
export const scheduledEventSchema = z.object({
  'detail-type': z.literal('Scheduled Event', { error: 'must be "Scheduled Event"' }),
  time: z.iso.datetime({ offset: true, error: 'must be an ISO-8601 timestamp with a zone' }),
});

export type ScheduledEvent = z.infer<typeof scheduledEventSchema>;

/**
 * Parses a Lambda event with `schema`; every problem, named by its field (`time: must be …`), goes into one
 * InvalidInputError that says what was `expected`.
 */
export function parseEvent<T>(schema: ZodType<T>, event: unknown, expected: string): T {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const { issues } = parsed.error;
  throw new InvalidInputError(
    `expected ${expected}: ${issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ')}`,
    String(issues[0]?.path[0] ?? 'event'),
  );
}

/** The logical time of a scheduled invocation. */
export function scheduledTime(event: unknown): Date {
  return new Date(parseEvent(scheduledEventSchema, event, 'an EventBridge Scheduled Event').time);
}
