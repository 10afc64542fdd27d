/** Entry point of the `s2s-relay` CLI (bin/s2s-relay.js): wires the command groups and runs. */
import { CommanderError } from 'commander';
import { registerAppsCommands } from './commands/apps.js';
import { registerDlqCommands } from './commands/dlq.js';
import { registerPrivacyCommands } from './commands/privacy.js';
import { registerReplayCommand } from './commands/replay.js';
import { registerSetupCommand } from './commands/setup.js';
import { CliError, createContext } from './context.js';
import { createProgram } from './program.js';

const context = createContext();
const program = createProgram();
registerAppsCommands(program, context);
registerReplayCommand(program, context);
registerDlqCommands(program, context);
registerSetupCommand(program, context);
registerPrivacyCommands(program, context);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else if (err instanceof CliError) {
    context.err(`error: ${err.message}`);
    process.exitCode = 1;
  } else {
    context.err(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
} finally {
  await context.close();
}
