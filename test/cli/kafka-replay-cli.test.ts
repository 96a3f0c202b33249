import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { twinflowWith } from '../support/cli.ts';

// The flag checks of `twinflow replay --from-kafka`: refused before any broker is contacted (no kcat needed).
const lake = path.join(mkdtempSync(path.join(os.tmpdir(), 'twinflow-kafka-cli-')), 'lake');
afterAll(() => rmSync(path.dirname(lake), { recursive: true, force: true }));

const replay = (...args: string[]) =>
  twinflowWith({ KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1' }, 'replay', '--lake', lake, ...args);

describe('twinflow replay --from-kafka: flag errors', () => {
  it.each([
    [['--from-kafka'], '--from-kafka needs where to start: --from-offset N or --from-timestamp T'],
    [
      ['--from-kafka', '--from-offset', '0', '--from-timestamp', '2026-11-21T10:00:00Z'],
      '--from-offset and --from-timestamp: give one of them',
    ],
    [['--from-kafka', '--from-offset', '-1'], '--from-offset must be a whole number ≥ 0, got "-1"'],
    [['--from-kafka', '--from-offset', '1.5'], '--from-offset must be a whole number ≥ 0, got "1.5"'],
    [
      ['--from-kafka', '--from-offset', '0', '--partition', 'x'],
      '--partition must be a whole number ≥ 0, got "x"',
    ],
    [['--from-kafka', '--from-timestamp', 'soon'], '--from-timestamp must be an ISO 8601 time'],
    [
      ['--from-kafka', '--from-offset', '0', '--file', 'events/orders.jsonl'],
      '--file and --from-kafka: replay one source at a time',
    ],
    [['--from-offset', '0'], 'pass --file <events.jsonl> or --from-kafka'],
    [['--file', 'events/orders.jsonl', '--partition', '1'], '--partition needs --from-kafka'],
  ])('%j', async (args, message) => {
    const result = await replay(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`twinflow: ${message}`);
  });

  it('no bootstrap servers known: names the flag and the variable', async () => {
    const result = await twinflowWith(
      { KAFKA_BOOTSTRAP_SERVERS: '' },
      ...['replay', '--lake', lake, '--from-kafka', '--from-offset', '0'],
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'twinflow: no Kafka bootstrap servers: pass --bootstrap-servers host:port or set KAFKA_BOOTSTRAP_SERVERS',
    );
  });
});
