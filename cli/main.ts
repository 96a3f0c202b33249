import { Command, CommanderError } from 'commander';
import { DatasetDeclarationError } from '../functions/pipeline/datasets.ts';
import { InvalidInputError, LakeUnavailableError } from '../functions/pipeline/errors.ts';
import * as alerts from './commands/alerts.ts';
import * as balances from './commands/balances.ts';
import * as batch from './commands/batch.ts';
import * as compact from './commands/compact.ts';
import * as datasets from './commands/datasets.ts';
import * as dlq from './commands/dlq.ts';
import * as generateLanding from './commands/generate-landing.ts';
import * as invoke from './commands/invoke.ts';
import * as quarantine from './commands/quarantine.ts';
import * as query from './commands/query.ts';
import * as reconcile from './commands/reconcile.ts';
import * as replay from './commands/replay.ts';
import * as start from './commands/start.ts';
import * as top from './commands/top.ts';

/**
 * A CLI command module: `cli/commands/<name>.ts` exporting `register`, which only declares the command and its
 * flags; its action imports the code that does the work (DuckDB, the AWS SDK…), so `--help` loads none of it.
 */
export interface CommandModule {
  register(program: Command): void;
}

/** Every command module, in the order of `twinflow --help` (a new one is added here). */
export const COMMANDS: readonly CommandModule[] = [
  alerts,
  balances,
  batch,
  compact,
  datasets,
  dlq,
  generateLanding,
  invoke,
  quarantine,
  query,
  reconcile,
  replay,
  start,
  top,
];

/**
 * Whether an error is of this class. By name too: a module loaded through tsx (cli/tsx-import.ts: the CDK app)
 * has its own copy of the error classes, not the bundled CLI's.
 */
function isA<T extends Error>(error: unknown, type: new (...args: never[]) => T): error is T {
  return error instanceof type || (error instanceof Error && error.name === type.name);
}

const program = new Command('twinflow')
  .description('Twinflow: one codebase for batch, stream and serving of e-commerce sales analytics.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

for (const module of COMMANDS) module.register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed the message (unknown flag, missing argument, --help).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (isA(error, InvalidInputError)) {
    console.error(`twinflow: ${error.message}`);
    process.exitCode = 2;
  } else if (isA(error, DatasetDeclarationError)) {
    console.error(`twinflow: dataset declaration: ${error.message}`);
    process.exitCode = 1;
  } else if (isA(error, LakeUnavailableError)) {
    console.error(`twinflow: lake unavailable: ${error.message}`);
    process.exitCode = 1;
  } else {
    console.error(`twinflow: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  }
}
