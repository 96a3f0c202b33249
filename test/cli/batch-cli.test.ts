import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();

describe('twinflow batch CLI', () => {
  it('generates a landing export and publishes it', async () => {
    const lake = tempDir();
    expect(
      (await twinflow('generate-landing', '--date', '2026-11-20', '--orders', '300', '--lake', lake)).code,
    ).toBe(0);
    const result = await twinflow('batch', '--date', '2026-11-20', '--lake', lake);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('2026-11-20: 300 orders');
    expect(existsSync(path.join(lake, 'views/batch/_published/orders.json'))).toBe(true);
  });

  it.each([
    [['batch', '--date', '2026-13-01'], /date is not a calendar date: "2026-13-01"/],
    [['batch', '--date', 'tomorrow'], /date must be a date YYYY-MM-DD, got "tomorrow"/],
    [
      ['batch', '--start-date', '2026-11-20', '--end-date', '2026-11-10'],
      /end-date 2026-11-10 is before start-date/,
    ],
    [['batch', '--start-date', '2026-11-20'], /needs both --start-date and --end-date/],
    [['batch'], /give --date D, or --start-date D1 --end-date D2/],
    [['batch', '--date', '2026-11-20', '--frobnicate'], /unknown option '--frobnicate'/],
    [
      ['batch', '--date', '2026-11-20', '--concurrency', 'lots'],
      /--concurrency must be a whole number 1\.\.16/,
    ],
    [['batch', '--date', '2026-11-20', '--lake', 'ftp://host/x'], /lake must be a directory or s3:\/\/ URL/],
    [['generate-landing', '--date', '2026-11-20', '--orders', '-5'], /--orders must be a whole number/],
  ])('rejects %j with a message naming the problem', async (args, message) => {
    const lake = tempDir();
    const result = await twinflow(...args, ...(args.includes('--lake') ? [] : ['--lake', lake]));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(existsSync(path.join(lake, 'views'))).toBe(false);
  });

  it('an unreadable lake fails with a message and publishes nothing', async () => {
    const dir = tempDir();
    const lake = path.join(dir, 'not-a-dir');
    writeFileSync(lake, 'a file where the lake should be');
    const result = await twinflow('batch', '--date', '2026-11-20', '--lake', lake);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lake unavailable: cannot read .*not-a-dir.*not a directory/);
    expect(result.stdout).not.toContain('published 1');
  });
});
