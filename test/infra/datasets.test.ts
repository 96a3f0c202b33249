import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDatasets } from '../../functions/pipeline/datasets.ts';
import { synthTemplate, type TemplateJson } from '../../lib/synth.ts';
import { twinflowFunctions } from '../../lib/twinflow-functions.ts';
import { type CfnTemplate, planFromTemplate } from '../../local/template-plan.ts';
import {
  actionsOnKey,
  canList,
  datasetsWithFixtures,
  logicalId,
  s3Permissions,
  synthStage,
  withDatasetsDir,
} from './helpers.ts';

/**
 * The per-dataset resources, from the declarations alone: a project with the shipped orders, clicks and inventory,
 * the fixture stock_moves (stream+batch) and the fixture shelf_audits (batch only), and not a line of TypeScript
 * for them.
 */
type Synth = ReturnType<typeof synthStage>;
let project: ReturnType<typeof datasetsWithFixtures>;
let dev: Synth;
let merged: TemplateJson;
let shipped: TemplateJson;

beforeAll(() => {
  project = datasetsWithFixtures('stock_moves', 'shelf_audits');
  dev = withDatasetsDir(project.dir, () => synthStage('dev'));
  merged = withDatasetsDir(project.dir, () => synthTemplate('dev'));
  shipped = synthTemplate('dev');
});

afterAll(() => project?.remove());

const queueId = (prefix: string) => logicalId(dev.storageTemplate, 'AWS::SQS::Queue', prefix);
const functionId = (prefix: string) => logicalId(dev.computeTemplate, 'AWS::Lambda::Function', prefix);
const envOf = (prefix: string) =>
  (
    dev.computeTemplate.toJSON().Resources[functionId(prefix)].Properties as {
      Environment: { Variables: Record<string, unknown> };
    }
  ).Environment.Variables;

/** A policy's grants, one `action resource condition` line per action and resource, sorted. */
function grantsOf(template: TemplateJson, policyId: string): string[] {
  const document = template.Resources[policyId]?.Properties?.['PolicyDocument'] as
    | { Statement: { Action: string | string[]; Resource: unknown; Condition?: unknown }[] }
    | undefined;
  return (document?.Statement ?? [])
    .flatMap((statement) =>
      ([] as string[])
        .concat(statement.Action)
        .flatMap((action) =>
          ([] as unknown[])
            .concat(statement.Resource)
            .map(
              (resource) =>
                `${action} ${JSON.stringify(resource)}${statement.Condition ? ` ${JSON.stringify(statement.Condition)}` : ''}`,
            ),
        ),
    )
    .sort();
}

describe('a streamed dataset gets its own queue, DLQ, event source mapping and ingest function', () => {
  it('the storage stack has a queue and a DLQ per streamed dataset, named after it; orders keeps its ids', () => {
    const queues = Object.keys(dev.storageTemplate.findResources('AWS::SQS::Queue')).sort();

    expect(queues).toEqual([
      'ClicksDeadLetterQueue0819E0C9',
      'ClicksQueueEC57A6EC',
      'InventoryDeadLetterQueue48A59105',
      'InventoryQueue4D3B3B9B',
      'OrdersDeadLetterQueueA73944CE',
      'OrdersQueueC538DD4C',
      queueId('StockMovesDeadLetterQueue'),
      queueId('StockMovesQueue'),
    ]);
    dev.storageTemplate.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [queueId('StockMovesDeadLetterQueue'), 'Arn'] },
        maxReceiveCount: 3,
      },
    });
    expect(dev.storageTemplate.toJSON().Resources[queueId('StockMovesDeadLetterQueue')]).toMatchObject({
      Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 },
    });
  });

  it('a batch-only dataset gets no queue, no ingest function and no event source', () => {
    const ids = [
      ...Object.keys(dev.storageTemplate.toJSON().Resources),
      ...Object.keys(dev.computeTemplate.toJSON().Resources),
    ];

    expect(ids.filter((id) => /ShelfAudits/.test(id))).toEqual([]);
    expect(twinflowFunctions(listDatasets(project.dir)).map((f) => f.name)).not.toContain(
      'ingest-shelf_audits',
    );
    // Its models are still served (batch views).
    expect(ids.some((id) => id.startsWith('QueryApiHttpApiGETmetricsauditsminute'))).toBe(true);
  });

  it('the ingest function of each dataset runs the one ingest handler, told its dataset; orders as deployed', () => {
    const fixtureFn = dev.computeTemplate.toJSON().Resources[functionId('IngestStockMovesFunction')];

    expect(fixtureFn).toMatchObject({
      Metadata: { 'twinflow:entry': 'functions/ingest-orders/handler.ts' },
      Properties: {
        MemorySize: 2048,
        Timeout: 60,
        Description: 'Speed layer: micro-batches of stock_moves events into realtime partials',
      },
    });
    expect(envOf('IngestStockMovesFunction')).toMatchObject({
      TWINFLOW_DATASET: 'stock_moves',
      ALLOWED_LATENESS_SECONDS: '3600',
      LAKE_PREFIX: '',
    });
    expect(envOf('IngestOrdersFunction')).not.toHaveProperty('TWINFLOW_DATASET');
    expect(envOf('IngestClicksFunction')).toMatchObject({ TWINFLOW_DATASET: 'clicks' });
    expect(envOf('IngestInventoryFunction')).toMatchObject({ TWINFLOW_DATASET: 'inventory' });
    // The nine shipped functions (evaluate-alerts and batch-fan-out included) and the fixture's ingest function.
    dev.computeTemplate.resourceCountIs('AWS::Lambda::Function', 10);
  });

  it('each queue feeds its own ingest function in micro-batches with partial batch failure', () => {
    const mappings = Object.values(dev.computeTemplate.findResources('AWS::Lambda::EventSourceMapping')).map(
      (mapping) => mapping['Properties'],
    );

    expect(mappings).toHaveLength(4);
    for (const [queue, fn] of [
      ['ClicksQueue', 'IngestClicksFunction'],
      ['InventoryQueue', 'IngestInventoryFunction'],
      ['OrdersQueue', 'IngestOrdersFunction'],
      ['StockMovesQueue', 'IngestStockMovesFunction'],
    ] as const) {
      dev.computeTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: {
          'Fn::ImportValue': Match.stringLikeRegexp(`Storage:ExportsOutputFnGetAtt${queue}`),
        },
        FunctionName: { Ref: functionId(fn) },
        BatchSize: 10_000,
        MaximumBatchingWindowInSeconds: 8,
        ScalingConfig: { MaximumConcurrency: 5 },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('alarms on each DLQ and each queue backlog, and on the errors and throttles of every ingest function', () => {
    const alertTopic = { 'Fn::ImportValue': Match.stringLikeRegexp('AlertsTopic') };
    for (const dlq of [
      'ClicksDeadLetterQueue',
      'InventoryDeadLetterQueue',
      'OrdersDeadLetterQueue',
      'StockMovesDeadLetterQueue',
    ]) {
      dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::ImportValue': Match.stringLikeRegexp(dlq) } }],
        Threshold: 0,
        AlarmActions: [alertTopic],
      });
    }
    dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::ImportValue': Match.stringLikeRegexp('StockMovesQueue') } },
      ],
      Threshold: 300,
      AlarmActions: [alertTopic],
    });
    for (const metric of ['Errors', 'Throttles']) {
      dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: metric,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId('IngestStockMovesFunction') } }],
        AlarmActions: [alertTopic],
      });
    }
    const ids = Object.keys(dev.computeTemplate.findResources('AWS::CloudWatch::Alarm'));
    expect(ids.filter((id) => /QueueNotEmpty|QueueBacklog/.test(id))).toHaveLength(8);
  });

  it('reconcile-views gets <DATASET>_DLQ_URL of every streamed dataset and may read only those queues’ attributes', () => {
    expect(envOf('ReconcileViewsFunction')).toMatchObject({
      CLICKS_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/ClicksDeadLetterQueue/) },
      INVENTORY_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/InventoryDeadLetterQueue/) },
      ORDERS_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/OrdersDeadLetterQueue/) },
      STOCK_MOVES_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/StockMovesDeadLetterQueue/) },
    });
    expect(Object.keys(envOf('ReconcileViewsFunction')).filter((name) => name.endsWith('_DLQ_URL'))).toEqual([
      'CLICKS_DLQ_URL',
      'INVENTORY_DLQ_URL',
      'ORDERS_DLQ_URL',
      'STOCK_MOVES_DLQ_URL',
    ]);
    const queueGrants = grantsOf(merged, 'ReconcileViewsFunctionServiceRoleDefaultPolicy64A6983D').filter(
      (g) => g.startsWith('sqs:'),
    );
    expect(queueGrants).toEqual([
      `sqs:GetQueueAttributes ${JSON.stringify({ 'Fn::GetAtt': ['ClicksDeadLetterQueue0819E0C9', 'Arn'] })}`,
      `sqs:GetQueueAttributes ${JSON.stringify({ 'Fn::GetAtt': ['InventoryDeadLetterQueue48A59105', 'Arn'] })}`,
      `sqs:GetQueueAttributes ${JSON.stringify({ 'Fn::GetAtt': ['OrdersDeadLetterQueueA73944CE', 'Arn'] })}`,
      `sqs:GetQueueAttributes ${JSON.stringify({ 'Fn::GetAtt': [queueId('StockMovesDeadLetterQueue'), 'Arn'] })}`,
    ]);
  });
});

describe('least privilege per dataset', () => {
  const KEYS = {
    ownStream: 'stream/stock_moves/dt=2024-05-01/hour=10/b1.parquet',
    ownPartial: 'views/realtime/moves_minute/dt=2024-05-01/hour=10/part-b1.parquet',
    ownQuarantine: 'quarantine/stock_moves/dt=2024-05-01/b1.jsonl',
    ownState: 'state/stream/stock_moves/batches/dt=2024-05-01/b1.json',
    ordersStream: 'stream/orders/dt=2024-05-01/hour=10/b1.parquet',
    ordersPartial: 'views/realtime/sales_minute/dt=2024-05-01/hour=10/part-b1.parquet',
    ordersQuarantine: 'quarantine/orders/dt=2024-05-01/b1.jsonl',
    ordersState: 'state/stream/watermark.json',
    landing: 'landing/stock_moves/dt=2024-05-01/export.jsonl',
    batchView: 'views/batch/moves_minute/dt=2024-05-01/v1.parquet',
  } as const;
  type Area = keyof typeof KEYS;

  function access(fn: string) {
    const permissions = s3Permissions(dev.computeTemplate, fn);
    const areas = Object.keys(KEYS) as Area[];
    const can = (action: string) =>
      areas.filter((area) => actionsOnKey(permissions, KEYS[area], action).length > 0);
    return { read: can('s3:GetObject'), write: can('s3:PutObject'), delete: can('s3:DeleteObject') };
  }

  it("a dataset's ingest function writes only its stream, its models' partials, its quarantine and its state", () => {
    expect(access('IngestStockMoves')).toEqual({
      read: ['ownState'],
      write: ['ownStream', 'ownPartial', 'ownQuarantine', 'ownState'],
      delete: [],
    });
    const permissions = s3Permissions(dev.computeTemplate, 'IngestStockMoves');
    expect(canList(permissions, 'state/stream/stock_moves/batches/dt=2024-05-01/')).toBe(true);
    expect(canList(permissions, 'state/stream/batches/dt=2024-05-01/')).toBe(false);
    expect(canList(permissions, 'stream/stock_moves/')).toBe(false);
  });

  it('orders’ ingest function keeps exactly the grants it had before datasets were declared', () => {
    const grants = (template: Synth['computeTemplate']) =>
      s3Permissions(template, 'IngestOrders')
        .map((p) => `${p.action} ${p.resource} ${JSON.stringify(p.condition ?? {})}`)
        .sort();

    expect(grants(dev.computeTemplate)).toEqual(grants(synthStage('dev').computeTemplate));
  });

  it('each ingest function may receive and delete messages of its own queue only', () => {
    const sqsResources = (fn: string, action: string) => {
      const roleId = (
        dev.computeTemplate.toJSON().Resources[functionId(`${fn}Function`)].Properties as {
          Role: { 'Fn::GetAtt': [string] };
        }
      ).Role['Fn::GetAtt'][0];
      const policies = Object.values(dev.computeTemplate.findResources('AWS::IAM::Policy')).filter((policy) =>
        (policy['Properties'].Roles as { Ref: string }[]).some((role) => role.Ref === roleId),
      );
      return policies.flatMap((policy) =>
        (policy['Properties'].PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
          .filter((statement) => ([] as string[]).concat(statement.Action).includes(action))
          .map((statement) => JSON.stringify(statement.Resource)),
      );
    };

    for (const [fn, own, other] of [
      ['IngestStockMoves', 'StockMovesQueue', 'OrdersQueue'],
      ['IngestOrders', 'OrdersQueue', 'StockMovesQueue'],
      ['IngestClicks', 'ClicksQueue', 'OrdersQueue'],
      ['IngestInventory', 'InventoryQueue', 'OrdersQueue'],
    ] as const) {
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage']) {
        const resources = sqsResources(fn, action);
        expect(resources, `${fn} ${action}`).toHaveLength(1);
        expect(resources[0]).toContain(own);
        expect(resources[0]).not.toContain(other);
      }
    }
  });
});

describe('adding a dataset only adds to the template', () => {
  it('every resource of the shipped template is unchanged, except additions to reconciliation and the dashboard', () => {
    const normalize = (value: unknown) => JSON.stringify(value).replace(/[0-9a-f]{64}/g, '<asset-hash>');
    const changed = Object.keys(shipped.Resources).filter(
      (id) => normalize(merged.Resources[id]) !== normalize(shipped.Resources[id]),
    );

    expect(changed.sort()).toEqual([
      'MonitoringDashboard0C3675C6',
      'ReconcileViewsFunctionF135EEB3',
      'ReconcileViewsFunctionServiceRoleDefaultPolicy64A6983D',
    ]);
    const variables = (template: TemplateJson) =>
      (
        template.Resources['ReconcileViewsFunctionF135EEB3']?.Properties?.['Environment'] as
          | { Variables: Record<string, unknown> }
          | undefined
      )?.Variables;
    expect(variables(merged)).toMatchObject(variables(shipped) ?? { missing: true });
    const policy = 'ReconcileViewsFunctionServiceRoleDefaultPolicy64A6983D';
    const added = grantsOf(merged, policy).filter((grant) => !grantsOf(shipped, policy).includes(grant));
    expect(grantsOf(merged, policy)).toEqual(expect.arrayContaining(grantsOf(shipped, policy)));
    expect(added).toEqual([
      `sqs:GetQueueAttributes ${JSON.stringify({ 'Fn::GetAtt': [queueId('StockMovesDeadLetterQueue'), 'Arn'] })}`,
    ]);
  });

  it('the local plan of the template runs every queue, mapping and ingest function, named from the template', () => {
    const plan = planFromTemplate(merged as CfnTemplate);
    const ingest = plan.functions.find((f) => f.name === 'ingest-stock_moves');
    const mapping = plan.eventSources.find((e) => e.functionId === ingest?.logicalId);

    expect(plan.functions.map((f) => f.name).sort()).toEqual(
      twinflowFunctions(listDatasets(project.dir))
        .map((f) => f.name)
        .sort(),
    );
    expect(ingest).toMatchObject({ entry: 'functions/ingest-orders/handler.ts', dataset: 'stock_moves' });
    expect(plan.queues.find((q) => q.logicalId === mapping?.queueId)?.redrive?.deadLetterQueueId).toMatch(
      /^StockMovesDeadLetterQueue/,
    );
  });
});
