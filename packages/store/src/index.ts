export * from './apps.js';
export * from './db.js';
export * from './migrate.js';
export * from './outcomes.js';
export * from './intake.js';
export * from './demo-app.js';
