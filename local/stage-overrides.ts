/**
 * Stage-config overrides from the command line: `--set stream.batchSize=10` (repeatable), so the local runtime
 * can run a variant of a stage (short batching window, fast schedule) and still read it from the synthesized
 * template rather than patching the emulation.
 */

export type Overrides = Record<string, Record<string, unknown> | unknown>;

function parseScalar(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return raw;
}

/** `['stream.batchSize=10', 'compaction.schedule=rate(1 minute)']` → `{ stream: { batchSize: 10 }, … }`. */
export function parseOverrides(assignments: readonly string[]): Overrides {
  const overrides: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const match = /^([A-Za-z]\w*)(?:\.([A-Za-z]\w*))?=(.*)$/.exec(assignment);
    if (!match?.[1]) throw new Error(`--set expects section.key=value, got "${assignment}"`);
    const [, section, key, raw = ''] = match;
    const value = parseScalar(raw);
    if (key === undefined) {
      overrides[section] = value;
    } else {
      const current = overrides[section];
      overrides[section] = {
        ...(typeof current === 'object' && current !== null ? current : {}),
        [key]: value,
      };
    }
  }
  return overrides;
}
