import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateRawTable } from '../../functions/pipeline/dataset-views.ts';
import {
  DatasetDeclarationError,
  dataset,
  datasetsDir,
  listDatasets,
} from '../../functions/pipeline/datasets.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { createRawTable } from '../../functions/pipeline/record-sources.ts';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();

/** A datasets folder holding a copy of orders, with its declaration rewritten by `edit`. */
function withOrders(edit: (yaml: string) => string, extra?: (dir: string) => void): string {
  const dir = tempDir();
  cpSync(path.join(datasetsDir(), 'orders'), path.join(dir, 'orders'), { recursive: true });
  const file = path.join(dir, 'orders', 'dataset.yaml');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  extra?.(dir);
  return dir;
}

describe('dataset declarations', () => {
  it('twinflow datasets --json lists each dataset with its models, dimensions and measures (contract)', async () => {
    const result = await twinflow('datasets', '--json');
    expect(result.code, result.stderr).toBe(0);
    const listed = JSON.parse(result.stdout) as { name: string; source: string; models: unknown[] }[];
    expect(listed.map((d) => d.name)).toContain('orders');
    const orders = listed.find((d) => d.name === 'orders');
    expect(orders).toMatchObject({
      name: 'orders',
      source: 'stream+batch',
      models: [
        {
          name: 'sales_minute',
          dimensions: ['product_id', 'currency'],
          measures: ['orders', 'units', 'revenue'],
        },
        {
          name: 'daily_sales',
          dimensions: ['product_id', 'currency'],
          measures: ['orders', 'units', 'revenue'],
        },
      ],
    });
    const table = await twinflow('datasets');
    expect(table.stdout).toContain('sales_minute (minute)');
    expect(table.stdout).toContain('revenue (money in currency)');
  });

  it('declares exactly the fields the validation produces (the declaration does not drift from the SQL)', async () => {
    const orders = dataset('orders');
    const columns = await withConnection(async (connection) => {
      await createRawTable(connection);
      await validateRawTable(connection);
      const reader = await connection.runAndReadAll('describe validated_orders');
      return reader.getRowObjectsJson().map((row) => String(row['column_name']));
    });
    for (const field of Object.keys(orders.fields)) expect(columns).toContain(field);
    expect(orders.key).toEqual(['order_id']);
    expect(orders.facts).toBe('order_facts');
  });

  it.each([
    ['broken YAML', (y: string) => `${y}\n  : : :`, /not readable YAML/],
    [
      'an unknown field type',
      (y: string) => y.replace('{ type: integer,', '{ type: number,'),
      /fields\.quantity/,
    ],
    [
      'money whose currency is not a dimension',
      (y: string) => y.replace('dimensions: [product_id, currency]', 'dimensions: [product_id]'),
      /revenue: its currency "currency" must be a dimension/,
    ],
    [
      'a missing model file',
      (y: string) => y.replace('models/daily_sales.sql', 'models/nope.sql'),
      /nope\.sql does not exist/,
    ],
    [
      'a key that is not a field',
      (y: string) => y.replace('key: [order_id]', 'key: [order_no]'),
      /key: "order_no"/,
    ],
    [
      'a name that is not the folder',
      (y: string) => y.replace('name: orders', 'name: sales'),
      /must be the folder's name/,
    ],
    [
      'an event time that is not a timestamp',
      (y: string) => y.replace('event_time: event_time\n', 'event_time: order_id\n'),
      /event_time: "order_id" is not a timestamp/,
    ],
    [
      'a rollup of nothing',
      (y: string) => y.replace('rollup_of: sales_minute', 'rollup_of: sales_hour'),
      /rollup_of: names no minute model/,
    ],
  ])('refuses %s, naming the file and the field', (_what, edit, message) => {
    const dir = withOrders(edit);
    let error: unknown;
    try {
      listDatasets(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DatasetDeclarationError);
    expect(String((error as Error).message)).toContain(path.join(dir, 'orders', 'dataset.yaml'));
    expect(String((error as Error).message)).toMatch(message);
  });

  it('refuses a model name two datasets declare', () => {
    const dir = withOrders(
      (y) => y,
      (root) => {
        cpSync(path.join(root, 'orders'), path.join(root, 'returns'), { recursive: true });
        const file = path.join(root, 'returns', 'dataset.yaml');
        writeFileSync(
          file,
          readFileSync(file, 'utf8')
            .replace('name: orders', 'name: returns')
            .replace('facts: order_facts', 'facts: return_facts'),
        );
      },
    );
    expect(() => listDatasets(dir)).toThrow(
      /returns[/]dataset\.yaml: model "(sales_minute|daily_sales)" is also declared by dataset "orders"/,
    );
  });
});
