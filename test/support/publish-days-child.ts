import { once } from 'node:events';
import { publishDay } from '../../functions/pipeline/batch-published.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';

/**
 * Child process for the cross-process store test: waits for a line on stdin (so every child starts at once),
 * then publishes its days in parallel to the directory lake named on the command line.
 */
const [lakeDir, ...days] = process.argv.slice(2);
if (!lakeDir || days.length === 0) throw new Error('usage: publish-days-child.ts LAKE_DIR DAY...');
const store = new LocalDirectoryStore(lakeDir);
process.stdout.write('ready\n');
await once(process.stdin, 'data');
await Promise.all(
  days.map((day) =>
    publishDay(
      store,
      {
        day,
        version: `v-${day}`,
        runId: `run-${process.pid}`,
        publishedAt: new Date().toISOString(),
        orders: 1,
        revenue_by_currency: { USD: '1.00' },
        files: { sales_minute: 'a', daily_sales: 'b', order_facts: 'c' },
      },
      new Date(),
    ),
  ),
);
process.stdin.destroy();
