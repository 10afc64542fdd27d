/**
 * The root `s2s-relay` command. Command groups live one per file in ./commands and are registered by
 * main.ts (and by tests) with `register<Group>Commands(program, context)`.
 */
import { Command } from 'commander';

export function createProgram(): Command {
  return new Command('s2s-relay')
    .description('Operate the s2s-relay: apps and API keys (and later replay and the DLQ)')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
}
