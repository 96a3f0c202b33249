/** The logging port core functions take: Powertools' Logger in Lambda, `consoleLog` in the CLI. */
export interface LogPort {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/** Structured lines on stderr, so stdout stays clean for command output (tables, JSON). */
export const consoleLog: LogPort = {
  info: (message, extra) => console.error(JSON.stringify({ level: 'INFO', message, ...extra })),
  warn: (message, extra) => console.error(JSON.stringify({ level: 'WARN', message, ...extra })),
  error: (message, extra) => console.error(JSON.stringify({ level: 'ERROR', message, ...extra })),
};

/** Discards logs (tests, benchmarks). */
export const silentLog: LogPort = { info: () => {}, warn: () => {}, error: () => {} };

/** Everything a core function needs from the outside world. The clock is injected so fixtures replay any time. */
export interface CoreDeps {
  store: import('./object-store.ts').ObjectStore;
  clock: () => Date;
  log: LogPort;
  /**
   * The lake's reporting time zone (IANA; default UTC, stage setting `reporting.timeZone`): a landing folder's
   * day, the dedup scope, daily rollups and day partitions are days in it. Minute and hour buckets stay UTC.
   */
  timeZone?: string;
}
