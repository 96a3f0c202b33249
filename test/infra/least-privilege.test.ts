import { beforeAll, describe, expect, it } from 'vitest';
import { listBalances } from '../../functions/pipeline/datasets.ts';
import { actionsOnKey, allows, canList, s3Permissions, synthStage } from './helpers.ts';

type Synth = ReturnType<typeof synthStage>;
let dev: Synth;
let prefixed: Synth;

beforeAll(() => {
  dev = synthStage('dev');
  prefixed = synthStage('dev', { lake: { prefix: 'tenant-a/lake' } });
});

const FUNCTIONS = [
  'RunBatch',
  'IngestClicks',
  'IngestInventory',
  'IngestOrders',
  'CompactRealtime',
  'QuerySales',
  'ReconcileViews',
  'EvaluateAlerts',
] as const;

const KEYS = {
  landing: 'landing/orders/dt=2024-05-01/export.csv',
  stream: 'stream/orders/dt=2024-05-01/hour=10/b1.parquet',
  /** The archive of a balance's movement dataset (inventory, for stock), read by levels exact to the event. */
  movementStream: 'stream/inventory/dt=2024-05-01/hour=10/b1.parquet',
  batchView: 'views/batch/sales_minute/dt=2024-05-01/v1.parquet',
  realtimeView: 'views/realtime/sales_minute/dt=2024-05-01/hour=10/part-b1.parquet',
  quarantine: 'quarantine/orders/dt=2024-05-01/b1.jsonl',
  reconciliation: 'reconciliation/runs/r1.json',
  alerts: 'alerts/dt=2024-05-01/a1.json',
  table: 'tables/reorder_points.csv',
  state: 'state/batch/report.json',
  streamState: 'state/stream/watermark.json',
  alertState: 'state/alerts/low_stock.json',
} as const;
type Area = keyof typeof KEYS;

/** The folders each area is listed by (the `Prefix` of a ListObjectsV2 call, as functions/pipeline/lake-layout.ts builds them). */
const LIST_PREFIXES: Record<Area, string> = {
  landing: 'landing/orders/dt=2024-05-01/',
  stream: 'stream/orders/dt=2024-05-01/hour=10/',
  movementStream: 'stream/inventory/dt=2024-05-01/hour=10/',
  batchView: 'views/batch/sales_minute/dt=2024-05-01/',
  realtimeView: 'views/realtime/sales_minute/dt=2024-05-01/',
  quarantine: 'quarantine/orders/dt=2024-05-01/',
  reconciliation: 'reconciliation/runs/dt=2024-05-01/',
  alerts: 'alerts/',
  table: 'tables/',
  state: 'state/batch/runs/dt=2024-05-01/',
  streamState: 'state/stream/batches/dt=2024-05-01/',
  alertState: 'state/alerts/',
};

function can(fn: string, action: string, area: Area): boolean {
  return actionsOnKey(s3Permissions(dev.computeTemplate, fn), KEYS[area], action).length > 0;
}

/** Which areas `fn` may list, read, write and delete, as a compact table. */
function access(fn: string) {
  const areas = Object.keys(KEYS) as Area[];
  const permissions = s3Permissions(dev.computeTemplate, fn);
  return {
    list: areas.filter((area) => canList(permissions, LIST_PREFIXES[area])),
    read: areas.filter((area) => can(fn, 's3:GetObject', area)),
    write: areas.filter((area) => can(fn, 's3:PutObject', area)),
    delete: areas.filter((area) => can(fn, 's3:DeleteObject', area)),
  };
}

describe('lake permissions per function (contract: IAM prefixes)', () => {
  it('no function has an S3 action on every object ("*" or "<bucket>/*"), only on named prefixes', () => {
    for (const fn of FUNCTIONS) {
      const permissions = s3Permissions(dev.computeTemplate, fn);
      expect(permissions.length).toBeGreaterThan(0);
      for (const { action, resource } of permissions) {
        // '' is the bucket ARN itself (listing); object actions have no effect there.
        expect(resource, `${fn} ${action}`).toMatch(/^(\/[a-z_]+(\/[a-z_]+)*\/\*)?$/);
      }
    }
  });

  it('query-sales lists and reads views, the movement archive, tables, reconciliation, alerts, quarantine and state; writes and deletes nothing', () => {
    // movementStream: levels exact to the event read the minute's archives of a balance's movements (inventory);
    // alertState is under state/, which the API has always read. Never another dataset's archive (stream).
    const readable = [
      'movementStream',
      'batchView',
      'realtimeView',
      'quarantine',
      'reconciliation',
      'alerts',
      'table',
      'state',
      'streamState',
      'alertState',
    ];
    expect(access('QuerySales')).toEqual({ list: readable, read: readable, write: [], delete: [] });
  });

  it('ingest-orders appends stream, partials and quarantine, reads only state/stream, deletes nothing', () => {
    // Orders keeps the whole stream/ prefix it was deployed with, so it may also append to inventory's archive.
    expect(access('IngestOrders')).toEqual({
      list: ['streamState'],
      read: ['streamState'],
      write: ['stream', 'movementStream', 'realtimeView', 'quarantine', 'streamState'],
      delete: [],
    });
  });

  it('run-batch reads landing and its own views and state (and, for the stock balance, the realtime views and the movements archive), deletes only superseded batch views', () => {
    // A balance's batch close and count discrepancies are levels: realtime views and the inventory archive of days
    // batch has not published.
    const readable = ['landing', 'movementStream', 'batchView', 'realtimeView', 'state'];
    expect(access('RunBatch')).toEqual({
      list: readable,
      read: readable,
      write: ['batchView', 'quarantine', 'state'],
      delete: ['batchView'],
    });
  });

  it('compact-realtime reads the stream archive, realtime views and the watermark; owns realtime views only', () => {
    const readable = ['stream', 'movementStream', 'realtimeView', 'streamState'];
    expect(access('CompactRealtime')).toEqual({
      list: readable,
      read: readable,
      write: ['realtimeView'],
      delete: ['realtimeView'],
    });
  });

  it('reconcile-views reads every layer, writes what it recomputes and records, deletes only superseded batch views', () => {
    // Every layer but the alerts it records and the reference tables it has no use for.
    const readable = [
      'landing',
      'stream',
      'movementStream',
      'batchView',
      'realtimeView',
      'quarantine',
      'reconciliation',
      'state',
      'streamState',
      'alertState',
    ];
    expect(access('ReconcileViews')).toEqual({
      list: readable,
      read: readable,
      write: ['batchView', 'realtimeView', 'quarantine', 'reconciliation', 'alerts', 'state'],
      delete: ['batchView'],
    });
  });

  it('evaluate-alerts reads views, the movement archive, tables and alert state; writes alert state and alerts only', () => {
    const readable = ['movementStream', 'batchView', 'realtimeView', 'table', 'alertState'];
    expect(access('EvaluateAlerts')).toEqual({
      list: readable,
      read: readable,
      write: ['alerts', 'alertState'],
      delete: [],
    });
  });

  it('ingest-inventory (a dataset with balance alerts) also reads what evaluating its rules reads and writes alerts', () => {
    // Its own archive (appended, and read for levels), views, tables and alert state; no other dataset's archive.
    const readable = ['movementStream', 'batchView', 'realtimeView', 'table', 'alertState'];
    expect(access('IngestInventory')).toEqual({
      list: readable,
      read: readable,
      write: ['movementStream', 'alerts', 'alertState'],
      delete: [],
    });
  });

  it("query and the alert evaluators read stream/ only for the balances' movement datasets, never landing/", () => {
    const movementDatasets = [...new Set(listBalances().map((balance) => balance.dataset))];
    expect(movementDatasets).toEqual(['inventory']);
    for (const fn of ['QuerySales', 'EvaluateAlerts', 'IngestInventory']) {
      const permissions = s3Permissions(dev.computeTemplate, fn);
      const streamGrants = [
        ...permissions
          .filter(({ resource }) => resource.startsWith('/stream/'))
          .map(({ action, resource }) => `${action} ${resource}`),
        ...permissions
          .flatMap(({ condition }) => ([] as string[]).concat(condition?.['StringLike']?.['s3:prefix'] ?? []))
          .filter((prefix) => prefix.startsWith('stream/'))
          .map((prefix) => `s3:ListBucket ${prefix}`),
      ];
      // Only ingest-inventory appends to its own archive; the others read it.
      expect([...new Set(streamGrants)].sort(), fn).toEqual(
        [
          's3:GetObject /stream/inventory/*',
          's3:ListBucket stream/inventory/*',
          ...(fn === 'IngestInventory' ? ['s3:PutObject /stream/inventory/*'] : []),
        ].sort(),
      );
      expect(canList(permissions, 'stream/inventory/dt=2024-05-01/hour=10/'), fn).toBe(true);
      for (const other of ['stream/', 'stream/orders/', 'stream/clicks/', 'stream/stock_counts/']) {
        expect(canList(permissions, other), `${fn} lists ${other}`).toBe(false);
      }
      for (const key of [KEYS.stream, 'stream/clicks/dt=2024-05-01/hour=10/b1.parquet', KEYS.landing]) {
        expect(actionsOnKey(permissions, key, 's3:GetObject'), `${fn} reads ${key}`).toEqual([]);
      }
      expect(canList(permissions, LIST_PREFIXES.landing), fn).toBe(false);
      expect(canList(permissions, 'landing/inventory/dt=2024-05-01/'), fn).toBe(false);
    }
  });

  it("ingest and query cannot list landing/ (nor query another dataset's stream/), and nobody lists the bucket root", () => {
    const ingest = s3Permissions(dev.computeTemplate, 'IngestOrders');
    const query = s3Permissions(dev.computeTemplate, 'QuerySales');

    expect(canList(ingest, LIST_PREFIXES.landing)).toBe(false);
    expect(canList(query, LIST_PREFIXES.landing)).toBe(false);
    expect(canList(query, LIST_PREFIXES.stream)).toBe(false);
    expect(canList(query, LIST_PREFIXES.movementStream)).toBe(true);
    for (const fn of FUNCTIONS) {
      const permissions = s3Permissions(dev.computeTemplate, fn);
      expect(canList(permissions, ''), fn).toBe(false);
      expect(canList(permissions, 'views'), `${fn} lists a prefix that is not a granted folder`).toBe(false);
    }
  });

  it('every bucket-level grant is s3:ListBucket with an s3:prefix StringLike condition, nothing else', () => {
    for (const fn of FUNCTIONS) {
      const bucketLevel = s3Permissions(dev.computeTemplate, fn).filter(({ resource }) => resource === '');
      expect(bucketLevel.length, fn).toBeGreaterThan(0);
      for (const { action, condition } of bucketLevel) {
        expect(action, fn).toBe('s3:ListBucket');
        expect(Object.keys(condition ?? {}), fn).toEqual(['StringLike']);
        expect(Object.keys(condition?.['StringLike'] ?? {}), fn).toEqual(['s3:prefix']);
      }
    }
  });

  it('grants only ListBucket, GetObject, PutObject and DeleteObject: no versions, ACLs, retention or legal holds', () => {
    for (const fn of FUNCTIONS) {
      const actions = new Set(s3Permissions(dev.computeTemplate, fn).map(({ action }) => action));
      for (const action of actions) {
        expect(
          ['s3:ListBucket', 's3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          `${fn} ${action}`,
        ).toContain(action);
      }
      for (const forbidden of [
        's3:DeleteObjectVersion',
        's3:PutObjectRetention',
        's3:PutObjectLegalHold',
        's3:GetObjectVersion',
        's3:PutObjectAcl',
        's3:GetBucketLocation',
      ]) {
        expect(
          [...actions].filter((action) => allows(action, forbidden)),
          `${fn} ${forbidden}`,
        ).toEqual([]);
      }
    }
  });

  it('under a lake prefix, listing and object grants stay inside it', () => {
    const query = s3Permissions(prefixed.computeTemplate, 'QuerySales');
    const listed = query.flatMap(({ condition }) => condition?.['StringLike']?.['s3:prefix'] ?? []);

    expect([...listed].sort()).toEqual(
      [
        'alerts/*',
        'quarantine/*',
        'reconciliation/*',
        'state/*',
        'stream/inventory/*',
        'tables/*',
        'views/*',
      ].map((p) => `tenant-a/lake/${p}`),
    );
    expect(canList(query, `tenant-a/lake/${LIST_PREFIXES.batchView}`)).toBe(true);
    expect(canList(query, LIST_PREFIXES.batchView)).toBe(false);
    expect(canList(query, 'tenant-a/lake/landing/orders/')).toBe(false);
    expect(canList(query, 'tenant-a/lake/stream/inventory/dt=2024-05-01/hour=10/')).toBe(true);
    expect(canList(query, 'tenant-a/lake/stream/orders/')).toBe(false);
    for (const fn of FUNCTIONS) {
      const permissions = s3Permissions(prefixed.computeTemplate, fn);
      for (const { resource, condition } of permissions) {
        if (resource !== '') expect(resource, fn).toMatch(/^\/tenant-a\/lake\/[a-z_/]+\*$/);
        for (const listed of condition?.['StringLike']?.['s3:prefix'] ?? []) {
          expect(listed, fn).toMatch(/^tenant-a\/lake\/[a-z_/]+\*$/);
        }
      }
    }
  });

  it('only reconcile-views reads DLQ attributes; exactly reconcile-views, evaluate-alerts and ingest-inventory publish alerts', () => {
    const policies = dev.computeTemplate.findResources('AWS::IAM::Policy');
    const holders = (action: string) =>
      Object.entries(policies)
        .filter(([, policy]) => JSON.stringify(policy['Properties'].PolicyDocument).includes(`"${action}"`))
        .map(([id]) => id.replace(/Function.*/, ''));

    /** `[function, resources]` of each statement allowing `action`. */
    const grants = (action: string) =>
      Object.entries(policies).flatMap(([id, policy]) =>
        (policy['Properties'].PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
          .filter((statement) => ([] as string[]).concat(statement.Action).includes(action))
          .map((statement) => [id.replace(/Function.*/, ''), JSON.stringify(statement.Resource)] as const),
      );

    // ingest-inventory: its dataset declares a balance alert rule (low_stock), evaluated after each micro-batch.
    expect(holders('sns:Publish').sort()).toEqual(['EvaluateAlerts', 'IngestInventory', 'ReconcileViews']);
    for (const [fn, resource] of grants('sns:Publish')) {
      expect(resource, fn).toMatch(/^\{"Fn::ImportValue":"[^"]*ExportsOutputRefAlertsTopic[^"]*"\}$/);
    }
    // The ingest functions read their own queue's attributes (event source mapping); only reconcile-views a DLQ's.
    const dlqReaders = grants('sqs:GetQueueAttributes').filter(([, resource]) =>
      resource.includes('DeadLetterQueue'),
    );
    expect([...new Set(dlqReaders.map(([fn]) => fn))]).toEqual(['ReconcileViews']);
    expect(holders('sqs:GetQueueAttributes').sort()).toEqual([
      'IngestClicks',
      'IngestInventory',
      'IngestOrders',
      'ReconcileViews',
    ]);
    expect(holders('sqs:DeleteMessage').sort()).toEqual(['IngestClicks', 'IngestInventory', 'IngestOrders']);
  });
});

describe('clicks: a shipped dataset with a compaction-only model (sessions_minute)', () => {
  const CLICKS_KEYS = {
    stream: 'stream/clicks/dt=2024-05-01/hour=10/b1.parquet',
    funnelPartial: 'views/realtime/funnel_minute/dt=2024-05-01/hour=10/part-b1.parquet',
    funnelManifest: 'views/realtime/funnel_minute/dt=2024-05-01/_manifest.json',
    sessionsCompacted: 'views/realtime/sessions_minute/dt=2024-05-01/compacted-c1.parquet',
    facts: 'views/realtime/click_facts/dt=2024-05-01/facts-c1.parquet',
    quarantine: 'quarantine/clicks/dt=2024-05-01/b1.jsonl',
    state: 'state/stream/clicks/batches/dt=2024-05-01/b1.json',
    landing: 'landing/clicks/dt=2024-05-01/export.jsonl',
    ordersStream: 'stream/orders/dt=2024-05-01/hour=10/b1.parquet',
    ordersPartial: 'views/realtime/sales_minute/dt=2024-05-01/hour=10/part-b1.parquet',
    ordersState: 'state/stream/watermark.json',
  } as const;
  type ClicksArea = keyof typeof CLICKS_KEYS;

  function clicksAccess(fn: string) {
    const permissions = s3Permissions(dev.computeTemplate, fn);
    const areas = Object.keys(CLICKS_KEYS) as ClicksArea[];
    const can = (action: string) =>
      areas.filter((area) => actionsOnKey(permissions, CLICKS_KEYS[area], action).length > 0);
    return { read: can('s3:GetObject'), write: can('s3:PutObject'), delete: can('s3:DeleteObject') };
  }

  it('ingest-clicks appends its stream, funnel partials, quarantine and state; sessions, facts and orders are not its', () => {
    // Grants are per folder: the funnel folder also holds the day manifest compaction writes.
    expect(clicksAccess('IngestClicks')).toEqual({
      read: ['state'],
      write: ['stream', 'funnelPartial', 'funnelManifest', 'quarantine', 'state'],
      delete: [],
    });
    const permissions = s3Permissions(dev.computeTemplate, 'IngestClicks');
    expect(canList(permissions, 'state/stream/clicks/batches/dt=2024-05-01/')).toBe(true);
    expect(canList(permissions, 'state/stream/batches/dt=2024-05-01/')).toBe(false);
    expect(canList(permissions, 'landing/clicks/dt=2024-05-01/')).toBe(false);
  });

  it('compaction reads the clicks archive and owns every clicks realtime folder, sessions and facts included', () => {
    expect(clicksAccess('CompactRealtime')).toEqual({
      read: [
        'stream',
        'funnelPartial',
        'funnelManifest',
        'sessionsCompacted',
        'facts',
        'state',
        'ordersStream',
        'ordersPartial',
        'ordersState',
      ],
      write: ['funnelPartial', 'funnelManifest', 'sessionsCompacted', 'facts', 'ordersPartial'],
      delete: ['funnelPartial', 'funnelManifest', 'sessionsCompacted', 'facts', 'ordersPartial'],
    });
    const permissions = s3Permissions(dev.computeTemplate, 'CompactRealtime');
    expect(canList(permissions, 'stream/clicks/dt=2024-05-01/')).toBe(true);
    expect(canList(permissions, 'views/realtime/sessions_minute/dt=2024-05-01/')).toBe(true);
  });
});
