import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native memory, child processes and loop devices: one process per file keeps a crash or a
    // leaked mount contained, and two workers match the two-core machines this runs on.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
