import { describe, expect, it } from 'vitest';
import { twinflow } from '../support/cli.ts';
import { readmeLakeCommands } from '../support/readme.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * The README's "Clicks walkthrough", steps 1–3, run as written (the lake directory swapped for a temporary one),
 * in order: every command succeeds and says what the README says it does.
 */

const DEMO_LAKE = '.twinflow/clicks-demo';
const tempDir = useTempDirs();

describe('README clicks walkthrough', () => {
  it('steps 1–3 run as written: batch, the same day through the stream and reconciled at 0.00 %, then the hand-made sessions', async () => {
    // Prepare
    const lake = tempDir();
    const commands = readmeLakeCommands('### Clicks walkthrough', DEMO_LAKE, lake);
    expect(commands.map((args) => args[0])).toEqual([
      'generate-landing',
      'batch',
      'query',
      'query',
      'replay',
      'reconcile',
      'replay',
      'query',
      'quarantine',
    ]);

    // Act
    const outputs: string[] = [];
    for (const args of commands) {
      const result = await twinflow(...args);
      expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(0);
      outputs.push(result.stdout);
    }

    // Assess
    const [, batch, funnel, sessions, , reconcile, replay, handMade, quarantine] = outputs;
    expect(batch).toMatch(/published: 2026-11-20: 5000 clicks, 0 quarantined/);
    expect(funnel).toMatch(/view_to_cart/);
    expect(sessions).toMatch(/bounce_rate/);
    expect(reconcile).toMatch(
      /model funnel_minute \(dataset clicks\)\nmax deviation before corrections 0\.00 %/,
    );
    expect(reconcile).toMatch(
      /model sessions_minute \(dataset clicks\)\nmax deviation before corrections 0\.00 %/,
    );
    expect(replay).toMatch(
      /replayed 18 event\(s\) in 4 micro-batch\(es\).*: 14 events counted, 3 quarantined, 1 duplicates, 1 late, 0 failed/,
    );
    // 6 sessions, 3 bounced, 1 converted, 5 visitors on 2026-11-21, as the README says.
    expect(handMade).toMatch(/^total\s+6\s+3\s+1\s+5\s+0\.500000\s+0\.166667$/m);
    expect(quarantine).toMatch(/3 quarantined record\(s\) of clicks/);
    expect(quarantine).toMatch(/product_id: required unless event_type is page_view/);
    expect(quarantine).toMatch(/event_type: not one of page_view/);
    expect(quarantine).toMatch(/record: not valid JSON/);
  }, 180_000); // nine CLI processes, one replaying 5,000 events
});
