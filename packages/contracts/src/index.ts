export * from './avro.js';
export * from './errors.js';
export * from './examples.js';
export * from './identity.js';
export * from './messages.js';
export * from './records.js';
