/** Input that can never succeed as given (bad date, bad flag, bad payload). Retrying will not help. */
export class InvalidInputError extends Error {
  constructor(
    message: string,
    readonly parameter?: string,
  ) {
    super(message);
    this.name = 'InvalidInputError';
  }
}

/** A conditional write lost a race: someone else changed the object since it was read. */
export class PreconditionFailedError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} changed since it was read`);
    this.name = 'PreconditionFailedError';
  }
}

/** The lake (local directory or S3 bucket) cannot be read or written. */
export class LakeUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LakeUnavailableError';
  }
}
