#!/usr/bin/env node
// The s2s-relay CLI. TypeScript runs as is: tsx's loader is registered in this process, then the
// entry point is imported (no build step, no child process).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
