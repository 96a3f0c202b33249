import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type Dataset, dataset } from '../functions/pipeline/datasets.ts';
import { createClickStream, eventsPerSession, fitsClickDeclaration } from './click-generator.ts';
import type { EventSink } from './event-sinks.ts';
import { fitsInventoryDeclaration, InventoryBook, type StockLevel } from './inventory-generator.ts';
import { createOrderGenerator } from './order-generator.ts';
import type { ScaledClock } from './scaled-clock.ts';

/**
 * Feeds events into the datasets' streams (an SQS queue or a Kafka topic: `EventSink`): generated orders at a
 * steady rate with clicks beside them, or a `.jsonl` file replayed.
 */

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

/**
 * Clicks the live feed sends per order: a shop sees many more clicks than orders, and this keeps the local
 * clicks consumer busy without drowning the orders demo. At the default 10 orders/s, 50 clicks/s.
 */
export const CLICKS_PER_ORDER = 5;

/** A generator sending to a stream until stopped. */
export interface Feed {
  /** Events accepted by the stream so far. */
  readonly sent: number;
  stop(): Promise<void>;
}

export interface OrderGeneratorFeed extends Feed {
  /** The click feed beside the orders, when there is a clicks stream. */
  readonly clicks: Feed | undefined;
  /** The stock movements beside the orders (a sale per order, receipts …), when there is an inventory stream. */
  readonly movements: Feed | undefined;
}

/**
 * Every 100 ms: what is owed at `perSecond` since the last tick (whole units, the rest carried over) goes to
 * `produce`, and the bodies it returns to the stream.
 */
function startTicking(options: {
  sink: EventSink;
  perSecond: number;
  clock: ScaledClock;
  produce: (owed: number, now: Date) => string[];
  onError?: ((error: Error) => void) | undefined;
}): Feed {
  let sent = 0;
  let owed = 0;
  let last = performance.now();
  let stopped = false;
  let tick: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    tick = tick.then(async () => {
      if (stopped) return;
      const now = performance.now();
      owed += ((now - last) / 1000) * options.perSecond;
      last = now;
      const count = Math.floor(owed);
      owed -= count;
      const bodies = options.produce(count, options.clock.now());
      if (bodies.length === 0) return;
      try {
        sent += await options.sink.send(bodies);
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

/**
 * Sends `rate` clicks per second on average (local/click-generator.ts): sessions start at `rate` divided by the
 * events of a session, and each event is sent when the local clock reaches its time, so a session unfolds over
 * minutes and the feed reaches its rate once the first sessions have run their course. Ids carry a per-start
 * prefix, as the orders' do.
 */
export function startClickGenerator(options: {
  sink: EventSink;
  rate: number;
  clock: ScaledClock;
  seed?: number;
  /** The clicks declaration (default: `dataset('clicks')`). */
  dataset?: Dataset;
  onError?: (error: Error) => void;
}): Feed {
  const stream = createClickStream({
    start: options.clock.now(),
    seed: options.seed ?? Date.now() % 2 ** 31,
    idPrefix: `r${Date.now().toString(36)}`,
    ...(options.dataset ? { dataset: options.dataset } : {}),
  });
  return startTicking({
    sink: options.sink,
    perSecond: options.rate / eventsPerSession(),
    clock: options.clock,
    produce: (sessions, now) => stream.advance(now, sessions).map((event) => JSON.stringify(event)),
    onError: options.onError,
  });
}

/**
 * Sends `rate` generated orders per second (stamped with the local clock) until stopped, and with a clicks queue
 * `CLICKS_PER_ORDER` clicks per order beside them; with an inventory queue, each order's sale movement (and the
 * occasional receipt, return or adjustment) from a book that opens when the feed starts. Order ids carry a per-start prefix, so a restarted runtime
 * never re-sends an id the lake has already counted.
 */
export function startOrderGenerator(options: {
  orders: EventSink;
  rate: number;
  clock: ScaledClock;
  seed?: number;
  /** The clicks stream: clicks are generated too (unless the project declares `clicks` with other fields). */
  clicks?: EventSink;
  /**
   * The inventory stream: a sale movement per order is sent to it, with the receipts, returns and adjustments
   * around them (local/inventory-generator.ts; unless the project declares `inventory` with other fields).
   */
  inventory?: EventSink;
  /**
   * The lake's stock when the feed starts: the book opens with adjustments from these levels to its own (sized for
   * the feed's rate), and `writeReorderPoints` gets the points it restocks at (the low-stock alerts' table).
   */
  stock?: { levels: readonly StockLevel[]; writeReorderPoints: (csv: string) => Promise<void> };
  onError?: (error: Error) => void;
}): OrderGeneratorFeed {
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const idPrefix = `r${Date.now().toString(36)}`;
  const generator = createOrderGenerator({ seed, idPrefix });
  const inventoryDeclaration = options.inventory ? dataset('inventory') : undefined;
  const book =
    inventoryDeclaration && fitsInventoryDeclaration(inventoryDeclaration)
      ? new InventoryBook({
          seed,
          idPrefix,
          // Stock sized for the orders of a day of the local clock.
          ordersPerDay: Math.max(1, (options.rate * 86_400) / options.clock.speed),
          // Some products just above their reorder point: a start shows stock falling through it within minutes.
          opening: 'spread',
        })
      : undefined;
  /** The movements of the orders generated since the last send. */
  let movementsDue: string[] = [];
  if (book && options.stock) {
    const opening = book.openingAdjustments(options.stock.levels, options.clock.now().getTime());
    movementsDue.push(...opening.map((m) => JSON.stringify(m)));
    options.stock
      .writeReorderPoints(book.reorderPointsCsv())
      .catch((error: Error) => options.onError?.(error));
  }
  const orders = startTicking({
    sink: options.orders,
    perSecond: options.rate,
    clock: options.clock,
    produce: (count, now) =>
      Array.from({ length: count }, () => {
        const order = generator.next(now);
        if (book) for (const m of book.order(order, () => {})) movementsDue.push(JSON.stringify(m));
        return JSON.stringify(order);
      }),
    onError: options.onError,
  });
  const movements =
    book && options.inventory
      ? startTicking({
          sink: options.inventory,
          perSecond: 0,
          clock: options.clock,
          produce: () => {
            const bodies = movementsDue;
            movementsDue = [];
            return bodies;
          },
          onError: options.onError,
        })
      : undefined;
  const clicksDeclaration = options.clicks ? dataset('clicks') : undefined;
  const clicks =
    options.clicks && clicksDeclaration && fitsClickDeclaration(clicksDeclaration)
      ? startClickGenerator({
          sink: options.clicks,
          rate: options.rate * CLICKS_PER_ORDER,
          clock: options.clock,
          dataset: clicksDeclaration,
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
          ...(options.onError ? { onError: options.onError } : {}),
        })
      : undefined;
  return {
    get sent() {
      return orders.sent;
    },
    clicks,
    movements,
    async stop() {
      await orders.stop();
      await Promise.all([clicks?.stop(), movements?.stop()]);
    },
  };
}

/** Sends every non-empty line of a `.jsonl` file as one message, as is (malformed lines too: they show quarantine). */
export async function replayFile(sink: EventSink, file: string): Promise<number> {
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
      sent += await sink.send(pending);
      pending = [];
    }
  }
  sent += await sink.send(pending);
  return sent;
}
