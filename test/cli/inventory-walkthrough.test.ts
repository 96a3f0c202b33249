import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { twinflow } from '../support/cli.ts';
import { readmeBashLines } from '../support/readme.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * The README's "Inventory walkthrough", steps 1–3, run as written from the repository root (the demo lake directory
 * swapped for a temporary one): every command succeeds and says what the README says it does — the count day's
 * discrepancies, the level exact to the second, the movement model reconciled at 0.00 %, the hand-made movements'
 * level and exactly one low_stock alert.
 */

const DEMO_LAKE = '.twinflow/stock-demo';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tempDir = useTempDirs();

describe('README inventory walkthrough', () => {
  it('steps 1–3 run as written: discrepancies, levels, reconciliation, the hand-made low-stock alert once', async () => {
    // Prepare
    const lake = tempDir();
    const lines = readmeBashLines('### Inventory walkthrough');
    const steps = lines.slice(0, lines.indexOf('npm start')).map((line) => line.replaceAll(DEMO_LAKE, lake));
    expect(steps.length).toBe(13);

    // Act
    const outputs: string[] = [];
    for (const line of steps) {
      if (line.startsWith('npx twinflow ')) {
        const args = line
          .replace(/\s+#.*$/, '')
          .split(/\s+/)
          .slice(2);
        const result = await twinflow(...args);
        expect(result.code, `${line}\n${result.stderr}`).toBe(0);
        outputs.push(result.stdout);
      } else {
        outputs.push(execFileSync('bash', ['-c', line], { cwd: ROOT, encoding: 'utf8' }));
      }
    }

    // Assess
    const [, , , , discrepancies, level, replay, reconcile, , handMade, demoLevel, firstAlerts, again] =
      outputs;
    expect(discrepancies).toMatch(
      /stock counts of 2026-11-20: 600 counted, 22 differ from the books, net -35 units/,
    );
    expect(level).toMatch(/^p-0001\s+wh-1\s+\d+\s+—\s+\d+\s+2026-11-20T04:00:00\.000Z\s+-?\d+\s+batch$/m);
    expect(replay).toMatch(/2000 events counted, 0 quarantined, 0 duplicates/);
    expect(reconcile).toMatch(
      /model stock_movements_minute \(dataset inventory\)\nmax deviation before corrections 0\.00 %/,
    );
    expect(handMade).toMatch(/4 events counted, 1 quarantined, 1 duplicates/);
    expect(demoLevel).toMatch(/^p-demo\s+wh-1\s+4\s+8\s+BELOW\s+0\s+\(never counted\)\s+4\s+realtime$/m);
    expect(firstAlerts).toMatch(/evaluated low_stock: 1 watched, 1 raised, 0 resolved, 1 open/);
    expect(firstAlerts).toMatch(/low_stock: stock.on_hand is 4, below 8 \(product p-demo, warehouse wh-1\)/);
    expect(again).toMatch(/evaluated low_stock: 1 watched, 0 raised, 0 resolved, 1 open/);
  }, 240_000);
});
