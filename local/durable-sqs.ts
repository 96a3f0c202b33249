import { once } from 'node:events';
import { createReadStream, existsSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { type LocalSqs, type LocalSqsQueue, type LocalSqsRecord, startLocalSqs } from './aws-servers.ts';

/**
 * SQS that survives a restart, even SIGKILL: local-aws-sqs keeps messages in memory, so every change to a
 * queue's messages is journaled to `<dataDir>/journal.jsonl` at the queue itself — a message entering a queue
 * (SendMessage(Batch) over the JSON or the query protocol, dead-lettering by the redrive policy, a move task),
 * a delete and a purge — and the front server answers only once those lines are fsynced. On start, the
 * messages never deleted are put back into their queues with their message ids.
 *
 * What a restart does not keep: receive counts and in-flight visibility (restored messages are visible at
 * once). Nothing accepted is lost; a message whose batch was processed but not yet deleted is delivered again,
 * which the stream's dedup by order_id absorbs. Queues are those created at start (standard queues).
 */

export interface DurableQueue {
  QueueName: string;
  Attributes?: Record<string, string>;
}

export interface DurableSqsOptions {
  dataDir: string;
  port?: number;
  /** Queues to create on start (dead-letter queues first). */
  queues: DurableQueue[];
}

export interface DurableSqs {
  endpoint: string;
  port: number;
  queueUrl(name: string): string;
  /** Messages re-sent from the journal at start, per queue. */
  restored: Record<string, number>;
  close(): Promise<void>;
}

type JournalEntry =
  | {
      op: 'put';
      q: string;
      id: string;
      body: string;
      attrs?: Record<string, MessageAttributeValue>;
      /** String system attributes to keep (the DLQ source a move task returns a message to). */
      sys?: Record<string, string>;
    }
  /** Written before puts were journaled at the queue; read as a put. */
  | { op: 'send'; q: string; id: string; body: string; attrs?: Record<string, MessageAttributeValue> }
  | { op: 'delete'; q: string; id: string }
  | { op: 'purge'; q: string };

type StoredMessage = Extract<JournalEntry, { op: 'put' }>;

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
const KEPT_SYSTEM_ATTRIBUTES = ['DeadLetterQueueSourceArn', 'AWSTraceHeader'];

/**
 * Appends journal lines with group commit: one fsync covers every line recorded since the last one. Queue
 * operations record synchronously; whoever must not answer before they are durable awaits `synced()`.
 */
class Journal {
  private pending: string[] = [];
  private scheduled = false;
  private last: Promise<void> = Promise.resolve();

  private constructor(private readonly file: FileHandle) {}

  static async open(filePath: string): Promise<Journal> {
    return new Journal(await open(filePath, 'a'));
  }

  record(entry: JournalEntry): void {
    this.pending.push(`${JSON.stringify(entry)}\n`);
    if (this.scheduled) return;
    this.scheduled = true;
    this.last = this.last
      .catch(() => undefined)
      .then(async () => {
        this.scheduled = false;
        await this.file.appendFile(this.pending.splice(0).join(''));
        await this.file.datasync();
      });
    // Move tasks record outside any request; their failure surfaces at the next `synced()`.
    this.last.catch(() => undefined);
  }

  /** Resolves once everything recorded so far is on disk; rejects if the last write failed. */
  synced(): Promise<void> {
    return this.last;
  }

  async close(): Promise<void> {
    await this.last.catch(() => undefined);
    await this.file.close();
  }
}

/** Messages never deleted, by message id, in the order they entered their queue. A torn last line is ignored. */
async function survivingMessages(filePath: string): Promise<Map<string, StoredMessage>> {
  const messages = new Map<string, StoredMessage>();
  if (!existsSync(filePath)) return messages;
  const lines = createInterface({
    input: createReadStream(filePath, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let entry: JournalEntry;
    try {
      entry = JSON.parse(line) as JournalEntry;
    } catch {
      continue;
    }
    if (entry.op === 'put' || entry.op === 'send') {
      // A message dead-lettered by the redrive policy keeps its id: it now lives in the DLQ only.
      messages.delete(entry.id);
      messages.set(entry.id, { ...entry, op: 'put' });
    } else if (entry.op === 'delete') {
      if (messages.get(entry.id)?.q === entry.q) messages.delete(entry.id);
    } else {
      for (const [id, message] of messages) if (message.q === entry.q) messages.delete(id);
    }
  }
  return messages;
}

/** local-aws-sqs receipt handles are base64(uuid + JSON with the MessageId). */
function messageIdOfReceipt(receiptHandle: unknown): string | undefined {
  if (typeof receiptHandle !== 'string') return undefined;
  try {
    const text = Buffer.from(receiptHandle, 'base64').toString('utf8');
    return (JSON.parse(text.slice(text.indexOf('{'))) as { MessageId?: string }).MessageId;
  } catch {
    return undefined;
  }
}

function storedMessage(q: string, record: LocalSqsRecord): StoredMessage {
  const sys: Record<string, string> = {};
  for (const name of KEPT_SYSTEM_ATTRIBUTES) {
    const value = record.attributes[name];
    if (value !== undefined) sys[name] = value;
  }
  return {
    op: 'put',
    q,
    id: record.MessageId,
    body: record.MessageBody,
    ...(record.MessageAttributes ? { attrs: record.MessageAttributes } : {}),
    ...(Object.keys(sys).length > 0 ? { sys } : {}),
  };
}

/** Journals every change to the messages `queue` holds, at the queue, whichever request or timer made it. */
function journalQueue(queue: LocalSqsQueue, journal: Journal): void {
  const add = queue.newRecord.bind(queue);
  const remove = queue.delete.bind(queue);
  const clear = queue.clearRecords.bind(queue);
  queue.newRecord = (record, delaySeconds) => {
    const held = add(record, delaySeconds);
    journal.record(storedMessage(queue.QueueName, record));
    return held;
  };
  queue.delete = (receiptHandle) => {
    const deleted = remove(receiptHandle);
    const id = messageIdOfReceipt(receiptHandle);
    if (id) journal.record({ op: 'delete', q: queue.QueueName, id });
    return deleted;
  };
  queue.clearRecords = () => {
    clear();
    journal.record({ op: 'purge', q: queue.QueueName });
  };
}

/** Starts local-aws-sqs behind a journaling front on `port` (127.0.0.1), restoring the journal first. */
export async function startDurableSqs(options: DurableSqsOptions): Promise<DurableSqs> {
  await mkdir(options.dataDir, { recursive: true });
  const journalPath = path.join(options.dataDir, 'journal.jsonl');
  const inner: LocalSqs = await startLocalSqs({ queues: options.queues });

  // Restore the survivors with their ids, then start a compacted journal that holds just them.
  const restored: Record<string, number> = {};
  const compacted: StoredMessage[] = [];
  for (const message of (await survivingMessages(journalPath)).values()) {
    const queue = inner.queue(message.q);
    if (!queue) continue;
    queue.setRecord(
      {
        MessageBody: message.body,
        ...(message.attrs ? { MessageAttributes: message.attrs } : {}),
        ...(message.sys
          ? {
              MessageSystemAttributes: Object.fromEntries(
                Object.entries(message.sys).map(([name, value]) => [
                  name,
                  { DataType: 'String', StringValue: value },
                ]),
              ),
            }
          : {}),
      },
      message.id,
    );
    compacted.push(message);
    restored[message.q] = (restored[message.q] ?? 0) + 1;
  }
  const fresh = `${journalPath}.next`;
  const handle = await open(fresh, 'w');
  await handle.writeFile(compacted.map((e) => `${JSON.stringify(e)}\n`).join(''));
  await handle.sync();
  await handle.close();
  await rename(fresh, journalPath);
  const journal = await Journal.open(journalPath);
  for (const { QueueName } of options.queues) {
    const queue = inner.queue(QueueName);
    if (queue) journalQueue(queue, journal);
  }

  let publicPort = 0;
  const innerHost = `127.0.0.1:${inner.port}`;
  const server = http.createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && name !== 'host' && name !== 'connection') headers[name] = value;
      }
      const upstream = await fetch(`http://${innerHost}${req.url ?? '/'}`, {
        method: req.method ?? 'POST',
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      let text = await upstream.text();
      await journal.synced();
      // Queue URLs must name this front, or clients following a QueueUrl would bypass the journal.
      text = text.replaceAll(innerHost, `127.0.0.1:${publicPort}`);
      const responseHeaders: Record<string, string> = {};
      upstream.headers.forEach((value, name) => {
        if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'connection')
          responseHeaders[name] = value;
      });
      res.writeHead(upstream.status, { ...responseHeaders, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': JSON_CONTENT_TYPE });
      res.end(JSON.stringify({ __type: 'InternalFailure', message: (error as Error).message }));
    }
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  publicPort = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${publicPort}`;
  return {
    endpoint,
    port: publicPort,
    restored,
    queueUrl: (name) => `${endpoint}/123456789012/${name}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await journal.close();
      await inner.close();
    },
  };
}
