import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Producer } from 'kafkajs';
import { sendBodies } from './order-feed.ts';

/**
 * Where the local producers (the live feed, the seed, `--replay-file`) send a dataset's events: its SQS queue or
 * its Kafka topic, whichever the template's event source mapping reads. Only this adapter differs.
 */
export interface EventSink {
  /** For the banner: the queue URL, or `kafka://<bootstrap>/<topic>`. */
  readonly target: string;
  /** Sends each body as one message; the count accepted. */
  send(bodies: readonly string[]): Promise<number>;
  /** Resolves once the consumer has taken everything sent (empty queue; no consumer lag). */
  drained(timeoutMs: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, left: () => Promise<number>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = await left();
    if (count === 0) return;
    if (Date.now() > deadline) throw new Error(`${what} still holds ${count} messages`);
    await sleep(500);
  }
}

export function sqsSink(client: SQSClient, queueUrl: string): EventSink {
  return {
    target: queueUrl,
    send: (bodies) => sendBodies(client, queueUrl, bodies),
    drained: (timeoutMs) =>
      waitUntil(
        queueUrl,
        async () => {
          const { Attributes: a } = await client.send(
            new GetQueueAttributesCommand({
              QueueUrl: queueUrl,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          );
          return (
            Number(a?.ApproximateNumberOfMessages ?? 0) +
            Number(a?.ApproximateNumberOfMessagesNotVisible ?? 0)
          );
        },
        timeoutMs,
      ),
  };
}

/** A topic through a connected producer; `lag` is the consumer group's (the runtime's event source). */
export function kafkaSink(options: {
  producer: Producer;
  bootstrapServers: string;
  topic: string;
  lag: () => Promise<number>;
}): EventSink {
  return {
    target: `kafka://${options.bootstrapServers}/${options.topic}`,
    async send(bodies) {
      if (bodies.length === 0) return 0;
      await options.producer.send({ topic: options.topic, messages: bodies.map((value) => ({ value })) });
      return bodies.length;
    },
    drained: (timeoutMs) => waitUntil(`topic ${options.topic}`, options.lag, timeoutMs),
  };
}
