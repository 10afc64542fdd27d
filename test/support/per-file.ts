/** Runs in every test file: no service process outlives the file that started it. */
import { afterAll } from 'vitest';
import { stopAllServices } from './processes.js';

afterAll(stopAllServices);
