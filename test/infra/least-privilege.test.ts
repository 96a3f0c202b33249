import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOnKey, s3Permissions, synthStage } from './helpers.ts';

type Synth = ReturnType<typeof synthStage>;
let dev: Synth;

beforeAll(() => {
  dev = synthStage('dev');
});

const KEYS = {
  landing: 'landing/orders/dt=2024-05-01/export.csv',
  stream: 'stream/orders/dt=2024-05-01/hour=10/b1.parquet',
  batchView: 'views/batch/sales_minute/dt=2024-05-01/v1.parquet',
  realtimeView: 'views/realtime/sales_minute/dt=2024-05-01/hour=10/part-b1.parquet',
  quarantine: 'quarantine/orders/dt=2024-05-01/b1.jsonl',
  reconciliation: 'reconciliation/runs/r1.json',
  alerts: 'alerts/a1.json',
  state: 'state/batch/report.json',
  streamState: 'state/stream/watermark.json',
} as const;
type Area = keyof typeof KEYS;

function can(fn: string, action: string, area: Area): boolean {
  return actionsOnKey(s3Permissions(dev.computeTemplate, fn), KEYS[area], action).length > 0;
}

/** Which areas `fn` may read, write and delete, as a compact table. */
function access(fn: string) {
  const areas = Object.keys(KEYS) as Area[];
  return {
    read: areas.filter((area) => can(fn, 's3:GetObject', area)),
    write: areas.filter((area) => can(fn, 's3:PutObject', area)),
    delete: areas.filter((area) => can(fn, 's3:DeleteObject', area)),
  };
}

describe('lake permissions per function (contract: IAM prefixes)', () => {
  it('no function has an S3 action on every object ("*" or "<bucket>/*"), only on named prefixes', () => {
    for (const fn of ['RunBatch', 'IngestOrders', 'CompactRealtime', 'QuerySales', 'ReconcileViews']) {
      const permissions = s3Permissions(dev.computeTemplate, fn);
      expect(permissions.length).toBeGreaterThan(0);
      for (const { action, resource } of permissions) {
        // '' is the bucket ARN itself (listing); object actions have no effect there.
        expect(resource, `${fn} ${action}`).toMatch(/^(\/[a-z_]+(\/[a-z_]+)*\/\*)?$/);
      }
    }
  });

  it('query-sales is read-only on views, reconciliation, alerts, quarantine and state', () => {
    expect(access('QuerySales')).toEqual({
      read: ['batchView', 'realtimeView', 'quarantine', 'reconciliation', 'alerts', 'state', 'streamState'],
      write: [],
      delete: [],
    });
  });

  it('ingest-orders appends stream, partials and quarantine, owns only state/stream, cannot read landing', () => {
    expect(access('IngestOrders')).toEqual({
      read: ['streamState'],
      write: ['stream', 'realtimeView', 'quarantine', 'streamState'],
      delete: ['streamState'],
    });
    expect(can('IngestOrders', 's3:GetObject', 'landing')).toBe(false);
  });

  it('run-batch reads landing and owns batch views, quarantine and state', () => {
    expect(access('RunBatch')).toEqual({
      read: ['landing', 'batchView', 'quarantine', 'state', 'streamState'],
      write: ['batchView', 'quarantine', 'state', 'streamState'],
      delete: ['batchView', 'quarantine', 'state', 'streamState'],
    });
  });

  it('compact-realtime reads the stream archive and owns realtime views only', () => {
    expect(access('CompactRealtime')).toEqual({
      read: ['stream', 'realtimeView'],
      write: ['realtimeView'],
      delete: ['realtimeView'],
    });
  });

  it('reconcile-views reads everything and writes reconciliation, alerts and the layers it recomputes', () => {
    expect(access('ReconcileViews')).toEqual({
      read: Object.keys(KEYS),
      write: ['batchView', 'realtimeView', 'quarantine', 'reconciliation', 'alerts', 'state', 'streamState'],
      delete: ['batchView', 'realtimeView', 'quarantine', 'reconciliation', 'alerts', 'state', 'streamState'],
    });
  });

  it('only reconcile-views may read DLQ attributes and publish alerts', () => {
    const policies = dev.computeTemplate.findResources('AWS::IAM::Policy');
    const holders = (action: string) =>
      Object.entries(policies)
        .filter(([, policy]) => JSON.stringify(policy['Properties'].PolicyDocument).includes(`"${action}"`))
        .map(([id]) => id.replace(/Function.*/, ''));

    expect(holders('sns:Publish')).toEqual(['ReconcileViews']);
    expect(holders('sqs:GetQueueAttributes').sort()).toEqual(['IngestOrders', 'ReconcileViews']);
    expect(holders('sqs:DeleteMessage')).toEqual(['IngestOrders']);
  });
});
