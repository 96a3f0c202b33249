import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StageConfigOverrides } from '../../lib/stage-config.ts';
import { buildStage, synthTemplate, type TemplateJson } from '../../lib/synth.ts';
import { datasetConstructId, streamedDatasets } from '../../lib/twinflow-functions.ts';

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:twinflow/kafka-AbCdEf';
/** MSK reads SCRAM credentials only from secrets named AmazonMSK_…, encrypted with a customer managed key. */
const MSK_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_twinflow-AbCdEf';
const MSK_SECRET_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CLUSTER = 'arn:aws:kafka:eu-west-1:123456789012:cluster/events/0a1b2c3d-4e5f-6789-abcd-ef0123456789-2';
const TOPIC_ARN = (topic: string) =>
  `arn:aws:kafka:eu-west-1:123456789012:topic/events/0a1b2c3d-4e5f-6789-abcd-ef0123456789-2/${topic}`;
const GROUP_ARN = (group: string) =>
  `arn:aws:kafka:eu-west-1:123456789012:group/events/0a1b2c3d-4e5f-6789-abcd-ef0123456789-2/${group}`;

const ALL_KAFKA: StageConfigOverrides = { stream: { ingest: 'kafka' } };
const MSK_SCRAM: StageConfigOverrides = {
  stream: { ingest: 'kafka' },
  kafka: {
    cluster: { type: 'msk', clusterArn: CLUSTER, secretArn: MSK_SECRET, secretKmsKeyArn: MSK_SECRET_KEY },
  },
};
const MSK_IAM: StageConfigOverrides = {
  stream: { ingest: 'kafka' },
  kafka: { cluster: { type: 'msk', clusterArn: CLUSTER } },
};
const SELF_MANAGED_SCRAM: StageConfigOverrides = {
  stream: { ingest: 'kafka' },
  kafka: {
    cluster: {
      type: 'self-managed',
      bootstrapServers: ['b-1.kafka.example.com:9096', 'b-2.kafka.example.com:9096'],
      authentication: 'SASL_SCRAM_256_AUTH',
      secretArn: SECRET,
    },
  },
};

type Resource = TemplateJson['Resources'][string];
type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

const STREAMED = streamedDatasets().map((dataset) => dataset.name);

function resourcesOf(template: TemplateJson, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function idStartingWith(template: TemplateJson, type: string, prefix: string): string {
  const ids = resourcesOf(template, type)
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ')}`);
  return ids[0]!;
}

const ingestFunctionId = (template: TemplateJson, dataset: string) =>
  idStartingWith(template, 'AWS::Lambda::Function', `Ingest${datasetConstructId(dataset)}Function`);
const deadLetterQueueId = (template: TemplateJson, dataset: string) =>
  idStartingWith(template, 'AWS::SQS::Queue', `${datasetConstructId(dataset)}DeadLetterQueue`);
const queueId = (template: TemplateJson, dataset: string) =>
  idStartingWith(template, 'AWS::SQS::Queue', `${datasetConstructId(dataset)}Queue`);

/** The event source mappings whose FunctionName is the dataset's ingest function. */
function mappingsOf(template: TemplateJson, dataset: string): Record<string, unknown>[] {
  const fnId = ingestFunctionId(template, dataset);
  return resourcesOf(template, 'AWS::Lambda::EventSourceMapping')
    .map(([, mapping]) => mapping.Properties ?? {})
    .filter((properties) => (properties['FunctionName'] as { Ref?: string }).Ref === fnId);
}

/** Every statement of the policies attached to the dataset's ingest function's role. */
function statementsOf(template: TemplateJson, dataset: string): Statement[] {
  const fn = template.Resources[ingestFunctionId(template, dataset)]!;
  const roleId = (fn.Properties!['Role'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([, policy]) => (policy.Properties!['Roles'] as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap(([, policy]) => (policy.Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement);
}

const actionsOf = (statement: Statement) => ([] as string[]).concat(statement.Action);
const resourcesOfStatement = (statement: Statement) => ([] as unknown[]).concat(statement.Resource);

function findings(overrides: StageConfigOverrides, stage = 'prod'): string[] {
  const { app } = buildStage(stage, overrides);
  app.synth();
  return new AwsSolutionsChecks()
    .validateScope(app)
    .violations.flatMap((violation) =>
      violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
    );
}

describe('stream.ingest = kafka (the dev stage: a self-managed cluster without authentication)', () => {
  let template: TemplateJson;
  beforeAll(() => {
    template = synthTemplate('dev', ALL_KAFKA);
  });

  it.each(STREAMED)(
    '%s reads its topic with its consumer group, error handling and provisioned pollers',
    (dataset) => {
      const mappings = mappingsOf(template, dataset);

      expect(mappings).toHaveLength(1);
      expect(mappings[0]).toEqual({
        FunctionName: { Ref: ingestFunctionId(template, dataset) },
        SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['localhost:9092'] } },
        Topics: [`twinflow.${dataset}`],
        SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: `twinflow-${dataset}` },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 10_000,
        MaximumBatchingWindowInSeconds: 8,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: 3,
        DestinationConfig: {
          OnFailure: { Destination: { 'Fn::GetAtt': [deadLetterQueueId(template, dataset), 'Arn'] } },
        },
        ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 5 },
      });
      // No SQS mapping remains: nothing reads the dataset's queue.
      expect(mappings[0]).not.toHaveProperty('EventSourceArn');
    },
  );

  it('keeps every queue and DLQ (pinned logical ids), and no mapping reads a queue', () => {
    const queues = resourcesOf(template, 'AWS::SQS::Queue').map(([id]) => id);
    for (const dataset of STREAMED) {
      expect(queues).toContain(queueId(template, dataset));
      expect(queues).toContain(deadLetterQueueId(template, dataset));
    }
    expect(queues).toContain('OrdersDeadLetterQueueA73944CE');
    expect(queues).toContain('OrdersQueueC538DD4C');
    const sources = resourcesOf(template, 'AWS::Lambda::EventSourceMapping').map(
      ([, mapping]) => mapping.Properties?.['EventSourceArn'],
    );
    expect(sources.filter((source) => source !== undefined)).toEqual([]);
    expect(sources).toHaveLength(STREAMED.length);
  });

  it.each(STREAMED)('%s may send only to its own DLQ, and reads no secret', (dataset) => {
    const statements = statementsOf(template, dataset);
    const sends = statements.filter((statement) => actionsOf(statement).includes('sqs:SendMessage'));

    expect(sends).toHaveLength(1);
    expect(resourcesOfStatement(sends[0]!)).toEqual([
      { 'Fn::GetAtt': [deadLetterQueueId(template, dataset), 'Arn'] },
    ]);
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    // The SQS consumer's grants are gone with its mapping.
    expect(actions).not.toContain('sqs:ReceiveMessage');
    expect(actions).not.toContain('sqs:DeleteMessage');
  });

  it('omits MaximumRecordAgeInSeconds at -1 and sets it otherwise; follows the stage values', () => {
    const tuned = synthTemplate('dev', {
      stream: { ingest: 'kafka', batchSize: 250, maxBatchingWindowSeconds: 2 },
      kafka: { maxRecordAgeSeconds: 3600, retryAttempts: 0, startingPosition: 'LATEST', minimumPollers: 2 },
    });

    expect(mappingsOf(template, 'clicks')[0]).not.toHaveProperty('MaximumRecordAgeInSeconds');
    expect(mappingsOf(tuned, 'clicks')[0]).toMatchObject({
      MaximumRecordAgeInSeconds: 3600,
      MaximumRetryAttempts: 0,
      StartingPosition: 'LATEST',
      BatchSize: 250,
      MaximumBatchingWindowInSeconds: 2,
      ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 5 },
    });
  });

  it('alarms on each ingest function’s OffsetLag and keeps the DLQ alarms', () => {
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties!);
    for (const dataset of STREAMED) {
      const fnId = ingestFunctionId(template, dataset);
      const lag = alarms.filter(
        (alarm) =>
          alarm['MetricName'] === 'OffsetLag' &&
          JSON.stringify(alarm['Dimensions']) ===
            JSON.stringify([{ Name: 'FunctionName', Value: { Ref: fnId } }]),
      );
      expect(lag, dataset).toHaveLength(1);
      expect(lag[0]).toMatchObject({ Namespace: 'AWS/Lambda', Statistic: 'Maximum', Threshold: 10_000 });
      const dlq = alarms.filter(
        (alarm) =>
          alarm['MetricName'] === 'ApproximateNumberOfMessagesVisible' &&
          JSON.stringify(alarm['Dimensions']).includes(deadLetterQueueId(template, dataset)),
      );
      expect(dlq, dataset).toHaveLength(1);
    }
    // The dashboard graphs each topic's lag where the queue graph was.
    const [[, dashboard]] = resourcesOf(template, 'AWS::CloudWatch::Dashboard') as [[string, Resource]];
    const body = JSON.stringify(dashboard.Properties!['DashboardBody']);
    for (const dataset of STREAMED) expect(body).toContain(`${dataset} topic twinflow.${dataset}`);
    expect(body).not.toContain('clicks queue');
    expect(synthTemplate('dev').Resources).not.toHaveProperty('MonitoringOrdersOffsetLag');
    expect(JSON.stringify(synthTemplate('dev'))).not.toContain('OffsetLag');
  });
});

describe('stream.sources: one dataset on Kafka', () => {
  it('switches only clicks; orders and inventory keep their SQS mappings', () => {
    const template = synthTemplate('dev', { stream: { sources: { clicks: 'kafka' } } });

    expect(mappingsOf(template, 'clicks')).toEqual([
      expect.objectContaining({ Topics: ['twinflow.clicks'], StartingPosition: 'TRIM_HORIZON' }),
    ]);
    for (const dataset of STREAMED.filter((name) => name !== 'clicks')) {
      expect(mappingsOf(template, dataset), dataset).toEqual([
        expect.objectContaining({
          EventSourceArn: { 'Fn::GetAtt': [queueId(template, dataset), 'Arn'] },
          ScalingConfig: { MaximumConcurrency: 5 },
        }),
      ]);
      expect(mappingsOf(template, dataset)[0]).not.toHaveProperty('Topics');
    }
  });

  it('lets a dataset stay on SQS when every other one is on Kafka', () => {
    const template = synthTemplate('dev', { stream: { ingest: 'kafka', sources: { orders: 'sqs' } } });

    expect(mappingsOf(template, 'orders')[0]).toHaveProperty('EventSourceArn');
    expect(mappingsOf(template, 'clicks')[0]).toHaveProperty('Topics', ['twinflow.clicks']);
  });
});

describe('Amazon MSK', () => {
  it('with SASL/SCRAM: a managed Kafka mapping on the cluster with the secret, grants scoped to them', () => {
    const template = synthTemplate('prod', MSK_SCRAM);
    const [mapping] = mappingsOf(template, 'orders');

    expect(mapping).toMatchObject({
      EventSourceArn: CLUSTER,
      Topics: ['twinflow.orders'],
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'twinflow-orders' },
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_512_AUTH', URI: MSK_SECRET }],
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [deadLetterQueueId(template, 'orders'), 'Arn'] } },
      },
      ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 5 },
    });
    expect(mapping).not.toHaveProperty('SelfManagedEventSource');

    const statements = statementsOf(template, 'orders');
    for (const statement of statements) {
      expect(resourcesOfStatement(statement), JSON.stringify(statement)).not.toContain('*');
    }
    const secretReads = statements.filter((statement) =>
      actionsOf(statement).includes('secretsmanager:GetSecretValue'),
    );
    expect(secretReads.map(resourcesOfStatement)).toEqual([[MSK_SECRET]]);
    // The secret's key decrypts it, and only through Secrets Manager.
    const decrypts = statements.filter((statement) => actionsOf(statement).includes('kms:Decrypt'));
    expect(decrypts.map(resourcesOfStatement)).toEqual([[MSK_SECRET_KEY]]);
    expect(JSON.stringify(decrypts[0])).toMatch(/kms:ViaService.*secretsmanager/);
    const kafka = statements.filter((statement) => actionsOf(statement).some((a) => a.startsWith('kafka:')));
    expect(kafka.flatMap(actionsOf)).toEqual(
      expect.arrayContaining([
        'kafka:DescribeCluster',
        'kafka:DescribeClusterV2',
        'kafka:GetBootstrapBrokers',
      ]),
    );
    for (const statement of kafka) expect(resourcesOfStatement(statement)).toEqual([CLUSTER]);
    // SCRAM authenticates the mapping: no IAM data-plane access to the cluster.
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('kafka-cluster:'))).toEqual([]);
  });

  it('with IAM authentication: kafka-cluster actions on the cluster, the one topic and the one group only', () => {
    const template = synthTemplate('prod', MSK_IAM);
    const [mapping] = mappingsOf(template, 'clicks');

    expect(mapping).toMatchObject({ EventSourceArn: CLUSTER, Topics: ['twinflow.clicks'] });
    expect(mapping).not.toHaveProperty('SourceAccessConfigurations');
    const statements = statementsOf(template, 'clicks');
    const byResource = new Map<string, string[]>();
    for (const statement of statements) {
      for (const action of actionsOf(statement).filter((a) => a.startsWith('kafka-cluster:'))) {
        for (const resource of resourcesOfStatement(statement)) {
          byResource.set(String(resource), [...(byResource.get(String(resource)) ?? []), action].sort());
        }
      }
    }
    expect(Object.fromEntries(byResource)).toEqual({
      [CLUSTER]: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
      [TOPIC_ARN('twinflow.clicks')]: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
      [GROUP_ARN('twinflow-clicks')]: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
    });
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
  });
});

describe('a self-managed cluster with SASL/SCRAM', () => {
  it('maps its bootstrap servers with the authentication method and the secret, and reads only that secret', () => {
    const template = synthTemplate('prod', SELF_MANAGED_SCRAM);
    const [mapping] = mappingsOf(template, 'inventory');

    expect(mapping).toMatchObject({
      SelfManagedEventSource: {
        Endpoints: { KafkaBootstrapServers: ['b-1.kafka.example.com:9096', 'b-2.kafka.example.com:9096'] },
      },
      SourceAccessConfigurations: [{ Type: 'SASL_SCRAM_256_AUTH', URI: SECRET }],
      SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'twinflow-inventory' },
      Topics: ['twinflow.inventory'],
    });
    const secretReads = statementsOf(template, 'inventory').filter((statement) =>
      actionsOf(statement).includes('secretsmanager:GetSecretValue'),
    );
    expect(secretReads.map(resourcesOfStatement)).toEqual([[SECRET]]);
  });
});

describe('cdk-nag AwsSolutions on the Kafka variants', () => {
  // An unauthenticated cluster is the local broker: only the dev stage may read it (the stage config refuses it
  // elsewhere).
  it.each([
    ['self-managed, no authentication (dev)', ALL_KAFKA, 'dev'],
    ['self-managed, SASL/SCRAM', SELF_MANAGED_SCRAM, 'prod'],
    ['MSK, SASL/SCRAM', MSK_SCRAM, 'prod'],
    ['MSK, IAM', MSK_IAM, 'prod'],
    [
      'one dataset on Kafka (dev)',
      { stream: { sources: { clicks: 'kafka' } } } as StageConfigOverrides,
      'dev',
    ],
  ])('%s has no unacknowledged findings', (_name, overrides, stage) => {
    expect(findings(overrides, stage)).toEqual([]);
  });

  it.each([
    ['self-managed', ALL_KAFKA, 'dev'],
    ['self-managed, SASL/SCRAM', SELF_MANAGED_SCRAM, 'prod'],
    ['MSK', MSK_SCRAM, 'prod'],
  ])(
    '%s passes the validation plugin and CloudFormation schema validation during synth',
    (_name, overrides, stage) => {
      const { app } = buildStage(stage, overrides, { cfnValidation: true });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

      expect(() => app.synth()).not.toThrow();
    },
  );
});
