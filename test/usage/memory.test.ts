import { describe } from 'node:test';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { usageBehaviour } from './behaviour.ts';

describe('usage plans, memory store', () => {
  usageBehaviour(async (clock) => createUsageService(usageConfigSchema.parse({ store: 'memory', headers: 'both' }), { clock }));
});
