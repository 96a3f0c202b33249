import { once } from 'node:events';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { type MessageAttributeValue, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type LocalSqs, startLocalSqs } from './aws-servers.ts';

/**
 * SQS that survives a restart, even SIGKILL: local-aws-sqs keeps messages in memory, so this front server
 * journals every accepted SendMessage(Batch) and every DeleteMessage(Batch) to `<dataDir>/journal.jsonl`
 * (fsynced before the client gets its 200), and on start re-sends the messages that were never deleted.
 *
 * What a restart does not keep: receive counts and in-flight visibility (restored messages are visible at
 * once, with new message ids), and DLQ moves made by the redrive policy (such a message returns to its source
 * queue and is dead-lettered again after maxReceiveCount receives). Nothing accepted is lost; a message whose
 * batch was processed but not yet deleted is delivered again, which the stream's dedup by order_id absorbs.
 * Only the JSON protocol (every current AWS SDK and CLI) is journaled.
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
  | { op: 'send'; q: string; id: string; body: string; attrs?: Record<string, MessageAttributeValue> }
  | { op: 'delete'; q: string; id: string }
  | { op: 'purge'; q: string };

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

/** Appends journal lines with group commit: one fsync covers every line written since the last one. */
class Journal {
  private pending: { line: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushing: Promise<void> | undefined;

  private constructor(private readonly file: import('node:fs/promises').FileHandle) {}

  static async open(filePath: string): Promise<Journal> {
    return new Journal(await open(filePath, 'a'));
  }

  append(entries: JournalEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ line: entries.map((e) => JSON.stringify(e)).join('\n') + '\n', resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        await this.file.appendFile(batch.map((b) => b.line).join(''));
        await this.file.datasync();
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error as Error);
      }
    }
    this.flushing = undefined;
  }

  async close(): Promise<void> {
    await this.flushing;
    await this.file.close();
  }
}

/** Messages never deleted, per queue, in the order they were accepted. A torn last line is ignored. */
async function survivingMessages(
  filePath: string,
): Promise<Map<string, Map<string, { body: string; attrs?: Record<string, MessageAttributeValue> }>>> {
  const queues = new Map<
    string,
    Map<string, { body: string; attrs?: Record<string, MessageAttributeValue> }>
  >();
  if (!existsSync(filePath)) return queues;
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
    const queue = queues.get(entry.q) ?? new Map();
    queues.set(entry.q, queue);
    if (entry.op === 'send')
      queue.set(entry.id, { body: entry.body, ...(entry.attrs ? { attrs: entry.attrs } : {}) });
    else if (entry.op === 'delete') queue.delete(entry.id);
    else queue.clear();
  }
  return queues;
}

/** The queue name in a QueueUrl (`…/123456789012/Name`). */
function queueNameOf(url: unknown): string {
  return typeof url === 'string' ? (url.split('/').filter(Boolean).pop() ?? '') : '';
}

/** local-aws-sqs receipt handles are base64(uuid + JSON with the MessageId). */
export function messageIdOfReceipt(receiptHandle: unknown): string | undefined {
  if (typeof receiptHandle !== 'string') return undefined;
  try {
    const text = Buffer.from(receiptHandle, 'base64').toString('utf8');
    return (JSON.parse(text.slice(text.indexOf('{'))) as { MessageId?: string }).MessageId;
  } catch {
    return undefined;
  }
}

/** Journal entries for a successful JSON-protocol request. */
function journalEntries(
  action: string,
  request: Record<string, unknown>,
  response: Record<string, unknown>,
): JournalEntry[] {
  const q = queueNameOf(request['QueueUrl']);
  switch (action) {
    case 'SendMessage':
      return typeof response['MessageId'] === 'string'
        ? [
            {
              op: 'send',
              q,
              id: response['MessageId'],
              body: String(request['MessageBody'] ?? ''),
              ...(request['MessageAttributes']
                ? { attrs: request['MessageAttributes'] as Record<string, MessageAttributeValue> }
                : {}),
            },
          ]
        : [];
    case 'SendMessageBatch': {
      const entries = new Map(
        ((request['Entries'] as Record<string, unknown>[] | undefined) ?? []).map((e) => [
          String(e['Id']),
          e,
        ]),
      );
      return ((response['Successful'] as { Id: string; MessageId: string }[] | undefined) ?? []).flatMap(
        (ok) => {
          const entry = entries.get(ok.Id);
          if (!entry) return [];
          return [
            {
              op: 'send' as const,
              q,
              id: ok.MessageId,
              body: String(entry['MessageBody'] ?? ''),
              ...(entry['MessageAttributes']
                ? { attrs: entry['MessageAttributes'] as Record<string, MessageAttributeValue> }
                : {}),
            },
          ];
        },
      );
    }
    case 'DeleteMessage': {
      const id = messageIdOfReceipt(request['ReceiptHandle']);
      return id ? [{ op: 'delete', q, id }] : [];
    }
    case 'DeleteMessageBatch': {
      const handles = new Map(
        ((request['Entries'] as { Id: string; ReceiptHandle: string }[] | undefined) ?? []).map((e) => [
          e.Id,
          e.ReceiptHandle,
        ]),
      );
      return ((response['Successful'] as { Id: string }[] | undefined) ?? []).flatMap((ok) => {
        const id = messageIdOfReceipt(handles.get(ok.Id));
        return id ? [{ op: 'delete' as const, q, id }] : [];
      });
    }
    case 'PurgeQueue':
      return [{ op: 'purge', q }];
    default:
      return [];
  }
}

const JOURNALED = new Set([
  'SendMessage',
  'SendMessageBatch',
  'DeleteMessage',
  'DeleteMessageBatch',
  'PurgeQueue',
]);

/** Starts local-aws-sqs behind a journaling front on `port` (127.0.0.1), restoring the journal first. */
export async function startDurableSqs(options: DurableSqsOptions): Promise<DurableSqs> {
  await mkdir(options.dataDir, { recursive: true });
  const journalPath = path.join(options.dataDir, 'journal.jsonl');
  const inner: LocalSqs = await startLocalSqs({ queues: options.queues });

  // Restore: re-send survivors, then start a compacted journal that names them by their new ids.
  const survivors = await survivingMessages(journalPath);
  const restored: Record<string, number> = {};
  const compacted: JournalEntry[] = [];
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: inner.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const known = new Set(options.queues.map((q) => q.QueueName));
  for (const [q, messages] of survivors) {
    if (!known.has(q) || messages.size === 0) continue;
    const list = [...messages.values()];
    for (let i = 0; i < list.length; i += 10) {
      const chunk = list.slice(i, i + 10);
      const out = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: inner.queueUrl(q),
          Entries: chunk.map((m, n) => ({
            Id: String(n),
            MessageBody: m.body,
            ...(m.attrs ? { MessageAttributes: m.attrs } : {}),
          })),
        }),
      );
      for (const ok of out.Successful ?? []) {
        const m = chunk[Number(ok.Id)];
        if (m && ok.MessageId)
          compacted.push({
            op: 'send',
            q,
            id: ok.MessageId,
            body: m.body,
            ...(m.attrs ? { attrs: m.attrs } : {}),
          });
      }
    }
    restored[q] = list.length;
  }
  client.destroy();
  const fresh = `${journalPath}.next`;
  const handle = await open(fresh, 'w');
  await handle.writeFile(compacted.map((e) => JSON.stringify(e) + '\n').join(''));
  await handle.sync();
  await handle.close();
  await rename(fresh, journalPath);
  const journal = await Journal.open(journalPath);

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
      const isJson = String(req.headers['content-type'] ?? '').startsWith(JSON_CONTENT_TYPE);
      const action = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      if (upstream.ok && isJson && JOURNALED.has(action)) {
        await journal.append(
          journalEntries(action, JSON.parse(body.toString('utf8') || '{}'), JSON.parse(text || '{}')),
        );
      }
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
