import { describe, expect, it } from 'vitest';
import {
  allowedLatenessSeconds,
  batchConcurrency,
  compactionGraceSeconds,
  deviationThreshold,
  maxMalformedShare,
  reconcileLookbackDays,
  spikeFactor,
} from '../../functions/settings/settings.ts';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();

const COMMAND_SETTINGS = [
  ['reconcile', [deviationThreshold, reconcileLookbackDays]],
  ['batch', [batchConcurrency, spikeFactor, maxMalformedShare]],
  ['compact', [compactionGraceSeconds]],
  ['replay', [allowedLatenessSeconds]],
] as const;

describe('CLI flags come from the settings', () => {
  it.each(COMMAND_SETTINGS)(
    'twinflow %s --help shows each setting flag with its help and default',
    async (command, settings) => {
      const help = await twinflow(command, '--help');

      const text = help.stdout.replace(/\s+/g, ' ');
      for (const setting of settings) {
        expect(text).toContain(`${setting.flag} ${setting.description} (default: ${setting.default})`);
      }
    },
  );

  it('refuses what the function and the stage refuse, naming the flag (exit 2)', async () => {
    const lake = tempDir();
    const [threshold, spike] = await Promise.all([
      twinflow('reconcile', '--threshold', '5', '--lake', lake),
      twinflow('batch', '--date', '2026-11-20', '--spike-factor', '1', '--lake', lake),
    ]);

    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toContain(`--threshold must be ${deviationThreshold.rule}, got "5"`);
    expect(spike.code).toBe(2);
    expect(spike.stderr).toContain(`--spike-factor must be ${spikeFactor.rule}, got "1"`);
  });
});
