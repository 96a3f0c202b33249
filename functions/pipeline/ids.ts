import { createHash } from 'node:crypto';

/** A short content hash: deterministic names derived from inputs (idempotent writes). */
export function shortHash(...parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** A sortable, unique run id: `20261121T101500Z-1a2b3c4d`. */
export function runId(now: Date, entropy: string = Math.random().toString(16).slice(2, 10)): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')}-${entropy}`;
}
