export * from './consumer.js';
export * from './dlq.js';
export * from './group-admin.js';
export * from './kafka.js';
export * from './producer.js';
export * from './reply-feed.js';
export * from './topics.js';
export * from './watermark.js';
