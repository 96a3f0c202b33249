import { InvalidInputError } from '../pipeline/errors.ts';

/** A range longer than its granularity allows; `limit` says what is allowed (HTTP 400, CLI exit 2). */
export class RangeTooLargeError extends InvalidInputError {
  constructor(
    message: string,
    readonly limit: string,
    parameter = 'end',
  ) {
    super(message, parameter);
    this.name = 'RangeTooLargeError';
  }
}

/** A published batch file or a realtime file stayed unreadable after the retries (a real fault, not bad input). */
export class ServingReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServingReadError';
  }
}
