import { z } from 'zod';

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');

/** The three ways the batch function is invoked: the daily schedule, one day, or a backfill range. */
export const batchRequestSchema = z.union([
  z.object({ 'detail-type': z.literal('Scheduled Event'), time: z.iso.datetime({ offset: true }) }),
  z.object({ date: day, force: z.boolean().optional() }).strict(),
  z
    .object({
      startDate: day,
      endDate: day,
      force: z.boolean().optional(),
      concurrency: z.number().int().min(1).max(16).optional(),
    })
    .strict(),
]);

export type BatchRequest = z.infer<typeof batchRequestSchema>;
