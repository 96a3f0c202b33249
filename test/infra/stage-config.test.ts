import { describe, expect, it } from 'vitest';
import { checkStreamSources, STAGE_NAMES, stageConfig } from '../../lib/stage-config.ts';

describe('stage config', () => {
  it('dev has the documented stream, batch and reconcile defaults', () => {
    const config = stageConfig('dev');

    expect(config.stream).toMatchObject({
      batchSize: 10_000,
      maxBatchingWindowSeconds: 8,
      maxConcurrency: 5,
      maxReceiveCount: 3,
      allowedLatenessSeconds: 3600,
    });
    expect(config.batch).toMatchObject({ schedule: 'cron(0 2 * * ? *)', spikeFactor: 3 });
    expect(config.compaction.schedule).toBe('rate(1 minute)');
    expect(config.reconcile).toEqual({ schedule: 'rate(1 hour)', deviationThreshold: 0.1, lookbackDays: 3 });
  });

  it('uses IAM auth in every stage and keeps data only in prod', () => {
    for (const stage of STAGE_NAMES) expect(stageConfig(stage).api.authMode).toBe('iam');
    expect(stageConfig('prod').retainData).toBe(true);
    expect(stageConfig('dev').retainData).toBe(false);
  });

  it('rejects an unknown stage naming the valid ones', () => {
    expect(() => stageConfig('staging')).toThrow('Unknown stage "staging": expected one of dev, prod');
  });

  it('merges overrides into one section without losing its other fields', () => {
    const config = stageConfig('dev', { stream: { batchSize: 10 } });

    expect(config.stream.batchSize).toBe(10);
    expect(config.stream.maxReceiveCount).toBe(3);
  });

  it('rejects a batch size above 10 without a batching window, as SQS does', () => {
    expect(() => stageConfig('dev', { stream: { maxBatchingWindowSeconds: 0 } })).toThrow(
      'stream.maxBatchingWindowSeconds must be at least 1 when stream.batchSize is above 10 (SQS)',
    );
    expect(
      stageConfig('dev', { stream: { batchSize: 10, maxBatchingWindowSeconds: 0 } }).stream.batchSize,
    ).toBe(10);
  });

  it('rejects a visibility timeout under 6x the consumer timeout', () => {
    expect(() => stageConfig('dev', { stream: { queueVisibilityTimeoutSeconds: 300 } })).toThrow(
      'stream.queueVisibilityTimeoutSeconds must be at least 6x',
    );
  });

  it('rejects a deviation threshold given as a percentage', () => {
    expect(() => stageConfig('dev', { reconcile: { deviationThreshold: 10 } })).toThrow(
      'reconcile.deviationThreshold must be a fraction > 0 and ≤ 1 (0.1 = 10 %), got 10',
    );
  });

  it('takes an IANA reporting time zone (default UTC) and rejects anything else, naming the setting', () => {
    expect(stageConfig('dev').reporting.timeZone).toBe('UTC');
    expect(stageConfig('dev', { reporting: { timeZone: 'Asia/Taipei' } }).reporting.timeZone).toBe(
      'Asia/Taipei',
    );
    for (const timeZone of ['Mars/Olympus', '+08:00', 'GMT+8']) {
      expect(() => stageConfig('dev', { reporting: { timeZone } })).toThrow(/reporting\.timeZone/);
    }
  });

  it('rejects a currency outside ISO 4217 and a negative clock skew, naming the setting', () => {
    expect(() => stageConfig('dev', { validation: { currencies: ['USD', 'XYZ'] } })).toThrow(
      /validation\.currencies .*XYZ/,
    );
    expect(() => stageConfig('dev', { validation: { maxClockSkewSeconds: -5 } })).toThrow(
      /validation\.maxClockSkewSeconds/,
    );
    expect(stageConfig('dev', { validation: { currencies: ['USD', 'EUR'] } }).validation.currencies).toEqual([
      'USD',
      'EUR',
    ]);
  });

  describe('Kafka ingestion', () => {
    const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:twinflow/kafka-AbCdEf';
    const CLUSTER =
      'arn:aws:kafka:eu-west-1:123456789012:cluster/events/0a1b2c3d-4e5f-6789-abcd-ef0123456789-2';
    /** The prod stage with a self-managed cluster at b:9096 and these fields. */
    const selfManaged = (cluster: object) =>
      stageConfig('prod', {
        kafka: { cluster: { type: 'self-managed', bootstrapServers: ['b:9096'], ...cluster } },
      });

    it('defaults every stage to SQS, with the dev cluster on localhost:9092 read from TRIM_HORIZON', () => {
      for (const stage of STAGE_NAMES)
        expect(stageConfig(stage).stream).toMatchObject({ ingest: 'sqs', sources: {} });
      expect(stageConfig('dev').kafka).toMatchObject({
        cluster: { type: 'self-managed', bootstrapServers: ['localhost:9092'] },
        startingPosition: 'TRIM_HORIZON',
      });
    });

    it('rejects an ingest source other than sqs or kafka, naming the field', () => {
      expect(() => stageConfig('dev', { stream: { ingest: 'kinesis' as 'sqs' } })).toThrow(
        'stream.ingest must be "sqs" or "kafka", not "kinesis"',
      );
      expect(() => stageConfig('dev', { stream: { sources: { clicks: 'msk' as 'kafka' } } })).toThrow(
        'stream.sources.clicks must be "sqs" or "kafka", not "msk"',
      );
      expect(stageConfig('dev', { stream: { sources: { clicks: 'kafka' } } }).stream.sources).toEqual({
        clicks: 'kafka',
      });
    });

    it('rejects retryAttempts outside 0..10000 and a record age outside 60..604800 (or -1)', () => {
      for (const retryAttempts of [-1, 10_001, 1.5]) {
        expect(() => stageConfig('dev', { kafka: { retryAttempts } })).toThrow(
          'kafka.retryAttempts must be an integer in 0..10000',
        );
      }
      expect(stageConfig('dev', { kafka: { retryAttempts: 0 } }).kafka.retryAttempts).toBe(0);
      expect(() => stageConfig('dev', { kafka: { maxRecordAgeSeconds: 30 } })).toThrow(
        /kafka\.maxRecordAgeSeconds/,
      );
    });

    it('rejects pollers Lambda would refuse, naming the field', () => {
      expect(() => stageConfig('dev', { kafka: { minimumPollers: 0 } })).toThrow(/kafka\.minimumPollers/);
      expect(() => stageConfig('dev', { kafka: { minimumPollers: 201, maximumPollers: 300 } })).toThrow(
        /kafka\.minimumPollers .*1\.\.200/,
      );
      expect(() => stageConfig('dev', { kafka: { minimumPollers: 3, maximumPollers: 2 } })).toThrow(
        /kafka\.maximumPollers/,
      );
    });

    it('rejects empty or malformed bootstrap servers, naming the field', () => {
      expect(() =>
        stageConfig('dev', { kafka: { cluster: { type: 'self-managed', bootstrapServers: [] } } }),
      ).toThrow('kafka.cluster.bootstrapServers must name at least one host:port');
      expect(() =>
        stageConfig('dev', { kafka: { cluster: { type: 'self-managed', bootstrapServers: ['broker-1'] } } }),
      ).toThrow('kafka.cluster.bootstrapServers "broker-1" is not host:port');
    });

    it('needs a secret for an authentication method, and complete ARNs for the cluster and the secret', () => {
      expect(() => selfManaged({ authentication: 'BASIC_AUTH' })).toThrow(
        /kafka\.cluster\.secretArn must name the credentials of BASIC_AUTH/,
      );
      expect(() =>
        stageConfig('prod', {
          kafka: { cluster: { type: 'msk', clusterArn: 'arn:aws:kafka:eu-west-1:1:cluster' } },
        }),
      ).toThrow(/kafka\.cluster\.clusterArn/);
      // A partial secret ARN (no 6-character suffix) would need a wildcard grant.
      expect(() => selfManaged({ authentication: 'BASIC_AUTH', secretArn: SECRET.slice(0, -7) })).toThrow(
        /kafka\.cluster\.secretArn .*complete/,
      );
      expect(selfManaged({ authentication: 'BASIC_AUTH', secretArn: SECRET }).kafka.cluster).toMatchObject({
        authentication: 'BASIC_AUTH',
        secretArn: SECRET,
      });
    });

    it('refuses values CDK would drop or change silently, naming the field', () => {
      expect(() => stageConfig('dev', { kafka: { startingPosition: 'EARLIEST' as 'LATEST' } })).toThrow(
        'kafka.startingPosition must be "TRIM_HORIZON" or "LATEST", not "EARLIEST"',
      );
      expect(() => stageConfig('dev', { kafka: { maxRecordAgeSeconds: 60.5 } })).toThrow(
        'kafka.maxRecordAgeSeconds must be -1 or an integer in 60..604800',
      );
      expect(() => selfManaged({ authentication: 'PLAIN', secretArn: SECRET })).toThrow(
        'kafka.cluster.authentication must be one of SASL_SCRAM_512_AUTH, SASL_SCRAM_256_AUTH, BASIC_AUTH, not "PLAIN"',
      );
      // A secret without its method would silently become SCRAM-512.
      expect(() => selfManaged({ secretArn: SECRET })).toThrow(
        /kafka\.cluster\.authentication must say how the secret authenticates/,
      );
      expect(() =>
        selfManaged({ authentication: 'BASIC_AUTH', secretArn: SECRET, secretKmsKeyArn: 'key-1' }),
      ).toThrow(/kafka\.cluster\.secretKmsKeyArn "key-1" is not a KMS key ARN/);
    });

    it('lets only the dev stage read the unauthenticated local broker', () => {
      expect(stageConfig('dev', { stream: { ingest: 'kafka' } }).stream.ingest).toBe('kafka');
      expect(stageConfig('prod').kafka.cluster).toMatchObject({ bootstrapServers: ['localhost:9092'] });
      for (const stream of [{ ingest: 'kafka' as const }, { sources: { clicks: 'kafka' as const } }]) {
        expect(() => stageConfig('prod', { stream })).toThrow(
          /"prod": kafka\.cluster is the unauthenticated cluster localhost:9092 .*needs an MSK clusterArn, or authentication and secretArn/,
        );
      }
    });

    it('needs an MSK SCRAM secret named AmazonMSK_… and its customer managed key', () => {
      const MSK_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_twinflow-AbCdEf';
      const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
      const msk = (cluster: object) =>
        stageConfig('prod', { kafka: { cluster: { type: 'msk', clusterArn: CLUSTER, ...cluster } } });
      expect(() => msk({ secretArn: SECRET, secretKmsKeyArn: KEY })).toThrow(
        /kafka\.cluster\.secretArn must name a secret called AmazonMSK_/,
      );
      expect(() => msk({ secretArn: MSK_SECRET })).toThrow(
        /kafka\.cluster\.secretKmsKeyArn must name the customer managed KMS key/,
      );
      expect(() => msk({ secretKmsKeyArn: KEY })).toThrow(
        /kafka\.cluster\.secretKmsKeyArn needs kafka\.cluster\.secretArn/,
      );
      expect(msk({ secretArn: MSK_SECRET, secretKmsKeyArn: KEY }).kafka.cluster).toEqual({
        type: 'msk',
        clusterArn: CLUSTER,
        secretArn: MSK_SECRET,
        secretKmsKeyArn: KEY,
      });
      expect(msk({}).kafka.cluster).toEqual({ type: 'msk', clusterArn: CLUSTER });
    });

    it('checks stream.sources and the Kafka names against the streamed datasets', () => {
      const streamed = ['orders', 'clicks', 'inventory'];
      expect(() =>
        checkStreamSources(stageConfig('dev', { stream: { sources: { click: 'kafka' } } }), streamed),
      ).toThrow(
        'Invalid stage config "dev": stream.sources.click names no streamed dataset (streamed: orders, clicks, inventory)',
      );
      const long = stageConfig('dev', {
        stream: { ingest: 'kafka' },
        kafka: { consumerGroupPrefix: 'g'.repeat(195) },
      });
      expect(() => checkStreamSources(long, streamed)).toThrow(
        /kafka\.consumerGroupPrefix makes orders's consumer group 201 characters long \(Lambda allows 200\)/,
      );
      // On SQS the names are never used.
      expect(() =>
        checkStreamSources(stageConfig('dev', { kafka: { consumerGroupPrefix: 'g'.repeat(195) } }), streamed),
      ).not.toThrow();
      expect(() =>
        checkStreamSources(stageConfig('dev', { stream: { sources: { clicks: 'kafka' } } }), streamed),
      ).not.toThrow();
    });
  });
});
