import { PreconditionFailedError } from '../pipeline/errors.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectStore, putJson } from '../pipeline/object-store.ts';

/** `state/stream/<dataset>/watermark.json`: the event-time progress of a dataset's stream. */
export interface StreamWatermark {
  /** Largest event time accepted so far (ISO, UTC), or null before the first event. */
  maxEventTime: string | null;
  /** maxEventTime − allowed lateness: minute windows before it are final; events before it are late. */
  watermark: string | null;
  allowedLatenessSeconds: number;
  updatedAt: string;
}

export const DEFAULT_ALLOWED_LATENESS_SECONDS = 3600;

/** Reads the stream watermark (null fields before the first event). */
export async function readWatermark(
  store: ObjectStore,
  dataset = 'orders',
): Promise<{ value: StreamWatermark; etag: string | undefined }> {
  const found = await getJson<StreamWatermark>(store, lake.streamWatermark(dataset));
  return found
    ? { value: found.value, etag: found.etag }
    : {
        value: {
          maxEventTime: null,
          watermark: null,
          allowedLatenessSeconds: DEFAULT_ALLOWED_LATENESS_SECONDS,
          updatedAt: new Date(0).toISOString(),
        },
        etag: undefined,
      };
}

/**
 * Moves the watermark forward to `maxEventTime` if that is later than what is stored (never backwards), with a
 * conditional write retried on a lost race, so concurrent consumers keep the monotonic maximum.
 */
export async function advanceWatermark(
  store: ObjectStore,
  dataset: string,
  input: { maxEventTime: Date; allowedLatenessSeconds: number; now: Date },
  attempts = 20,
): Promise<StreamWatermark> {
  for (let attempt = 1; ; attempt++) {
    const { value, etag } = await readWatermark(store, dataset);
    const current = value.maxEventTime ? Date.parse(value.maxEventTime) : Number.NEGATIVE_INFINITY;
    const max = Math.max(current, input.maxEventTime.getTime());
    if (max === current && value.allowedLatenessSeconds === input.allowedLatenessSeconds) return value;
    const next: StreamWatermark = {
      maxEventTime: new Date(max).toISOString(),
      watermark: new Date(max - input.allowedLatenessSeconds * 1000).toISOString(),
      allowedLatenessSeconds: input.allowedLatenessSeconds,
      updatedAt: input.now.toISOString(),
    };
    try {
      await putJson(
        store,
        lake.streamWatermark(dataset),
        next,
        etag ? { ifMatch: etag } : { ifNoneMatch: true },
      );
      return next;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2 * attempt + Math.random() * 10));
    }
  }
}
