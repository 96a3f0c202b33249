import { App, Duration, Stack } from 'aws-cdk-lib';
import { Capture, Match } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../functions/query-sales/routes/index.ts';
import { MicroBatchConsumer } from '../../lib/constructs/micro-batch-consumer.ts';
import { logicalId, synthStage } from './helpers.ts';

type Synth = ReturnType<typeof synthStage>;
let dev: Synth;

beforeAll(() => {
  dev = synthStage('dev');
});

const FUNCTIONS = {
  RunBatch: { memory: 3008, timeout: 900 },
  IngestClicks: { memory: 2048, timeout: 60 },
  IngestInventory: { memory: 2048, timeout: 60 },
  IngestOrders: { memory: 2048, timeout: 60 },
  CompactRealtime: { memory: 2048, timeout: 240 },
  QuerySales: { memory: 2048, timeout: 29 },
  ReconcileViews: { memory: 2048, timeout: 900 },
  EvaluateAlerts: { memory: 1024, timeout: 60 },
  BatchFanOut: { memory: 3008, timeout: 900 },
} as const;

function functionProps(synth: Synth, name: string) {
  const id = logicalId(synth.computeTemplate, 'AWS::Lambda::Function', `${name}Function`);
  return synth.computeTemplate.toJSON().Resources[id].Properties as {
    Timeout: number;
    Environment: { Variables: Record<string, unknown> };
  };
}

describe('functions', () => {
  it('are nine Node.js 22 x86_64 functions (one ingest per shipped stream) with their memory and timeout', () => {
    dev.computeTemplate.resourceCountIs('AWS::Lambda::Function', 9);
    for (const [name, { memory, timeout }] of Object.entries(FUNCTIONS)) {
      const id = logicalId(dev.computeTemplate, 'AWS::Lambda::Function', `${name}Function`);
      expect(dev.computeTemplate.toJSON().Resources[id].Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['x86_64'],
        Handler: 'index.handler',
        MemorySize: memory,
        Timeout: timeout,
      });
    }
  });

  it('each get the lake and Powertools environment, plus their contract variables', () => {
    for (const name of Object.keys(FUNCTIONS)) {
      expect(functionProps(dev, name).Environment.Variables).toMatchObject({
        LAKE_BUCKET: { 'Fn::ImportValue': expect.stringMatching(/LakeBucket/) },
        LAKE_PREFIX: '',
        POWERTOOLS_SERVICE_NAME: 'twinflow',
        POWERTOOLS_METRICS_NAMESPACE: 'Twinflow',
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
        REPORTING_TIME_ZONE: 'UTC',
      });
    }
    for (const ingest of ['IngestOrders', 'IngestClicks', 'IngestInventory']) {
      expect(functionProps(dev, ingest).Environment.Variables).toMatchObject({
        ALLOWED_LATENESS_SECONDS: '3600',
        ACCEPTED_CURRENCIES: '',
        MAX_CLOCK_SKEW_SECONDS: '300',
      });
    }
    // Orders' function predates TWINFLOW_DATASET and keeps its deployed environment.
    expect(functionProps(dev, 'IngestOrders').Environment.Variables).not.toHaveProperty('TWINFLOW_DATASET');
    expect(functionProps(dev, 'IngestClicks').Environment.Variables).toMatchObject({
      TWINFLOW_DATASET: 'clicks',
    });
    expect(functionProps(dev, 'IngestInventory').Environment.Variables).toMatchObject({
      TWINFLOW_DATASET: 'inventory',
    });
    expect(functionProps(dev, 'RunBatch').Environment.Variables).toMatchObject({
      SPIKE_FACTOR: '3',
      MAX_MALFORMED_SHARE: '0.05',
      ACCEPTED_CURRENCIES: '',
    });
    expect(functionProps(dev, 'ReconcileViews').Environment.Variables).toMatchObject({
      ALERT_TOPIC_ARN: { 'Fn::ImportValue': expect.stringMatching(/AlertsTopic/) },
      DEVIATION_THRESHOLD: '0.1',
      ORDERS_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/OrdersDeadLetterQueue/) },
      CLICKS_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/ClicksDeadLetterQueue/) },
      INVENTORY_DLQ_URL: { 'Fn::ImportValue': expect.stringMatching(/InventoryDeadLetterQueue/) },
      LOOKBACK_DAYS: '3',
      // Reconciliation re-runs batch days: with batch's own policy.
      ACCEPTED_CURRENCIES: '',
      MAX_CLOCK_SKEW_SECONDS: '300',
    });
  });

  it('each log to their own log group with the stage retention', () => {
    for (const name of Object.keys(FUNCTIONS)) {
      const logGroupId = logicalId(dev.computeTemplate, 'AWS::Logs::LogGroup', `${name}LogGroup`);
      expect(dev.computeTemplate.toJSON().Resources[logGroupId]).toMatchObject({
        Properties: { RetentionInDays: 14 },
        DeletionPolicy: 'Delete',
      });
      dev.computeTemplate.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.anyValue(),
        LoggingConfig: { LogGroup: { Ref: logGroupId } },
      });
    }
  });

  it('prod keeps its log groups for 90 days and retains them', () => {
    const prod = synthStage('prod');
    const logGroups = prod.computeTemplate.findResources('AWS::Logs::LogGroup');
    // One per function, the API's access log and the fan-out state machine's execution log.
    expect(Object.keys(logGroups)).toHaveLength(11);
    for (const logGroup of Object.values(logGroups)) {
      expect(logGroup).toMatchObject({ Properties: { RetentionInDays: 90 }, DeletionPolicy: 'Retain' });
    }
  });
});

describe('speed layer event source', () => {
  it('delivers micro-batches with partial batch failure from each queue to its ingest function', () => {
    dev.computeTemplate.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    for (const [queue, fn] of [
      ['OrdersQueue', 'IngestOrdersFunction'],
      ['ClicksQueue', 'IngestClicksFunction'],
      ['InventoryQueue', 'IngestInventoryFunction'],
    ] as const) {
      dev.computeTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::ImportValue': Match.stringLikeRegexp(queue) },
        FunctionName: { Ref: logicalId(dev.computeTemplate, 'AWS::Lambda::Function', fn) },
        BatchSize: 10_000,
        MaximumBatchingWindowInSeconds: 8,
        ScalingConfig: { MaximumConcurrency: 5 },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
  });

  it('queue visibility timeout is at least 6x the consumer timeout', () => {
    const visibility = new Capture();
    dev.storageTemplate.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: visibility,
      RedrivePolicy: Match.anyValue(),
    });

    expect(visibility.asNumber()).toBeGreaterThanOrEqual(6 * functionProps(dev, 'IngestOrders').Timeout);
  });

  it('changing the stage config changes the template (batch size, window, concurrency, time zone)', () => {
    const tuned = synthStage('dev', {
      stream: { batchSize: 500, maxBatchingWindowSeconds: 2, maxConcurrency: 20 },
      reporting: { timeZone: 'Asia/Taipei' },
    });
    for (const name of Object.keys(FUNCTIONS)) {
      expect(functionProps(tuned, name).Environment.Variables.REPORTING_TIME_ZONE).toBe('Asia/Taipei');
    }

    tuned.computeTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 2,
      ScalingConfig: { MaximumConcurrency: 20 },
    });
    expect(JSON.stringify(tuned.computeTemplate.toJSON())).not.toEqual(
      JSON.stringify(dev.computeTemplate.toJSON()),
    );
  });

  it('refuses a queue visibility timeout shorter than 6x the consumer timeout', () => {
    const stack = new Stack(new App(), 'Probe');
    const queue = new sqs.Queue(stack, 'Queue');
    const consumer = new lambda.Function(stack, 'Consumer', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => ({});'),
      timeout: Duration.seconds(100),
    });
    const wire = (id: string, visibility: number) =>
      new MicroBatchConsumer(stack, id, {
        function: consumer,
        queue,
        queueVisibilityTimeout: Duration.seconds(visibility),
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        maxConcurrency: 2,
      });

    expect(() => wire('TooShort', 599)).toThrow('must be >= 6x the consumer timeout (100 s), i.e. >= 600 s');
    expect(() => wire('JustRight', 600)).not.toThrow();
  });
});

describe('alert rules', () => {
  type PolicyResource = {
    Properties: { PolicyDocument: { Statement: { Action: string | string[] }[] }; Roles: { Ref: string }[] };
  };
  type FunctionResource = {
    Properties: {
      Role: { 'Fn::GetAtt': [string, string] };
      Environment: { Variables: Record<string, unknown> };
    };
  };

  it('the evaluator and the ingest function of a dataset with balance alerts publish to the alert topic; the others do not', () => {
    const policies = Object.values(
      dev.computeTemplate.findResources('AWS::IAM::Policy') as Record<string, PolicyResource>,
    );
    const publisherRoles = policies
      .filter((policy) =>
        policy.Properties.PolicyDocument.Statement.some((statement) =>
          ([] as string[]).concat(statement.Action).includes('sns:Publish'),
        ),
      )
      .flatMap((policy) => policy.Properties.Roles.map((role) => role.Ref));
    const functionResource = (fn: string): FunctionResource => {
      const id = logicalId(dev.computeTemplate, 'AWS::Lambda::Function', `${fn}Function`);
      return dev.computeTemplate.toJSON().Resources[id] as FunctionResource;
    };
    const roleOf = (fn: string) => functionResource(fn).Properties.Role['Fn::GetAtt'][0];
    const publishers = ['EvaluateAlerts', 'IngestInventory', 'ReconcileViews'];
    const others = [
      'RunBatch',
      'BatchFanOut',
      'IngestOrders',
      'IngestClicks',
      'CompactRealtime',
      'QuerySales',
    ];
    expect([...publishers, ...others].sort()).toEqual(Object.keys(FUNCTIONS).sort());
    for (const fn of publishers) expect(publisherRoles, fn).toContain(roleOf(fn));
    for (const fn of others) expect(publisherRoles, fn).not.toContain(roleOf(fn));

    // The functions that evaluate rules are told the topic; the others are not.
    const alertTopic = Match.objectLike({ 'Fn::ImportValue': Match.stringLikeRegexp('AlertsTopic') });
    for (const fn of ['EvaluateAlerts', 'IngestInventory']) {
      expect(functionResource(fn).Properties.Environment.Variables, fn).toHaveProperty('ALERT_TOPIC_ARN');
      dev.computeTemplate.hasResourceProperties('AWS::Lambda::Function', {
        Role: { 'Fn::GetAtt': [roleOf(fn), 'Arn'] },
        Environment: { Variables: { ALERT_TOPIC_ARN: alertTopic } },
      });
    }
    for (const fn of ['IngestOrders', 'IngestClicks', 'QuerySales', 'RunBatch', 'CompactRealtime']) {
      expect(functionResource(fn).Properties.Environment.Variables, fn).not.toHaveProperty('ALERT_TOPIC_ARN');
    }
  });
});

describe('schedules', () => {
  it.each([
    ['RunBatchDaily', 'cron(0 2 * * ? *)', 'RunBatchFunction'],
    ['CompactRealtimeSchedule', 'rate(1 minute)', 'CompactRealtimeFunction'],
    ['ReconcileViewsHourly', 'rate(1 hour)', 'ReconcileViewsFunction'],
    ['EvaluateAlertsSchedule', 'rate(1 minute)', 'EvaluateAlertsFunction'],
  ])('%s runs %s and retries delivery to its function', (rule, expression, fn) => {
    const ruleId = logicalId(dev.computeTemplate, 'AWS::Events::Rule', rule);
    const functionId = logicalId(dev.computeTemplate, 'AWS::Lambda::Function', fn);

    expect(dev.computeTemplate.toJSON().Resources[ruleId].Properties).toMatchObject({
      ScheduleExpression: expression,
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: expect.any(Number) },
        },
      ],
    });
    dev.computeTemplate.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
  });
});

describe('query API', () => {
  it('routes every GET to the query function with IAM auth by default', () => {
    const routeKeys = Object.values(dev.computeTemplate.findResources('AWS::ApiGatewayV2::Route')).map(
      (route) => route['Properties'].RouteKey,
    );
    // The API declares exactly the routes the handler serves, so neither can drift from the other.
    expect(routeKeys.sort()).toEqual(routes.map((route) => `${route.method} ${route.path}`).sort());
    expect(routeKeys).toContain('GET /ops/summary');
    dev.computeTemplate.allResourcesProperties('AWS::ApiGatewayV2::Route', { AuthorizationType: 'AWS_IAM' });
    dev.computeTemplate.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: {
        'Fn::GetAtt': [logicalId(dev.computeTemplate, 'AWS::Lambda::Function', 'QuerySalesFunction'), 'Arn'],
      },
    });
  });

  it('throttles and access-logs the default stage, with CORS from the config', () => {
    dev.computeTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    dev.computeTemplate.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.objectLike({
        AllowOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
        AllowMethods: ['GET', 'OPTIONS'],
      }),
    });
  });

  it('outputs the API URL', () => {
    const outputs = dev.computeTemplate.findOutputs('*', { Description: 'Twinflow query API base URL' });
    expect(Object.keys(outputs)).toHaveLength(1);
  });

  it('a stage configured with auth "none" has open routes', () => {
    const open = synthStage('dev', {
      api: { authMode: 'none', corsOrigins: [], throttling: { rateLimit: 1, burstLimit: 2 } },
    });

    open.computeTemplate.allResourcesProperties('AWS::ApiGatewayV2::Route', { AuthorizationType: 'NONE' });
    open.computeTemplate.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.absent(),
    });
  });
});

describe('alarms and dashboard', () => {
  const alertTopic = { 'Fn::ImportValue': Match.stringLikeRegexp('AlertsTopic') };

  it('alarm on a non-empty DLQ and an aging queue, for orders, clicks and inventory', () => {
    for (const queue of ['Orders', 'Clicks', 'Inventory']) {
      dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::ImportValue': Match.stringLikeRegexp(`${queue}DeadLetterQueue`) },
          },
        ],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [alertTopic],
      });
      dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::ImportValue': Match.stringLikeRegexp(`${queue}Queue`) } },
        ],
        Threshold: 300,
        AlarmActions: [alertTopic],
      });
    }
  });

  it('alarm on errors and throttles of every function', () => {
    for (const metric of ['Errors', 'Throttles']) {
      const alarms = dev.computeTemplate.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Namespace: 'AWS/Lambda', MetricName: metric, AlarmActions: [alertTopic] },
      });
      expect(Object.keys(alarms)).toHaveLength(9);
    }
  });

  it('alarm when no batch day is published by the deadline, treating missing data as breaching', () => {
    dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Twinflow',
      MetricName: 'batchDayPublished',
      Dimensions: [{ Name: 'service', Value: 'twinflow' }],
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      TreatMissingData: 'breaching',
      AlarmActions: [alertTopic],
    });
  });

  it('alarm on batch/realtime deviation above the threshold and on stale realtime data', () => {
    dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Twinflow',
      MetricName: 'deviationRatio',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0.1,
      AlarmActions: [alertTopic],
    });
    dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Twinflow',
      MetricName: 'realtimeFreshnessSeconds',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 120,
      AlarmActions: [alertTopic],
    });
  });

  it('has one dashboard with a generated name', () => {
    dev.computeTemplate.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    dev.computeTemplate.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: Match.absent(),
    });
  });
});
