import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, stageConfig } from '../../lib/stage-config.ts';

describe('stage config', () => {
  it('dev has the documented stream, batch and reconcile defaults', () => {
    const config = stageConfig('dev');

    expect(config.stream).toMatchObject({
      batchSize: 100,
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
});
