import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { workerModules } from './compiled-entry.ts';
import type { InvokeMessage, SerializedError, WorkerConfig, WorkerReply } from './lambda-worker.ts';

/**
 * Hosts one function like Lambda does: warm "containers" (worker threads, each with the function's environment
 * and its own DuckDB), one invocation per container at a time, up to `maxInstances` concurrently, a timeout that
 * kills the container, and cold starts when a new one is needed.
 */

export interface FunctionHostOptions {
  /** Function name (logs, context). */
  name: string;
  /** Absolute path of the handler module. */
  entryPath: string;
  handlerExport: string;
  environment: Record<string, string>;
  timeoutSeconds: number;
  memoryMb: number;
  /** Concurrent invocations (containers); extra invocations wait. */
  maxInstances: number;
  /** Where the containers' stdout/stderr go (the function's "log group"). */
  logSink: Writable;
}

export interface InvocationOutcome {
  requestId: string;
  ok: boolean;
  result?: unknown;
  error?: SerializedError;
  durationMs: number;
  coldStart: boolean;
}

/** A duration for the console: `180 ms`, `1.4 s`. */
export function formatMs(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/**
 * One invocation as the local console prints it: `ok (180 ms)` or `FAILED Name: message (…)`, then `detail`,
 * then the failure's causes, one indented line each.
 */
export function describeOutcome(outcome: InvocationOutcome, detail = ''): string {
  const cold = outcome.coldStart ? ', cold start' : '';
  const took = `(${formatMs(outcome.durationMs)}${cold})`;
  if (outcome.ok) return `ok ${took}${detail}`;
  const causes = (outcome.error?.causes ?? []).map((cause) => `\n    ${cause}`).join('');
  return `FAILED ${outcome.error?.name}: ${outcome.error?.message} ${took}${detail}${causes}`;
}

interface Container {
  worker: Worker;
  ready: Promise<SerializedError | undefined>;
  busy: boolean;
  pending?: { id: number; resolve: (reply: WorkerReply) => void };
}

const WORKER_SOURCE = fileURLToPath(new URL('./lambda-worker.ts', import.meta.url));

export class FunctionHost {
  private readonly containers = new Set<Container>();
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;
  private active = 0;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private resolveIdle: (() => void) | undefined;

  constructor(readonly options: FunctionHostOptions) {}

  /** Invocations running now. */
  get inFlight(): number {
    return this.active;
  }

  /** Runs the handler with `event`; never throws for handler errors (they are in the outcome). */
  async invoke(event: unknown): Promise<InvocationOutcome> {
    if (this.closed) throw new Error(`function ${this.options.name} is shut down`);
    this.track(1);
    try {
      const { container, coldStart } = await this.acquire();
      const requestId = randomUUID();
      const started = performance.now();
      const initError = await container.ready;
      if (initError) {
        this.discard(container);
        return { requestId, ok: false, error: initError, durationMs: performance.now() - started, coldStart };
      }
      const reply = await this.send(container, { id: this.nextId++, requestId, event });
      const durationMs = performance.now() - started;
      this.release(container);
      if (reply.type === 'result' && reply.ok)
        return { requestId, ok: true, result: reply.result, durationMs, coldStart };
      const error =
        reply.type === 'result' && !reply.ok ? reply.error : { name: 'Error', message: 'no reply' };
      return { requestId, ok: false, error, durationMs, coldStart };
    } finally {
      this.track(-1);
    }
  }

  /** Resolves when no invocation is running. */
  drained(): Promise<void> {
    return this.idle;
  }

  /** Terminates every container (in-flight invocations fail). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.containers].map((c) => c.worker.terminate()));
    this.containers.clear();
  }

  private track(delta: number): void {
    this.active += delta;
    if (this.active === 1 && delta > 0) {
      this.idle = new Promise((resolve) => {
        this.resolveIdle = resolve;
      });
    }
    if (this.active === 0) this.resolveIdle?.();
  }

  private async acquire(): Promise<{ container: Container; coldStart: boolean }> {
    for (;;) {
      for (const container of this.containers) {
        if (!container.busy) {
          container.busy = true;
          return { container, coldStart: false };
        }
      }
      if (this.containers.size < this.options.maxInstances) {
        const container = this.spawn();
        container.busy = true;
        return { container, coldStart: true };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(container: Container): void {
    container.busy = false;
    this.waiters.shift()?.();
  }

  private discard(container: Container): void {
    this.containers.delete(container);
    void container.worker.terminate();
    this.waiters.shift()?.();
  }

  private spawn(): Container {
    const { options } = this;
    // The worker and the handler as the CLI build compiled them (fresh), else their TypeScript through tsx.
    const { workerUrl, entryUrl } = workerModules(WORKER_SOURCE, options.entryPath);
    const config: WorkerConfig = {
      entryUrl,
      handlerExport: options.handlerExport,
      functionName: options.name,
      memoryMb: options.memoryMb,
      timeoutMs: options.timeoutSeconds * 1000,
    };
    const worker = new Worker(workerUrl, {
      workerData: config,
      env: options.environment,
      stdout: true,
      stderr: true,
      name: options.name,
    });
    worker.stdout.pipe(options.logSink, { end: false });
    worker.stderr.pipe(options.logSink, { end: false });
    const container: Container = {
      worker,
      busy: false,
      ready: new Promise((resolve) => {
        const onMessage = (reply: WorkerReply) => {
          if (reply.type !== 'ready') return;
          worker.off('message', onMessage);
          resolve(reply.initError);
        };
        worker.on('message', onMessage);
        worker.once('error', (error) => resolve({ name: 'Runtime.InitError', message: error.message }));
      }),
    };
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'result' && container.pending?.id === reply.id) {
        const { resolve } = container.pending;
        container.pending = undefined;
        resolve(reply);
      }
    });
    const fail = (error: SerializedError) => {
      this.containers.delete(container);
      const pending = container.pending;
      container.pending = undefined;
      pending?.resolve({ type: 'result', id: pending.id, ok: false, error });
    };
    worker.on('error', (error) =>
      fail({
        name: 'Runtime.UnhandledError',
        message: error.message,
        ...(error.stack ? { stack: error.stack } : {}),
      }),
    );
    worker.on('exit', (code) =>
      fail({ name: 'Runtime.ExitError', message: `container exited with code ${code}` }),
    );
    this.containers.add(container);
    return container;
  }

  private send(container: Container, message: InvokeMessage): Promise<WorkerReply> {
    const timeoutMs = this.options.timeoutSeconds * 1000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // Lambda kills the container of a timed-out invocation; so do we.
        container.pending = undefined;
        this.containers.delete(container);
        void container.worker.terminate();
        this.waiters.shift()?.();
        resolve({
          type: 'result',
          id: message.id,
          ok: false,
          error: {
            name: 'Sandbox.Timedout',
            message: `Task timed out after ${this.options.timeoutSeconds} seconds`,
          },
        });
      }, timeoutMs);
      container.pending = {
        id: message.id,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
      };
      container.worker.postMessage(message);
    });
  }
}
