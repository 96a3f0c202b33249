import type { Context } from 'aws-lambda';

/** A Lambda context like the runtime passes (enough for Powertools and middy). */
export function lambdaContext(functionName = 'twinflow-test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '2048',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 60_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Reads an `events/` fixture. */
export async function fixture(name: string): Promise<unknown> {
  const { readFile } = await import('node:fs/promises');
  return JSON.parse(await readFile(new URL(`../../events/${name}`, import.meta.url), 'utf8'));
}
