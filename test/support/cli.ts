import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const cliPath = new URL('../../cli/twinflow.js', import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `twinflow …` as a user would (a child process) and returns its exit code and output. */
export async function twinflow(...args: string[]): Promise<CliResult> {
  return twinflowWith({}, ...args);
}

/** `twinflow …` with extra environment variables (e.g. `TWINFLOW_DATASETS_DIR`). */
export async function twinflowWith(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run('node', [cliPath, ...args], {
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
