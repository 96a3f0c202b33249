import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { StartFanOutExecution } from '../batch/run-batch.ts';

/** `arn:…:stateMachine:<name>` + an execution name → `arn:…:execution:<name>:<execution>`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/**
 * StartExecution on the fan-out state machine (run-batch may do nothing else there: its role has
 * `states:StartExecution` on this one state machine). `ExecutionAlreadyExists` — the name's execution has ended,
 * since a running one with the same input is returned as started — is an answer, not an error.
 */
export function startFanOutExecution(client: SFNClient, stateMachineArn: string): StartFanOutExecution {
  return async ({ name, input }) => {
    try {
      const out = await client.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return {
        executionArn: out.executionArn ?? executionArnOf(stateMachineArn, name),
        ...(out.startDate ? { startDate: out.startDate } : {}),
      };
    } catch (error) {
      if ((error as Error).name === 'ExecutionAlreadyExists') {
        return { executionArn: executionArnOf(stateMachineArn, name), alreadyExists: true };
      }
      throw error;
    }
  };
}

/** The client for the Step Functions endpoint of the environment (`AWS_ENDPOINT_URL_SFN` locally). */
export function sfnClient(env: NodeJS.ProcessEnv = process.env): SFNClient {
  const endpoint = env['AWS_ENDPOINT_URL_SFN'] ?? env['AWS_ENDPOINT_URL'];
  return new SFNClient({
    ...(endpoint ? { endpoint } : {}),
    ...(env['AWS_REGION'] ? { region: env['AWS_REGION'] } : {}),
  });
}
