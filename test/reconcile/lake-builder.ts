import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import type { AlertSink, DlqProbe, ReconcileDeps } from '../../functions/reconcile/ports.ts';
import type { ReconciliationAlert } from '../../functions/reconcile/run-record.ts';
import { consumeMicroBatch, type MicroBatchResult } from '../../functions/stream/micro-batch.ts';
import type { OrderEvent } from '../../local/order-generator.ts';
import { writeJsonlExport } from '../support/lake.ts';

export const DAY = '2026-11-20';
/** The hourly run after the day ended (batch has published it). */
export const NOW = new Date('2026-11-21T03:00:00Z');

export type { OrderEvent };

const PRICES = ['19.99', '0.10', '7.45', '120.00', '3.33'];

/**
 * `count` orders of `day` spread over `hours`, five products, prices with cents (sums only agree if money is
 * DECIMAL). Ids are `<prefix>-<n>`.
 */
export function makeOrders(
  count: number,
  options: { day?: string; hours?: number[]; prefix?: string; product?: string } = {},
): OrderEvent[] {
  const day = options.day ?? DAY;
  const hours = options.hours ?? [8, 9, 10, 11, 12];
  const prefix = options.prefix ?? 'o';
  return Array.from({ length: count }, (_, i) => {
    const hour = hours[i % hours.length] ?? 0;
    const minute = (i * 7) % 60;
    const second = (i * 13) % 60;
    return {
      event_id: `e-${prefix}-${i}`,
      order_id: `${prefix}-${i}`,
      user_id: `u-${i % 17}`,
      product_id: options.product ?? `p-${i % 5}`,
      quantity: 1 + (i % 3),
      unit_price: PRICES[i % PRICES.length] ?? '1.00',
      currency: 'USD',
      event_time: `${day}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:${String(second).padStart(2, '0')}Z`,
    };
  });
}

/** Writes `orders` as a JSONL landing export and runs the batch layer for the day (publishes it). */
export async function publishBatch(
  dir: string,
  deps: CoreDeps,
  orders: OrderEvent[],
  day = DAY,
  name = 'orders.jsonl',
) {
  writeJsonlExport(dir, day, name, orders);
  return runBatchDay({ day }, deps);
}

/** Streams `orders` through the speed layer's consumer in micro-batches of `size` (records as SQS bodies). */
export async function streamIn(
  deps: CoreDeps,
  orders: readonly (OrderEvent | string)[],
  size = 20,
): Promise<MicroBatchResult[]> {
  const results: MicroBatchResult[] = [];
  for (let start = 0; start < orders.length; start += size) {
    const chunk = orders.slice(start, start + size);
    const result = await consumeMicroBatch(
      {
        messages: chunk.map((o, i) => ({
          messageId: typeof o === 'string' ? `bad-${start + i}` : `m-${o.order_id}`,
          body: typeof o === 'string' ? o : JSON.stringify(o),
          // Sent as it happened: an event time may not run ahead of its send time (clock-skew limit).
          sentAt: typeof o === 'string' ? new Date(`${DAY}T13:00:00Z`) : new Date(o.event_time),
        })),
      },
      deps,
    );
    if (result.error) throw new Error(result.error);
    results.push(result);
  }
  return results;
}

/** Alerts published during a test, kept in memory. */
export function capturingAlerts(): AlertSink & { published: ReconciliationAlert[] } {
  const published: ReconciliationAlert[] = [];
  return {
    published,
    publish: async (alert) => {
      published.push(alert);
    },
  };
}

export const fixedDlq = (messages: number): DlqProbe => ({ approximateMessages: async () => messages });

export function reconcileDeps(
  store: ObjectStore,
  extra: Partial<ReconcileDeps> = {},
): ReconcileDeps & { alerts: ReturnType<typeof capturingAlerts> } {
  const alerts = capturingAlerts();
  return { store, clock: () => NOW, log: silentLog, alerts, ...extra } as ReconcileDeps & {
    alerts: ReturnType<typeof capturingAlerts>;
  };
}
