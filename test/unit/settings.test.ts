import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { settingOption } from '../../cli/cli-env.ts';
import { gateThresholds } from '../../functions/batch/quality-gates.ts';
import { validationPolicy } from '../../functions/pipeline/validation-policy.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import { parseBatchRequest } from '../../functions/run-batch/batch-request.ts';
import { type Setting, settingsFromEnv } from '../../functions/settings/setting.ts';
import {
  acceptedCurrencies,
  allowedLatenessSeconds,
  batchConcurrency,
  compactionFoldEveryMinutes,
  compactionGraceSeconds,
  compactionLookbackDays,
  compactionRollUpAboveEvents,
  deviationThreshold,
  maxClockSkewSeconds,
  maxMalformedShare,
  reconcileLookbackDays,
  reportingTimeZone,
  SETTINGS,
  spikeFactor,
} from '../../functions/settings/settings.ts';
import {
  compactionDays,
  DEFAULT_COMPACTION_GRACE_MS,
  DEFAULT_FOLD_EVERY_MS,
  DEFAULT_ROLL_UP_ABOVE_EVENTS,
} from '../../functions/stream/compaction.ts';
import { DEFAULT_ALLOWED_LATENESS_SECONDS } from '../../functions/stream/watermark.ts';
import { STAGE_NAMES, type StageConfigOverrides, stageConfig, stageSetting } from '../../lib/stage-config.ts';

/** Values every number setting is tried with: in and out of each range, fractions, whole numbers, edges. */
const NUMBERS = [-1, 0, 0.05, 0.5, 1, 1.5, 2, 3, 10, 16, 17, 31, 32, 300, 3600, 2.5, -0.5];
const CANDIDATES = new Map<Setting<unknown>, unknown[]>([
  [acceptedCurrencies, [[], ['USD'], ['USD', 'EUR'], ['XYZ'], ['USD', 'XYZ']]],
  [reportingTimeZone, ['UTC', 'Asia/Taipei', 'Mars/Olympus', '+08:00', 'GMT+8']],
]);
const candidatesOf = (setting: Setting<unknown>) => CANDIDATES.get(setting) ?? NUMBERS;

type Outcome = { ok: true; value: unknown } | { ok: false; message: string };

function outcome(read: () => unknown): Outcome {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

/** The refusal without who is refusing and without the echoed value (a text is quoted, a stage value is not). */
function wording(result: Outcome, subject: string): string | undefined {
  if (result.ok) return undefined;
  return result.message
    .replace(/^Invalid stage config "\w+": /, '')
    .replace(subject, '<setting>')
    .replace(/, got .*$/, '');
}

function fromEnv(setting: Setting<unknown>, text: string): Outcome {
  return outcome(() => settingsFromEnv({ value: setting }, { [setting.env]: text }).value);
}

function fromFlag(setting: Setting<unknown>, text: string): Outcome {
  const flag = setting.flag?.split(' ')[0] ?? '';
  const program = new Command().exitOverride().addOption(settingOption(setting));
  return outcome(() => {
    program.parse([flag, text], { from: 'user' });
    return Object.values(program.opts())[0];
  });
}

function fromStage(setting: Setting<unknown>, value: unknown): Outcome {
  const [section, key] = (setting.stage ?? '').split('.') as [string, string];
  const overrides = { [section]: { [key]: value } } as StageConfigOverrides;
  return outcome(() => stageSetting(stageConfig('dev', overrides), setting));
}

describe('settings: one definition, the same answer in every layer', () => {
  it.each(SETTINGS.map((setting) => [setting.env, setting] as const))(
    '%s: env, CLI flag, stage config and core accept and refuse the same values, in the same words',
    (_, setting) => {
      for (const value of candidatesOf(setting)) {
        // Prepare
        const text = setting.render(value);
        // Act
        const env = fromEnv(setting, text);
        const core = outcome(() => setting.check(value));
        const flag = setting.flag ? fromFlag(setting, text) : undefined;
        const stage = setting.stage ? fromStage(setting, value) : undefined;
        // Assess
        const label = `${setting.env}=${text}`;
        expect(env.ok, label).toBe(core.ok);
        if (env.ok) expect(env.value, label).toEqual(value);
        const expected = wording(env, setting.env);
        expect(wording(core, setting.name), label).toBe(expected);
        if (flag) {
          expect(flag.ok, `${setting.flag} ${text}`).toBe(env.ok);
          expect(wording(flag, setting.flag?.split(' ')[0] ?? ''), `${setting.flag} ${text}`).toBe(expected);
        }
        if (stage) {
          expect(stage.ok, `${setting.stage}: ${text}`).toBe(env.ok);
          expect(wording(stage, setting.stage ?? ''), `${setting.stage}: ${text}`).toBe(expected);
        }
      }
    },
  );

  it('a refusal names the setting as each reader wrote it, with the one rule', () => {
    expect(fromEnv(deviationThreshold, '10')).toEqual({
      ok: false,
      message: 'DEVIATION_THRESHOLD must be a fraction > 0 and ≤ 1 (0.1 = 10 %), got "10"',
    });
    expect(fromFlag(deviationThreshold, '10')).toEqual({
      ok: false,
      message: '--threshold must be a fraction > 0 and ≤ 1 (0.1 = 10 %), got "10"',
    });
    expect(fromStage(deviationThreshold, 10)).toEqual({
      ok: false,
      message:
        'Invalid stage config "dev": reconcile.deviationThreshold must be a fraction > 0 and ≤ 1 (0.1 = 10 %), got 10',
    });
    expect(fromEnv(reconcileLookbackDays, '2.5')).toMatchObject({
      message: 'LOOKBACK_DAYS must be a whole number 0..31, got "2.5"',
    });
    expect(fromEnv(batchConcurrency, 'lots')).toMatchObject({
      message: 'BATCH_CONCURRENCY must be a whole number 1..16, got "lots"',
    });
  });

  it('the core refuses with the same rule: reconciliation, gates, validation policy, the batch event', async () => {
    // Refused before anything is read: the deps are never touched.
    const deps = {} as Parameters<typeof reconcile>[1];
    await expect(reconcile({ now: new Date(), threshold: 5 }, deps)).rejects.toThrow(
      `threshold must be ${deviationThreshold.rule}, got 5`,
    );
    await expect(reconcile({ now: new Date(), lookbackDays: 40 }, deps)).rejects.toThrow(
      `lookback days must be ${reconcileLookbackDays.rule}, got 40`,
    );
    expect(() => gateThresholds({ spikeFactor: 1 })).toThrow(`spikeFactor must be ${spikeFactor.rule}`);
    expect(() => gateThresholds({ maxMalformedShare: 1.5 })).toThrow(
      `maxMalformedShare must be ${maxMalformedShare.rule}`,
    );
    expect(() => validationPolicy({ maxClockSkewSeconds: -1 })).toThrow(
      `maxClockSkewSeconds must be ${maxClockSkewSeconds.rule}`,
    );
    expect(() =>
      parseBatchRequest({ startDate: '2026-11-18', endDate: '2026-11-20', concurrency: 17 }),
    ).toThrow(`concurrency: must be ${batchConcurrency.rule}`);
    expect(
      parseBatchRequest({ startDate: '2026-11-18', endDate: '2026-11-20', concurrency: 16 }),
    ).toMatchObject({
      concurrency: 16,
    });
  });

  it('an unset or blank variable is the default; every default is in its own range', () => {
    for (const setting of SETTINGS) {
      expect(settingsFromEnv({ value: setting }, {}).value, setting.env).toEqual(setting.default);
      expect(settingsFromEnv({ value: setting }, { [setting.env]: '  ' }).value, setting.env).toEqual(
        setting.default,
      );
      expect(setting.check(setting.default), setting.env).toEqual(setting.default);
    }
  });

  it('every stage starts from the settings defaults, at the path each setting names', () => {
    for (const stage of STAGE_NAMES) {
      for (const setting of SETTINGS.filter((s) => s.stage !== undefined)) {
        expect(stageSetting(stageConfig(stage), setting), `${stage} ${setting.stage}`).toEqual(
          setting.default,
        );
      }
    }
  });

  it('names every env variable, stage path and flag once', () => {
    for (const names of [
      SETTINGS.map((s) => s.env),
      SETTINGS.flatMap((s) => s.stage ?? []),
      SETTINGS.flatMap((s) => s.flag?.split(' ')[0] ?? []),
    ]) {
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('agrees with the stream core defaults it cannot own (functions/stream is another room)', () => {
    expect(compactionGraceSeconds.default * 1000).toBe(DEFAULT_COMPACTION_GRACE_MS);
    expect(compactionRollUpAboveEvents.default).toBe(DEFAULT_ROLL_UP_ABOVE_EVENTS);
    expect(compactionFoldEveryMinutes.default * 60_000).toBe(DEFAULT_FOLD_EVERY_MS);
    expect(allowedLatenessSeconds.default).toBe(DEFAULT_ALLOWED_LATENESS_SECONDS);
    const now = new Date('2026-11-21T10:00:00Z');
    expect(compactionDays(now, compactionLookbackDays.default)).toEqual(compactionDays(now));
  });

  it('the README table lists every setting as the schema defines it', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const setting of SETTINGS) {
      const value = setting.default;
      const shownDefault = Array.isArray(value) ? value.join(',') || '(every code)' : String(value);
      const code = (text: string | undefined) => (text ? `\`${text}\`` : '—');
      expect(readme).toContain(
        `| ${code(setting.env)} | ${code(setting.stage)} | ${code(setting.flag?.split(' ')[0])} | ${shownDefault} | ${setting.rule} |`,
      );
    }
  });
});
