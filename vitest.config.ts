import { defineConfig } from 'vitest/config';

// One run over every package and app: tests sit beside the code (`*.test.ts`) or under `test/`.
export default defineConfig({
  test: {
    include: ['packages/*/{src,test}/**/*.test.ts', 'apps/*/{src,test}/**/*.test.ts'],
    reporters: ['default', './scripts/vitest-summary-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
