import { defineConfig } from 'vitest/config';

// The project's own test settings (vitest would otherwise look for a configuration in the folders above).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
  },
});
