/**
 * Runs inside a worker thread: one warm "Lambda container" for one function. The worker's own `process.env` is
 * the function's environment, so handlers that read it at module load (cold start) see the right values.
 * Invocations arrive one at a time, as in Lambda; the parent enforces the timeout by terminating the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkerConfig {
  entryUrl: string;
  handlerExport: string;
  functionName: string;
  memoryMb: number;
  timeoutMs: number;
}

export interface InvokeMessage {
  id: number;
  requestId: string;
  event: unknown;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /**
   * The errors it stands for — Powertools' FullBatchFailureError per record, an AggregateError's, a `cause` —
   * as `Name: message`, alike ones once with a count: "See individual errors below" needs them below.
   */
  causes?: string[];
}

export type WorkerReply =
  | { type: 'ready'; initError?: SerializedError }
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: SerializedError };

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

function causesOf(error: Error): string[] {
  const inner: unknown[] = [];
  const { recordErrors } = error as Error & { recordErrors?: unknown };
  if (Array.isArray(recordErrors)) inner.push(...recordErrors);
  if (error instanceof AggregateError) inner.push(...error.errors);
  if (error.cause !== undefined) inner.push(error.cause);
  const counts = new Map<string, number>();
  for (const cause of inner) {
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return [...counts].map(([text, count]) => (count > 1 ? `${text} (×${count})` : text));
}

function serialize(error: unknown): SerializedError {
  if (error instanceof Error) {
    const causes = causesOf(error);
    return {
      name: error.name,
      message: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
      ...(causes.length > 0 ? { causes } : {}),
    };
  }
  return { name: 'Error', message: String(error) };
}

// As deployed (NODE_OPTIONS=--enable-source-maps, which a worker cannot take): stack traces name the TypeScript.
process.setSourceMapsEnabled(true);

const config = workerData as WorkerConfig;
const port = parentPort;
if (!port) throw new Error('lambda-worker.ts must run in a worker thread');

let handler: Handler | undefined;
let initError: SerializedError | undefined;
try {
  const module = (await import(config.entryUrl)) as Record<string, unknown>;
  const exported = module[config.handlerExport];
  if (typeof exported !== 'function') {
    throw new Error(`${config.entryUrl} does not export a function named "${config.handlerExport}"`);
  }
  handler = exported as Handler;
} catch (error) {
  initError = { ...serialize(error), name: `Runtime.ImportModuleError: ${serialize(error).name}` };
}

port.on('message', async (message: InvokeMessage) => {
  const deadline = Date.now() + config.timeoutMs;
  const context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: config.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${config.functionName}`,
    memoryLimitInMB: String(config.memoryMb),
    awsRequestId: message.requestId,
    logGroupName: `/aws/lambda/${config.functionName}`,
    logStreamName: `local/${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  let reply: WorkerReply;
  try {
    if (!handler) throw new Error('handler failed to load');
    const result = await handler(message.event, context);
    // Structured clone rejects functions and class instances; Lambda serializes results to JSON anyway.
    reply = {
      type: 'result',
      id: message.id,
      ok: true,
      result: result === undefined ? null : JSON.parse(JSON.stringify(result)),
    };
  } catch (error) {
    reply = { type: 'result', id: message.id, ok: false, error: serialize(error) };
  }
  port.postMessage(reply);
});

port.postMessage({ type: 'ready', ...(initError ? { initError } : {}) } satisfies WorkerReply);
