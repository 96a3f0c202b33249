import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createOrderGenerator } from './order-generator.ts';
import type { ScaledClock } from './scaled-clock.ts';

/** Feeds order events into the orders queue: generated at a steady rate, or replayed from a `.jsonl` file. */

/** Sends bodies in SendMessageBatch calls of 10; returns how many SQS accepted. */
export async function sendBodies(
  client: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < bodies.length; i += 10) {
    const chunk = bodies.slice(i, i + 10);
    const out = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((body, n) => ({ Id: String(n), MessageBody: body })),
      }),
    );
    accepted += out.Successful?.length ?? 0;
    if (out.Failed?.length)
      throw new Error(`SQS rejected ${out.Failed.length} messages: ${out.Failed[0]?.Message}`);
  }
  return accepted;
}

export interface OrderGeneratorFeed {
  /** Events accepted by the queue so far. */
  readonly sent: number;
  stop(): Promise<void>;
}

/**
 * Sends `rate` generated orders per second (stamped with the local clock) until stopped. Order ids carry a
 * per-start prefix, so a restarted runtime never re-sends an id the lake has already counted.
 */
export function startOrderGenerator(options: {
  client: SQSClient;
  queueUrl: string;
  rate: number;
  clock: ScaledClock;
  seed?: number;
  onError?: (error: Error) => void;
}): OrderGeneratorFeed {
  const generator = createOrderGenerator({
    seed: options.seed ?? Date.now() % 2 ** 31,
    idPrefix: `r${Date.now().toString(36)}`,
  });
  let sent = 0;
  let owed = 0;
  let last = performance.now();
  let stopped = false;
  let tick: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    tick = tick.then(async () => {
      if (stopped) return;
      const now = performance.now();
      owed += ((now - last) / 1000) * options.rate;
      last = now;
      const count = Math.floor(owed);
      if (count === 0) return;
      owed -= count;
      const bodies = Array.from({ length: count }, () => JSON.stringify(generator.next(options.clock.now())));
      try {
        sent += await sendBodies(options.client, options.queueUrl, bodies);
      } catch (error) {
        options.onError?.(error as Error);
      }
    });
  }, 100);
  return {
    get sent() {
      return sent;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await tick;
    },
  };
}

/** Sends every non-empty line of a `.jsonl` file as one message, as is (malformed lines too: they show quarantine). */
export async function replayFile(client: SQSClient, queueUrl: string, file: string): Promise<number> {
  const lines = createInterface({
    input: createReadStream(file, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let pending: string[] = [];
  let sent = 0;
  for await (const line of lines) {
    if (line.trim() === '') continue;
    pending.push(line);
    if (pending.length >= 100) {
      sent += await sendBodies(client, queueUrl, pending);
      pending = [];
    }
  }
  sent += await sendBodies(client, queueUrl, pending);
  return sent;
}
