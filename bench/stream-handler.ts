/**
 * Speed-layer numbers on this machine (numbers, not a pass/fail timer):
 *  1. the ingest-orders handler on one SQS micro-batch of 1,000 and 10,000 events (local-directory lake;
 *     median of warm runs, the first run reported as cold);
 *  2. sustained events/s through local-aws-sqs + the consumer core for `--seconds` (default 20): producers keep
 *     the queue full, two consumer loops (maxConcurrency 2) poll micro-batches of `--batch-size` through the
 *     local runtime's event source mapping emulation (batching window 1 s, which a full queue never waits for);
 *     event → written latency is measured from SQS SentTimestamp.
 *
 *   npx tsx bench/stream-handler.ts [--seconds 20] [--batch-size 1000]
 *
 * Prints the numbers and writes bench/results/stream.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CreateQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import { compactRealtime } from '../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../functions/stream/micro-batch.ts';
import { batchResponseOf, streamMessageOf } from '../functions/stream/sqs-records.ts';
import { startLocalSqs } from '../local/aws-servers.ts';
import { queueArn } from '../local/local-resources.ts';
import { createOrderGenerator } from '../local/order-generator.ts';
import { invokeInProcess, SqsEventSource } from '../local/sqs-event-source.ts';
import { lambdaContext } from '../test/support/lambda-context.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '20' }, 'batch-size': { type: 'string', default: '1000' } },
});
const seconds = Number(values.seconds);
const batchSize = Number(values['batch-size']);
const workDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-stream-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;

function sqsEvent(size: number, seed: number, start: Date): SQSEvent {
  const generator = createOrderGenerator({ seed, idPrefix: `bench${seed}` });
  return {
    Records: Array.from({ length: size }, (_, i) => {
      const event = generator.next(new Date(start.getTime() + i * 50));
      return {
        messageId: `bench-${seed}-${i}`,
        receiptHandle: `rh-${i}`,
        body: JSON.stringify(event),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'bench',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders',
        awsRegion: 'us-east-1',
      };
    }),
  };
}

async function handlerTimes() {
  process.env['LAKE_DIR'] = path.join(workDir, 'handler-lake');
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const { handler } = await import('../functions/ingest-orders/handler.ts');
  const results: Record<
    string,
    { coldMs: number; warmMedianMs: number; eventsPerSecond: number; runs: number }
  > = {};
  let seed = 1;
  for (const size of [1_000, 10_000]) {
    const times: number[] = [];
    for (let run = 0; run < 4; run++) {
      const event = sqsEvent(size, seed++, new Date(Date.now() - 60_000));
      const t0 = performance.now();
      const response = await handler(event, lambdaContext('ingest-orders'));
      times.push(performance.now() - t0);
      if (response.batchItemFailures.length > 0) throw new Error('bench batch failed');
    }
    const warm = median(times.slice(1));
    results[String(size)] = {
      coldMs: Math.round(times[0] ?? 0),
      warmMedianMs: Math.round(warm),
      eventsPerSecond: Math.round(size / (warm / 1000)),
      runs: times.length,
    };
    console.log(
      `handler, ${size.toLocaleString()}-event micro-batch: first ${Math.round(times[0] ?? 0)} ms, warm median ${Math.round(warm)} ms (${results[String(size)]?.eventsPerSecond.toLocaleString()} events/s)`,
    );
  }
  return results;
}

async function sustained() {
  const sqs = await startLocalSqs();
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: sqs.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { QueueUrl: queueUrl } = await client.send(
    new CreateQueueCommand({ QueueName: 'bench-orders', Attributes: { VisibilityTimeout: '60' } }),
  );
  const store = new LocalDirectoryStore(path.join(workDir, 'sustained-lake'));
  const deps = { store, clock: () => new Date(), log: silentLog };
  const generator = createOrderGenerator({ seed: 99, idPrefix: 'sustained' });
  const deadline = Date.now() + seconds * 1000;
  let sent = 0;
  let consumed = 0;
  let batches = 0;
  const latencies: number[] = [];
  const batchMs: number[] = [];
  // Producers keep a backlog so the consumer, not the producer, is what is measured.
  const producer = async () => {
    while (Date.now() < deadline) {
      if (sent - consumed > batchSize * 4) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({
            Id: String(i),
            MessageBody: JSON.stringify(generator.next(new Date())),
          })),
        }),
      );
      sent += 10;
    }
  };
  const source = new SqsEventSource({
    client,
    queueUrl: queueUrl!,
    queueArn: queueArn('bench-orders'),
    batchSize,
    maxBatchingWindowSeconds: 1,
    reportBatchItemFailures: true,
    maxConcurrency: 2,
    invoke: invokeInProcess(async (event) => {
      const result = await consumeMicroBatch({ messages: event.Records.map(streamMessageOf) }, deps);
      const done = Date.now();
      for (const record of event.Records) latencies.push(done - Number(record.attributes.SentTimestamp));
      consumed += result.received - result.failedMessageIds.length;
      batches += 1;
      return batchResponseOf(result.failedMessageIds);
    }),
  });
  const consumer = async () => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      await source.pollOnce(1);
      batchMs.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all([producer(), producer(), producer(), producer(), consumer(), consumer()]);
  const elapsed = (performance.now() - t0) / 1000;
  const tCompact = performance.now();
  const compaction = await compactRealtime(deps, { now: new Date() });
  const compactMs = performance.now() - tCompact;
  client.destroy();
  await sqs.close();
  const out = {
    seconds: Math.round(elapsed * 10) / 10,
    batchSize,
    sent,
    consumed,
    microBatches: batches,
    eventsPerSecond: Math.round(consumed / elapsed),
    pollAndConsumeMedianMs: Math.round(median(batchMs)),
    sentToWrittenMs: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      // reduce, not Math.max(...): a 60 s run has more latencies than the call stack takes arguments.
      max: latencies.reduce((a, b) => Math.max(a, b), 0),
    },
    compaction: { days: compaction.days.length, ms: Math.round(compactMs) },
  };
  console.log(
    `sustained through local-aws-sqs + consumer: ${out.eventsPerSecond.toLocaleString()} events/s over ${out.seconds} s ` +
      `(${consumed.toLocaleString()} events, ${batches} micro-batches of up to ${batchSize}); sent→written p50 ${out.sentToWrittenMs.p50} ms, p99 ${out.sentToWrittenMs.p99} ms; ` +
      `compaction of ${out.compaction.days} day(s) ${out.compaction.ms} ms`,
  );
  return out;
}

try {
  const handler = await handlerTimes();
  const stream = await sustained();
  const result = {
    measuredAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    handler,
    sustained: stream,
  };
  const file = new URL('./results/stream.json', import.meta.url);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${file.pathname}`);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
