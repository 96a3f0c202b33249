import { describe, expect, it } from 'vitest';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();

describe('--tz on the data commands', () => {
  it('a Taipei day goes from export to a day bucket at Taipei midnight; another zone answers the same total', async () => {
    const lake = tempDir();
    const tz = ['--lake', lake, '--tz', 'Asia/Taipei'];
    const generated = await twinflow('generate-landing', '--date', '2026-11-20', '--orders', '300', ...tz);
    expect(generated.code, generated.stderr).toBe(0);
    const batch = await twinflow('batch', '--date', '2026-11-20', '--json', ...tz);
    expect(batch.code, batch.stderr).toBe(0);
    expect(JSON.parse(batch.stdout).outcomes[0].report.counts).toMatchObject({ orders: 300, quarantined: 0 });

    const taipei = JSON.parse(
      (await twinflow('query', '--start', '2026-11-20', '--granularity', 'day', '--json', ...tz)).stdout,
    );
    expect(taipei.rows.map((r: { window_start: string }) => r.window_start)).toEqual([
      '2026-11-19T16:00:00Z',
    ]);
    expect(taipei.totals.orders).toBe(300);
    expect(taipei.query.tz).toBe('Asia/Taipei');
    const utc = JSON.parse(
      (
        await twinflow(
          'query',
          '--start',
          '2026-11-19T16:00:00Z',
          '--end',
          '2026-11-20T16:00:00Z',
          '--granularity',
          'day',
          '--json',
          '--lake',
          lake,
          '--tz',
          'UTC',
        )
      ).stdout,
    );
    expect(utc.rows.map((r: { window_start: string }) => r.window_start)).toEqual([
      '2026-11-19T00:00:00Z',
      '2026-11-20T00:00:00Z',
    ]);
    expect(utc.totals).toEqual(taipei.totals);

    // The lake's days are Taipei days: a UTC batch run into it is refused and names both zones.
    const mixed = await twinflow('batch', '--date', '2026-11-21', '--lake', lake, '--tz', 'UTC');
    expect(mixed.code).not.toBe(0);
    expect(mixed.stderr + mixed.stdout).toMatch(/days in Asia\/Taipei, not UTC/);
  });

  it('refuses a zone that is not an IANA name, naming --tz (exit 2)', async () => {
    for (const command of [
      ['query', '--start', '2026-11-20'],
      ['batch', '--date', '2026-11-20'],
      ['reconcile'],
    ]) {
      const result = await twinflow(...command, '--lake', tempDir(), '--tz', 'Mars/Olympus');
      expect(result.code, command.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/tz: unknown time zone "Mars\/Olympus"/);
    }
  });
});
