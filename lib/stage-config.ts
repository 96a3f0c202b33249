import type { Setting, SettingGroup } from '../functions/settings/setting.ts';
import {
  acceptedCurrencies,
  allowedLatenessSeconds,
  compactionFoldEveryMinutes,
  compactionRollUpAboveEvents,
  deviationThreshold,
  fanOutBuckets,
  fanOutThresholdBytes,
  maxClockSkewSeconds,
  maxMalformedShare,
  reconcileLookbackDays,
  reportingTimeZone,
  SETTINGS,
  spikeFactor,
} from '../functions/settings/settings.ts';

/**
 * Everything that differs between deployments of Twinflow, as one typed value per stage.
 * `bin/twinflow.ts` picks the stage from CDK context and passes the config down as props; constructs never
 * look anything up themselves. The same values reach the functions as environment variables.
 *
 * The policies (thresholds, gates, windows) are settings of functions/settings/settings.ts: their defaults here,
 * their checks in `validate` and their environment variables (`settingsEnvironment`) all come from there.
 */

/** The deployable stages. */
export const STAGE_NAMES = ['dev', 'prod'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** Where a streamed dataset's events arrive. */
export type IngestSource = 'sqs' | 'kafka';

/**
 * An Amazon MSK cluster (IAM authentication, or SASL/SCRAM with `secretArn`), or a self-managed one reached at
 * its bootstrap servers (no authentication, or `authentication` with the credentials in Secrets Manager).
 */
export type KafkaCluster =
  | {
      readonly type: 'msk';
      readonly clusterArn: string;
      /** SASL/SCRAM: MSK names such secrets `AmazonMSK_…` and needs them encrypted with a customer managed key. */
      readonly secretArn?: string;
      /** The KMS key the secret is encrypted with: the function may decrypt with it (through Secrets Manager). */
      readonly secretKmsKeyArn?: string;
    }
  | {
      readonly type: 'self-managed';
      readonly bootstrapServers: readonly string[];
      /** How the credentials in `secretArn` authenticate; both or neither. */
      readonly authentication?: KafkaAuthentication;
      readonly secretArn?: string;
      /** Only when the secret is encrypted with a customer managed key. */
      readonly secretKmsKeyArn?: string;
    };

export const KAFKA_AUTHENTICATIONS = ['SASL_SCRAM_512_AUTH', 'SASL_SCRAM_256_AUTH', 'BASIC_AUTH'] as const;
export type KafkaAuthentication = (typeof KAFKA_AUTHENTICATIONS)[number];

/** Lambda's limit on a Kafka event source mapping's consumer group id. */
const MAX_CONSUMER_GROUP_ID = 200;
/** Kafka's limit on a topic name. */
const MAX_TOPIC_NAME = 249;

/** `iam`: callers sign requests with SigV4 (HttpIamAuthorizer). `none`: open API, for throwaway stages only. */
export type ApiAuthMode = 'iam' | 'none';

/** An EventBridge schedule expression, `cron(…)` or `rate(…)`, in UTC. */
export type ScheduleExpression = `cron(${string})` | `rate(${string})`;

export interface StageConfig {
  readonly stage: StageName;
  /** `POWERTOOLS_SERVICE_NAME`, and so the `service` dimension of every custom metric the alarms watch. */
  readonly serviceName: string;
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** Retention of function and access log groups, in days (must be a CloudWatch Logs retention value). */
  readonly logRetentionDays: number;
  /** `true`: stateful resources and logs survive stack deletion (RETAIN). `false`: DESTROY, and buckets auto-empty. */
  readonly retainData: boolean;
  readonly lake: {
    /** `LAKE_PREFIX`: every key the functions touch sits under it ('' = bucket root). */
    readonly prefix: string;
    readonly streamArchiveInfrequentAccessAfterDays: number;
    readonly streamArchiveGlacierAfterDays: number;
    readonly streamArchiveExpireAfterDays: number;
    readonly quarantineExpireAfterDays: number;
    /** Views are overwritten per run; old object versions are kept this long for recovery. */
    readonly noncurrentVersionExpireAfterDays: number;
  };
  readonly stream: {
    readonly batchSize: number;
    readonly maxBatchingWindowSeconds: number;
    readonly maxConcurrency: number;
    /** Receives before a message moves to the DLQ. */
    readonly maxReceiveCount: number;
    readonly allowedLatenessSeconds: number;
    readonly functionTimeoutSeconds: number;
    /** Must be at least 6x the function timeout (AWS guidance for SQS event sources). */
    readonly queueVisibilityTimeoutSeconds: number;
    readonly queueRetentionDays: number;
    readonly deadLetterRetentionDays: number;
    /** Alarm when the oldest queued order is older than this. */
    readonly oldestMessageAlarmSeconds: number;
    /**
     * Where every streamed dataset's events arrive: its SQS queue, or its Kafka topic (`kafka`). `sources` names
     * the exceptions per dataset. `twinflow start --ingest kafka` sets this to `kafka`.
     */
    readonly ingest: IngestSource;
    readonly sources: Readonly<Record<string, IngestSource>>;
  };
  /**
   * The Kafka cluster of the datasets that ingest from Kafka: each one reads topic `<topicPrefix><dataset>` with
   * consumer group `<consumerGroupPrefix><dataset>`, in batches of `stream.batchSize` within
   * `stream.maxBatchingWindowSeconds`. A batch that keeps failing goes to the dataset's DLQ (a record of which
   * offsets failed, to replay from the topic) after `retryAttempts` retries.
   */
  readonly kafka: {
    readonly cluster: KafkaCluster;
    readonly topicPrefix: string;
    readonly consumerGroupPrefix: string;
    /** Where a new consumer group starts: the oldest record kept (TRIM_HORIZON) or new records only (LATEST). */
    readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
    /** Retries of a failed batch before it goes to the DLQ (0..10000). */
    readonly retryAttempts: number;
    /** Records older than this go to the DLQ unprocessed (-1: any age; else 60..604800). */
    readonly maxRecordAgeSeconds: number;
    /** Provisioned pollers (Lambda needs provisioned mode for retries and an on-failure destination). */
    readonly minimumPollers: number;
    readonly maximumPollers: number;
    /** Alarm when a dataset's consumer group trails its topic by more than this many records (`OffsetLag`). */
    readonly offsetLagAlarmRecords: number;
  };
  /** What both layers accept (functions/pipeline/validation-policy.ts); the same values reach batch and stream. */
  readonly validation: {
    /** ISO 4217 codes accepted; [] = every ISO 4217 code. Others are quarantined with a reason. */
    readonly currencies: readonly string[];
    /** Event times more than this past the record's receive time are quarantined (they never move the watermark). */
    readonly maxClockSkewSeconds: number;
  };
  /** How days are reported (functions/pipeline/dates.ts); reaches every function as `REPORTING_TIME_ZONE`. */
  readonly reporting: {
    /**
     * IANA zone whose days the lake is partitioned and reported by: a landing folder `dt=D` holds day D of this
     * zone, daily rollups and day buckets follow it. Minute and hour buckets stay UTC. Fixed for a lake's life.
     */
    readonly timeZone: string;
  };
  readonly batch: {
    readonly schedule: ScheduleExpression;
    readonly spikeFactor: number;
    readonly maxMalformedShare: number;
    /**
     * Hours after the daily schedule by which a batch day must be published. The alarm fires when no
     * `batchDayPublished` datapoint arrived for 24 h + this slack.
     */
    readonly publishDeadlineHours: number;
    /** A day with at least this many bytes of exports runs on the fan-out state machine (else one function). */
    readonly fanOutThresholdBytes: number;
    /** Key buckets of a fanned-out day: its reduce workers. */
    readonly fanOutBuckets: number;
    /** Map and reduce workers of one fanned-out day at a time (the Distributed Map's MaxConcurrency). */
    readonly fanOutMaxConcurrency: number;
  };
  readonly compaction: {
    readonly schedule: ScheduleExpression;
    /** A day whose last fold counted this many events is folded every `foldEveryMinutes`, rolled up in between. */
    readonly rollUpAboveEvents: number;
    readonly foldEveryMinutes: number;
  };
  /** How often every declared alert rule is evaluated (ingest functions evaluate their balances per micro-batch). */
  readonly alerts: {
    readonly schedule: ScheduleExpression;
  };
  readonly reconcile: {
    readonly schedule: ScheduleExpression;
    /** Fraction: 0.1 alerts above a 10 % batch/realtime deviation. */
    readonly deviationThreshold: number;
    readonly lookbackDays: number;
  };
  readonly api: {
    readonly authMode: ApiAuthMode;
    readonly corsOrigins: readonly string[];
    readonly throttling: { readonly rateLimit: number; readonly burstLimit: number };
  };
  readonly alarms: {
    /** Alarm when realtime data is older than this (`realtimeFreshnessSeconds`). */
    readonly realtimeFreshnessSeconds: number;
  };
}

const dev: StageConfig = {
  stage: 'dev',
  serviceName: 'twinflow',
  logLevel: 'DEBUG',
  logRetentionDays: 14,
  retainData: false,
  lake: {
    prefix: '',
    streamArchiveInfrequentAccessAfterDays: 30,
    streamArchiveGlacierAfterDays: 90,
    streamArchiveExpireAfterDays: 180,
    quarantineExpireAfterDays: 90,
    noncurrentVersionExpireAfterDays: 7,
  },
  stream: {
    // Fewer, larger partials (issue 18, bench/speed-100x.ts): at a low rate the window closes a batch long before
    // it fills (latency unchanged); at a high rate a batch fills, so files per second follow the consumers, not the
    // events (8 consumers at their maximum: 24,300 events/s in batches of 10,000 against 560 in batches of 100).
    // Lambda also caps an SQS batch at its 6 MB invocation payload.
    batchSize: 10_000,
    // The user's spec: event → queryable < 10 s. The first event of a batch waits the whole window, so the
    // window leaves ~2 s for the handler (measured p99 10.5 s with a 10 s window; bench/e2e-latency.ts).
    maxBatchingWindowSeconds: 8,
    maxConcurrency: 5,
    maxReceiveCount: 3,
    allowedLatenessSeconds: allowedLatenessSeconds.default,
    functionTimeoutSeconds: 60,
    queueVisibilityTimeoutSeconds: 6 * 60,
    queueRetentionDays: 4,
    deadLetterRetentionDays: 14,
    oldestMessageAlarmSeconds: 300,
    ingest: 'sqs',
    sources: {},
  },
  // A self-managed cluster on this machine: the local runtime's broker (`twinflow start --ingest kafka`).
  kafka: {
    cluster: { type: 'self-managed', bootstrapServers: ['localhost:9092'] },
    topicPrefix: 'twinflow.',
    consumerGroupPrefix: 'twinflow-',
    startingPosition: 'TRIM_HORIZON',
    retryAttempts: 3,
    maxRecordAgeSeconds: -1,
    minimumPollers: 1,
    maximumPollers: 5,
    offsetLagAlarmRecords: 10_000,
  },
  validation: { currencies: acceptedCurrencies.default, maxClockSkewSeconds: maxClockSkewSeconds.default },
  reporting: { timeZone: reportingTimeZone.default },
  batch: {
    schedule: 'cron(0 2 * * ? *)',
    spikeFactor: spikeFactor.default,
    maxMalformedShare: maxMalformedShare.default,
    publishDeadlineHours: 2,
    fanOutThresholdBytes: fanOutThresholdBytes.default,
    fanOutBuckets: fanOutBuckets.default,
    fanOutMaxConcurrency: 40,
  },
  // Every minute: a realtime answer reads each hour's compacted file plus the partials written since the last
  // compaction (~8 at an 8 s window, instead of ~40 at 5 minutes), and over-counts from regrouped SQS
  // redeliveries last at most a minute. Only hours with new archives are recomputed.
  compaction: {
    schedule: 'rate(1 minute)',
    rollUpAboveEvents: compactionRollUpAboveEvents.default,
    foldEveryMinutes: compactionFoldEveryMinutes.default,
  },
  alerts: { schedule: 'rate(1 minute)' },
  reconcile: {
    schedule: 'rate(1 hour)',
    deviationThreshold: deviationThreshold.default,
    lookbackDays: reconcileLookbackDays.default,
  },
  api: {
    authMode: 'iam',
    corsOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
    throttling: { rateLimit: 20, burstLimit: 40 },
  },
  alarms: { realtimeFreshnessSeconds: 120 },
};

const prod: StageConfig = {
  ...dev,
  stage: 'prod',
  logLevel: 'INFO',
  logRetentionDays: 90,
  retainData: true,
  lake: {
    ...dev.lake,
    streamArchiveExpireAfterDays: 400,
    quarantineExpireAfterDays: 365,
    noncurrentVersionExpireAfterDays: 30,
  },
  api: {
    authMode: 'iam',
    corsOrigins: [],
    throttling: { rateLimit: 100, burstLimit: 200 },
  },
};

const configs: Record<StageName, StageConfig> = { dev, prod };

/** Recursively optional, for config overrides in tests and the local runtime. */
export type StageConfigOverrides = {
  readonly [K in keyof StageConfig]?: StageConfig[K] extends readonly unknown[]
    ? StageConfig[K]
    : StageConfig[K] extends object
      ? { readonly [P in keyof StageConfig[K]]?: StageConfig[K][P] }
      : StageConfig[K];
};

export function isStageName(name: string): name is StageName {
  return (STAGE_NAMES as readonly string[]).includes(name);
}

/**
 * The config of `stage`, with optional overrides merged one level deep, validated.
 * @throws Error naming the valid stages when `stage` is unknown, or the field when a value is invalid.
 */
export function stageConfig(stage: string, overrides: StageConfigOverrides = {}): StageConfig {
  if (!isStageName(stage)) {
    throw new Error(
      `Unknown stage "${stage}": expected one of ${STAGE_NAMES.join(', ')} (cdk -c stage=<name>)`,
    );
  }
  const base = configs[stage];
  const merged = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    const current = (base as unknown as Record<string, unknown>)[key];
    merged[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value) && typeof current === 'object'
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  const config = merged as unknown as StageConfig;
  validate(config);
  return config;
}

/** How a stage config refuses a value: one message shape, naming the stage and the field. */
function failFor(config: StageConfig): (field: string, why: string) => never {
  return (field, why) => {
    throw new Error(`Invalid stage config "${config.stage}": ${field} ${why}`);
  };
}

function validate(config: StageConfig): void {
  const fail = failFor(config);
  const { stream, api } = config;
  if (!Number.isInteger(stream.batchSize) || stream.batchSize < 1 || stream.batchSize > 10_000) {
    fail('stream.batchSize', 'must be an integer in 1..10000');
  }
  if (stream.maxBatchingWindowSeconds < 0 || stream.maxBatchingWindowSeconds > 300) {
    fail('stream.maxBatchingWindowSeconds', 'must be in 0..300');
  }
  if (stream.batchSize > 10 && stream.maxBatchingWindowSeconds < 1) {
    fail('stream.maxBatchingWindowSeconds', 'must be at least 1 when stream.batchSize is above 10 (SQS)');
  }
  if (stream.maxConcurrency < 2 || stream.maxConcurrency > 1000) {
    fail('stream.maxConcurrency', 'must be in 2..1000 (SQS event source scaling limits)');
  }
  if (stream.maxReceiveCount < 1) fail('stream.maxReceiveCount', 'must be at least 1');
  const { fanOutMaxConcurrency } = config.batch;
  if (!Number.isInteger(fanOutMaxConcurrency) || fanOutMaxConcurrency < 1 || fanOutMaxConcurrency > 10_000) {
    fail('batch.fanOutMaxConcurrency', 'must be an integer in 1..10000 (Distributed Map child executions)');
  }
  if (stream.queueVisibilityTimeoutSeconds < 6 * stream.functionTimeoutSeconds) {
    fail('stream.queueVisibilityTimeoutSeconds', 'must be at least 6x stream.functionTimeoutSeconds');
  }
  const sources: [string, string][] = [
    ['stream.ingest', stream.ingest],
    ...Object.entries(stream.sources).map(([d, v]): [string, string] => [`stream.sources.${d}`, v]),
  ];
  for (const [field, source] of sources) {
    if (source !== 'sqs' && source !== 'kafka') fail(field, `must be "sqs" or "kafka", not "${source}"`);
  }
  const { kafka } = config;
  if (kafka.startingPosition !== 'TRIM_HORIZON' && kafka.startingPosition !== 'LATEST') {
    fail('kafka.startingPosition', `must be "TRIM_HORIZON" or "LATEST", not "${kafka.startingPosition}"`);
  }
  if (!Number.isInteger(kafka.retryAttempts) || kafka.retryAttempts < 0 || kafka.retryAttempts > 10_000) {
    fail('kafka.retryAttempts', 'must be an integer in 0..10000');
  }
  if (
    !Number.isInteger(kafka.maxRecordAgeSeconds) ||
    (kafka.maxRecordAgeSeconds !== -1 &&
      (kafka.maxRecordAgeSeconds < 60 || kafka.maxRecordAgeSeconds > 604_800))
  ) {
    fail('kafka.maxRecordAgeSeconds', 'must be -1 or an integer in 60..604800');
  }
  if (!Number.isInteger(kafka.minimumPollers) || kafka.minimumPollers < 1 || kafka.minimumPollers > 200) {
    fail('kafka.minimumPollers', 'must be an integer in 1..200 (Lambda provisioned pollers)');
  }
  if (
    !Number.isInteger(kafka.maximumPollers) ||
    kafka.maximumPollers < kafka.minimumPollers ||
    kafka.maximumPollers > 2000
  ) {
    fail('kafka.maximumPollers', 'must be at least kafka.minimumPollers (>= 1) and at most 2000');
  }
  if (!Number.isInteger(kafka.offsetLagAlarmRecords) || kafka.offsetLagAlarmRecords < 1) {
    fail('kafka.offsetLagAlarmRecords', 'must be a positive integer');
  }
  const { cluster } = kafka;
  if (cluster.type === 'self-managed') {
    if (cluster.bootstrapServers.length === 0) {
      fail('kafka.cluster.bootstrapServers', 'must name at least one host:port');
    }
    for (const server of cluster.bootstrapServers) {
      if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(server)) {
        fail('kafka.cluster.bootstrapServers', `"${server}" is not host:port`);
      }
    }
    if (
      cluster.authentication !== undefined &&
      !(KAFKA_AUTHENTICATIONS as readonly string[]).includes(cluster.authentication)
    ) {
      fail(
        'kafka.cluster.authentication',
        `must be one of ${KAFKA_AUTHENTICATIONS.join(', ')}, not "${cluster.authentication}"`,
      );
    }
    if (cluster.authentication !== undefined && cluster.secretArn === undefined) {
      fail('kafka.cluster.secretArn', `must name the credentials of ${cluster.authentication}`);
    }
    if (cluster.secretArn !== undefined && cluster.authentication === undefined) {
      fail(
        'kafka.cluster.authentication',
        `must say how the secret authenticates (${KAFKA_AUTHENTICATIONS.join(', ')})`,
      );
    }
    // Only the local runtime can reach an unauthenticated cluster (CDK and Lambda need credentials or a VPC).
    if (config.stage !== 'dev' && cluster.secretArn === undefined && usesKafka(config)) {
      fail(
        'kafka.cluster',
        `is the unauthenticated cluster ${cluster.bootstrapServers.join(',')} (the local runtime's broker): a ` +
          `deployed stage that reads Kafka needs an MSK clusterArn, or authentication and secretArn`,
      );
    }
  } else if (cluster.type === 'msk') {
    if (!/^arn:[^:]+:kafka:[^:]+:\d{12}:cluster\/[^/]+\/[^/]+$/.test(cluster.clusterArn)) {
      fail(
        'kafka.cluster.clusterArn',
        `"${cluster.clusterArn}" is not an MSK cluster ARN (…:cluster/<name>/<uuid>)`,
      );
    }
    if (cluster.secretArn !== undefined) {
      if (!/:secret:AmazonMSK_[^:]+$/.test(cluster.secretArn)) {
        fail(
          'kafka.cluster.secretArn',
          'must name a secret called AmazonMSK_… (MSK reads only those for SCRAM)',
        );
      }
      if (cluster.secretKmsKeyArn === undefined) {
        fail(
          'kafka.cluster.secretKmsKeyArn',
          "must name the customer managed KMS key of the SCRAM secret (MSK refuses secrets under AWS's default key)",
        );
      }
    }
  } else {
    fail('kafka.cluster.type', 'must be "msk" or "self-managed"');
  }
  // A complete ARN (with Secrets Manager's 6-character suffix) lets the grant name the one secret, no wildcard.
  if (
    cluster.secretArn !== undefined &&
    !/^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/.test(cluster.secretArn)
  ) {
    fail('kafka.cluster.secretArn', `"${cluster.secretArn}" is not a complete Secrets Manager secret ARN`);
  }
  if (cluster.secretKmsKeyArn !== undefined) {
    if (cluster.secretArn === undefined)
      fail('kafka.cluster.secretKmsKeyArn', 'needs kafka.cluster.secretArn');
    if (!/^arn:[^:]+:kms:[^:]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(cluster.secretKmsKeyArn)) {
      fail('kafka.cluster.secretKmsKeyArn', `"${cluster.secretKmsKeyArn}" is not a KMS key ARN (…:key/<id>)`);
    }
  }
  if (!/^[A-Za-z0-9/*:_+=.@-]*$/.test(kafka.consumerGroupPrefix)) {
    fail('kafka.consumerGroupPrefix', 'may hold only A-Z a-z 0-9 - / * : _ + = . @');
  }
  if (!/^[A-Za-z0-9._-]*$/.test(kafka.topicPrefix))
    fail('kafka.topicPrefix', 'may hold only A-Z a-z 0-9 . _ -');
  for (const setting of SETTINGS) {
    if (setting.stage === undefined) continue;
    try {
      setting.check(stageSetting(config, setting), setting.stage);
    } catch (error) {
      throw new Error(`Invalid stage config "${config.stage}": ${(error as Error).message}`);
    }
  }
  if (api.throttling.burstLimit < api.throttling.rateLimit) {
    fail('api.throttling.burstLimit', 'must be at least the rate limit');
  }
  for (const [field, expression] of [
    ['batch.schedule', config.batch.schedule],
    ['compaction.schedule', config.compaction.schedule],
    ['alerts.schedule', config.alerts.schedule],
    ['reconcile.schedule', config.reconcile.schedule],
  ] as const) {
    if (!/^(cron|rate)\(.+\)$/.test(expression)) fail(field, `"${expression}" is not cron(…) or rate(…)`);
  }
}

/**
 * The stage's value of a setting, found by its `stage` path (`reconcile.deviationThreshold`).
 * @throws Error when the setting has no stage path or the config has no such field (a settings bug).
 */
export function stageSetting<T>(config: StageConfig, setting: Setting<T>): T {
  const [section, key, ...rest] = setting.stage?.split('.') ?? [];
  const holder = section === undefined ? undefined : (config as unknown as Record<string, unknown>)[section];
  if (
    key === undefined ||
    rest.length > 0 ||
    holder === null ||
    typeof holder !== 'object' ||
    !(key in holder)
  ) {
    throw new Error(`setting ${setting.env} names no stage config field (stage: ${setting.stage ?? 'none'})`);
  }
  return (holder as Record<string, T>)[key] as T;
}

/**
 * The environment variables a function's settings get from the stage: each setting the stage sets, rendered as
 * its env parser reads it. Settings without a stage path stay unset, so the function uses their default.
 */
export function settingsEnvironment(group: SettingGroup, config: StageConfig): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const setting of Object.values(group)) {
    if (setting.stage !== undefined) environment[setting.env] = setting.render(stageSetting(config, setting));
  }
  return environment;
}

/** Where a streamed dataset's events arrive in this stage: `stream.sources[dataset]`, else `stream.ingest`. */
export function ingestSourceOf(config: StageConfig, dataset: string): IngestSource {
  return config.stream.sources[dataset] ?? config.stream.ingest;
}

/** Whether any streamed dataset reads Kafka (`stream.ingest`, or an exception in `stream.sources`). */
function usesKafka(config: StageConfig): boolean {
  return config.stream.ingest === 'kafka' || Object.values(config.stream.sources).includes('kafka');
}

/**
 * Checks the stage's per-dataset stream settings against the streamed datasets (the app knows them, not the
 * stage): every `stream.sources` entry names one, and each Kafka dataset's topic and consumer group fit Kafka's
 * and Lambda's limits.
 * @throws Error naming the field.
 */
export function checkStreamSources(config: StageConfig, streamed: readonly string[]): void {
  const fail = failFor(config);
  for (const dataset of Object.keys(config.stream.sources)) {
    if (!streamed.includes(dataset)) {
      fail(`stream.sources.${dataset}`, `names no streamed dataset (streamed: ${streamed.join(', ')})`);
    }
  }
  for (const dataset of streamed.filter((d) => ingestSourceOf(config, d) === 'kafka')) {
    const group = kafkaConsumerGroupOf(config, dataset);
    if (group.length > MAX_CONSUMER_GROUP_ID) {
      fail(
        'kafka.consumerGroupPrefix',
        `makes ${dataset}'s consumer group ${group.length} characters long (Lambda allows ${MAX_CONSUMER_GROUP_ID})`,
      );
    }
    const topic = kafkaTopicOf(config, dataset);
    if (topic.length > MAX_TOPIC_NAME) {
      fail(
        'kafka.topicPrefix',
        `makes ${dataset}'s topic ${topic.length} characters long (Kafka allows ${MAX_TOPIC_NAME})`,
      );
    }
  }
}

/** The Kafka topic a dataset's events arrive on (`kafka.topicPrefix` + dataset). */
export function kafkaTopicOf(config: StageConfig, dataset: string): string {
  return `${config.kafka.topicPrefix}${dataset}`;
}

/** The consumer group a dataset's ingest function reads its topic with. */
export function kafkaConsumerGroupOf(config: StageConfig, dataset: string): string {
  return `${config.kafka.consumerGroupPrefix}${dataset}`;
}
