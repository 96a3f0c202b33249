import { describe, expect, it } from 'vitest';
import { stageConfig } from '../../lib/stage-config.ts';
import { synthTemplate } from '../../lib/synth.ts';
import { functionEnvironment, localAwsEnvironment } from '../../local/local-resources.ts';
import { parseOverrides } from '../../local/stage-overrides.ts';
import { type CfnTemplate, planFromTemplate } from '../../local/template-plan.ts';
import { handWrittenTemplate } from './fixtures/template.ts';

const endpoints = { s3: 'http://127.0.0.1:4569', sqs: 'http://127.0.0.1:9324' };

describe('planFromTemplate on a hand-written template', () => {
  it('reads queues with their redrive policy, the event source mapping, schedules and routes', () => {
    const plan = planFromTemplate(handWrittenTemplate({ batchSize: 7, window: 2, maxReceiveCount: 4 }));

    expect(plan.buckets).toEqual([{ logicalId: 'LakeBucketB1D32E10', name: 'lakebucketb1d32e10' }]);
    expect(plan.queues.find((q) => q.logicalId === 'OrdersQueueC538DD4C')).toMatchObject({
      visibilityTimeoutSeconds: 360,
      redrive: { deadLetterQueueId: 'OrdersDeadLetterQueueA73944CE', maxReceiveCount: 4 },
    });
    expect(plan.eventSources).toEqual([
      {
        logicalId: 'IngestOrdersFunctionSqsEventSourceOrders',
        functionId: 'IngestOrdersFunction234912EE',
        queueId: 'OrdersQueueC538DD4C',
        batchSize: 7,
        maxBatchingWindowSeconds: 2,
        reportBatchItemFailures: true,
        maxConcurrency: 5,
        enabled: true,
      },
    ]);
    expect(plan.schedules).toEqual([
      {
        logicalId: 'ReconcileHourlyRule',
        expression: 'rate(1 hour)',
        enabled: true,
        targets: [{ functionId: 'ReconcileFn', maxEventAgeSeconds: 3600, maxRetryAttempts: 4 }],
      },
    ]);
    expect(plan.routes).toEqual([
      {
        logicalId: 'RouteSales',
        routeKey: 'GET /sales',
        functionId: 'QuerySalesFunction943226D6',
        authorizationType: 'AWS_IAM',
        payloadFormatVersion: '2.0',
      },
    ]);
  });

  it('maps functions to handlers by entry metadata or logical id, and lists what it does not emulate', () => {
    const plan = planFromTemplate(handWrittenTemplate());

    expect(plan.functions.map((f) => [f.logicalId, f.entry])).toEqual([
      ['IngestOrdersFunction234912EE', 'functions/ingest-orders/handler.ts'],
      ['ReconcileFn', 'functions/reconcile-views/handler.ts'],
      ['QuerySalesFunction943226D6', 'functions/query-sales/handler.ts'],
    ]);
    expect(plan.notEmulated.map((n) => n.type).sort()).toEqual([
      'AWS::ApiGatewayV2::Integration',
      'AWS::CloudWatch::Alarm',
      'AWS::Lambda::Function',
    ]);
  });

  it('resolves Ref and GetAtt in a function environment to the local resources', () => {
    const plan = planFromTemplate(handWrittenTemplate());
    const reconcile = plan.functions.find((f) => f.name === 'reconcile-views')!;
    const ingest = plan.functions.find((f) => f.name === 'ingest-orders')!;

    const env = functionEnvironment(plan, reconcile, endpoints);
    const ingestEnv = functionEnvironment(plan, ingest, endpoints);

    expect(env).toMatchObject({
      // No local SNS: alerts go to the functions' lake sink.
      ALERT_TOPIC_ARN: '',
      ORDERS_DLQ_URL: 'http://127.0.0.1:9324/123456789012/OrdersDeadLetterQueueA73944CE',
      DLQ_ARN: 'arn:aws:sqs:us-east-1:123456789012:OrdersDeadLetterQueueA73944CE',
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    });
    expect(ingestEnv).toMatchObject({ LAKE_BUCKET: 'lakebucketb1d32e10', ALLOWED_LATENESS_SECONDS: '3600' });
    expect(ingestEnv).not.toHaveProperty('NODE_OPTIONS');
  });

  it('points every AWS client at the local servers, naming the region the way each reads it', () => {
    // endpoints.env and every function get this; boto3 and AWS CLI v1 read only AWS_DEFAULT_REGION.
    const plan = planFromTemplate(handWrittenTemplate());
    const env = localAwsEnvironment(endpoints);
    const ingest = functionEnvironment(
      plan,
      plan.functions.find((f) => f.name === 'ingest-orders')!,
      endpoints,
    );

    expect(env).toEqual({
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    });
    expect(ingest).toMatchObject(env);
  });

  it('refuses a redrive policy naming a queue the template does not define', () => {
    const template = handWrittenTemplate();
    delete (template.Resources as Record<string, unknown>)['OrdersDeadLetterQueueA73944CE'];

    expect(() => planFromTemplate(template)).toThrow(
      /dead-letter queue OrdersDeadLetterQueueA73944CE not found/,
    );
  });
});

describe('planFromTemplate on the synthesized CDK app', () => {
  it('follows the stage config: batch size, batching window, maxReceiveCount and schedules', () => {
    const dev = planFromTemplate(synthTemplate('dev') as CfnTemplate);
    const changed = planFromTemplate(
      synthTemplate(
        'dev',
        parseOverrides([
          'stream.batchSize=7',
          'stream.maxBatchingWindowSeconds=1',
          'stream.maxReceiveCount=5',
          'compaction.schedule=rate(2 minutes)',
          'alerts.schedule=rate(5 minutes)',
        ]),
      ) as CfnTemplate,
    );

    expect(dev.functions.map((f) => f.name).sort()).toEqual([
      'batch-fan-out',
      'compact-realtime',
      'evaluate-alerts',
      'ingest-clicks',
      'ingest-inventory',
      'ingest-orders',
      'query-sales',
      'reconcile-views',
      'run-batch',
    ]);
    // Every stream (orders, clicks, inventory) follows the stage's stream config.
    expect(dev.eventSources).toHaveLength(3);
    for (const source of dev.eventSources) {
      expect(source).toMatchObject({ batchSize: 10_000, maxBatchingWindowSeconds: 8, maxConcurrency: 5 });
    }
    for (const source of changed.eventSources) {
      expect(source).toMatchObject({ batchSize: 7, maxBatchingWindowSeconds: 1 });
    }
    const redriven = changed.queues.filter((q) => q.redrive);
    expect(redriven.map((q) => q.redrive?.maxReceiveCount)).toEqual([5, 5, 5]);
    expect(dev.routes.map((r) => r.routeKey)).toEqual(
      expect.arrayContaining(['GET /metrics/funnel_minute', 'GET /metrics/sessions_minute/top']),
    );
    const compaction = (p: typeof dev) =>
      p.schedules.find((s) =>
        s.targets.some(
          (t) => p.functions.find((f) => f.logicalId === t.functionId)?.name === 'compact-realtime',
        ),
      )?.expression;
    expect(compaction(dev)).toBe('rate(1 minute)');
    expect(compaction(changed)).toBe('rate(2 minutes)');
    // The alert rules' evaluation follows its own stage setting.
    const alerts = (p: typeof dev) =>
      p.schedules.find((s) =>
        s.targets.some(
          (t) => p.functions.find((f) => f.logicalId === t.functionId)?.name === 'evaluate-alerts',
        ),
      )?.expression;
    expect(alerts(dev)).toBe('rate(1 minute)');
    expect(alerts(changed)).toBe('rate(5 minutes)');
    expect(dev.routes.map((r) => r.routeKey)).toContain('GET /sales');
    // The local HTTP API answers CORS from the API's CorsConfiguration (the dev stage's origins).
    expect(dev.cors).toEqual({
      allowOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
      allowMethods: ['GET', 'OPTIONS'],
      allowHeaders: ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token'],
      exposeHeaders: [],
      allowCredentials: false,
      maxAgeSeconds: 3600,
    });
  }, 120_000);
});

describe('planFromTemplate on the synthesized CDK app ingesting from Kafka', () => {
  // The SQS plan names each streamed dataset's ingest function, queue and DLQ: Kafka must keep the same DLQ.
  const sqsPlan = planFromTemplate(synthTemplate('dev') as CfnTemplate);
  const datasetOf = (plan: typeof sqsPlan, functionId: string) =>
    plan.functions.find((f) => f.logicalId === functionId)?.dataset;
  const dlqOf = new Map(
    sqsPlan.eventSources.map((e) => [
      datasetOf(sqsPlan, e.functionId),
      sqsPlan.queues.find((q) => q.logicalId === e.queueId)?.redrive?.deadLetterQueueId,
    ]),
  );
  const streamed = [...dlqOf.keys()].sort();

  it('--ingest kafka: one Kafka mapping per streamed dataset, on its topic and group, failing to its DLQ, no SQS mapping', () => {
    const overrides = { stream: { ingest: 'kafka' as const } };
    const config = stageConfig('dev', overrides);
    const plan = planFromTemplate(synthTemplate('dev', overrides) as CfnTemplate);

    expect(streamed).toEqual(['clicks', 'inventory', 'orders']);
    expect(plan.eventSources).toEqual([]);
    expect(plan.kafkaEventSources.map((k) => datasetOf(plan, k.functionId)).sort()).toEqual(streamed);
    for (const mapping of plan.kafkaEventSources) {
      const dataset = datasetOf(plan, mapping.functionId) ?? '';
      expect(mapping).toMatchObject({
        topic: `twinflow.${dataset}`,
        consumerGroupId: `twinflow-${dataset}`,
        // Locally the runtime's own broker stands for the cluster the stage names.
        cluster: {
          bootstrapServers:
            config.kafka.cluster.type === 'self-managed' ? [...config.kafka.cluster.bootstrapServers] : [],
        },
        startingPosition: 'TRIM_HORIZON',
        batchSize: config.stream.batchSize,
        maxBatchingWindowSeconds: config.stream.maxBatchingWindowSeconds,
        reportBatchItemFailures: true,
        retryAttempts: config.kafka.retryAttempts,
        maxRecordAgeSeconds: config.kafka.maxRecordAgeSeconds,
        maxConcurrency: config.kafka.maximumPollers,
        enabled: true,
      });
      expect(mapping.onFailureQueueId).toBe(dlqOf.get(dataset));
      expect(plan.queues.map((q) => q.logicalId)).toContain(mapping.onFailureQueueId);
    }
  }, 60_000);

  it('the mappings follow the stage config: batch size, window, retries, record age and pollers', () => {
    const overrides = parseOverrides([
      'stream.ingest=kafka',
      'stream.batchSize=7',
      'stream.maxBatchingWindowSeconds=2',
      'kafka.retryAttempts=5',
      'kafka.maxRecordAgeSeconds=600',
      'kafka.maximumPollers=3',
    ]);
    const plan = planFromTemplate(synthTemplate('dev', overrides) as CfnTemplate);

    expect(plan.kafkaEventSources).toHaveLength(streamed.length);
    for (const mapping of plan.kafkaEventSources) {
      expect(mapping).toMatchObject({
        batchSize: 7,
        maxBatchingWindowSeconds: 2,
        retryAttempts: 5,
        maxRecordAgeSeconds: 600,
        maxConcurrency: 3,
      });
    }
  }, 60_000);

  it('stream.sources.clicks=kafka switches only clicks', () => {
    const plan = planFromTemplate(
      synthTemplate('dev', { stream: { sources: { clicks: 'kafka' } } }) as CfnTemplate,
    );

    expect(
      plan.kafkaEventSources.map((k) => [datasetOf(plan, k.functionId), k.topic, k.consumerGroupId]),
    ).toEqual([['clicks', 'twinflow.clicks', 'twinflow-clicks']]);
    expect(plan.kafkaEventSources[0]?.onFailureQueueId).toBe(dlqOf.get('clicks'));
    expect(plan.eventSources.map((e) => datasetOf(plan, e.functionId)).sort()).toEqual([
      'inventory',
      'orders',
    ]);
    // The SQS datasets keep their queues exactly as without Kafka.
    for (const source of plan.eventSources) {
      expect(source).toEqual(sqsPlan.eventSources.find((e) => e.functionId === source.functionId));
    }
  }, 60_000);
});
