import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
} from '@aws-sdk/client-sfn';

/** DescribeExecution until the execution is no longer RUNNING; fails after `timeoutMs`. */
export async function executionEnded(
  client: SFNClient,
  executionArn: string,
  { timeoutMs, pollMs }: { timeoutMs: number; pollMs: number },
): Promise<DescribeExecutionCommandOutput> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    if (Date.now() > deadline) {
      throw new Error(`${executionArn} still RUNNING after ${Math.round(timeoutMs / 1000)} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
