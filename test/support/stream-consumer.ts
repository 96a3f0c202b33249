import type { SQSEvent } from 'aws-lambda';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import {
  consumeMicroBatch,
  type MicroBatchResult,
  type StreamMessage,
} from '../../functions/stream/micro-batch.ts';
import { batchResponseOf, streamMessageOf } from '../../functions/stream/sqs-records.ts';
import type { InvocationOutcome } from '../../local/function-host.ts';
import { invokeInProcess } from '../../local/sqs-event-source.ts';

/**
 * The stream consumer core as an SQS-triggered function run in this process, for the event source emulation's
 * `invoke`: what ingest-orders does (records → messages, core, failed ids → `batchItemFailures`), with the test's
 * deps (a faulty store, a fixed clock). `onResult` sees every micro-batch.
 */
export function consumerFunction(
  deps: CoreDeps,
  onResult?: (result: MicroBatchResult, messages: readonly StreamMessage[]) => void,
): (event: SQSEvent) => Promise<InvocationOutcome> {
  return invokeInProcess(async (event) => {
    const messages = event.Records.map(streamMessageOf);
    const result = await consumeMicroBatch({ messages }, deps);
    onResult?.(result, messages);
    return batchResponseOf(result.failedMessageIds);
  });
}
