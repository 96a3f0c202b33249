import { readdirSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DatasetDeclarationError } from '../functions/pipeline/datasets.ts';
import { InvalidInputError, LakeUnavailableError } from '../functions/pipeline/errors.ts';

/** A CLI command module: `cli/commands/<name>.ts` exporting `register`. */
export interface CommandModule {
  register(program: Command): void;
}

const program = new Command('twinflow')
  .description('Twinflow: one codebase for batch, stream and serving of e-commerce sales analytics.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const commandDir = new URL('./commands/', import.meta.url);
for (const file of readdirSync(commandDir)
  .filter((f) => f.endsWith('.ts'))
  .sort()) {
  const module = (await import(new URL(file, commandDir).href)) as CommandModule;
  module.register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed the message (unknown flag, missing argument, --help).
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof InvalidInputError) {
    console.error(`twinflow: ${error.message}`);
    process.exitCode = 2;
  } else if (error instanceof DatasetDeclarationError) {
    console.error(`twinflow: dataset declaration: ${error.message}`);
    process.exitCode = 1;
  } else if (error instanceof LakeUnavailableError) {
    console.error(`twinflow: lake unavailable: ${error.message}`);
    process.exitCode = 1;
  } else {
    console.error(`twinflow: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  }
}
