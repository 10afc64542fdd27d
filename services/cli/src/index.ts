export { registerAppsCommands } from './commands/apps.js';
export { type CliContext, CliError, createContext } from './context.js';
export { createProgram } from './program.js';
