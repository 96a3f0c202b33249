import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/unpack-chromium.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // DuckDB and the local servers are real; a few parallel workers is plenty on 2 cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
