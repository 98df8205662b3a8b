import { defineConfig } from 'vitest/config';

/**
 * Every Covenant package exports its built dist/ and, first, its src/ under this condition: the repository's
 * tests, type-check and scripts resolve the sources, so nothing needs a build before it runs.
 */
const SOURCE_CONDITION = '@covenant/source';

// One run over every package and app: tests sit beside the code (`*.test.ts`) or under `test/`.
export default defineConfig({
  // vite's default conditions, the source condition first: `ssr` is the node environment the tests run in.
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'module', 'node', 'development|production'] } },
  resolve: { conditions: [SOURCE_CONDITION, 'module', 'browser', 'development|production'] },
  test: {
    include: ['packages/*/{src,test}/**/*.test.ts', 'apps/*/{src,test}/**/*.test.ts'],
    reporters: ['default', './scripts/vitest-summary-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // The processes tests start (the CLI, a second app process, a lock holder) load the sources too.
    env: { NODE_OPTIONS: [process.env['NODE_OPTIONS'], `--conditions=${SOURCE_CONDITION}`].filter(Boolean).join(' ') },
  },
});
