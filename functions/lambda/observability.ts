import { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { LogPort } from '../pipeline/ports.ts';

/** One Powertools logger and metrics instance per function (module scope, reused while warm). */
export const logger = new Logger();
export const metrics = new Metrics({ namespace: process.env['POWERTOOLS_METRICS_NAMESPACE'] ?? 'Twinflow' });

/** The core's logging port, backed by the Powertools logger (structured JSON with the Lambda context). */
export const log: LogPort = {
  info: (message, extra) => logger.info(message, (extra ?? {}) as LogAttributes),
  warn: (message, extra) => logger.warn(message, (extra ?? {}) as LogAttributes),
  error: (message, extra) => logger.error(message, (extra ?? {}) as LogAttributes),
};
