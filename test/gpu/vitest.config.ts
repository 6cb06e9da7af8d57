import { defineConfig } from 'vitest/config';

// The GPU tier runs in one forked worker: one process owns the device at a time.
export default defineConfig({
  test: {
    include: ['test/gpu/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
