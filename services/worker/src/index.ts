export * from './config.js';
export * from './partners.js';
export * from './pipeline.js';
export * from './rules.js';
export * from './worker.js';
