import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The committed generated files are the snapshots: each is compared with what the generator renders
 * from its contracts now. A change to an emitter shows up here as a diff of real generated code
 * (update it with `vitest -u`, then review the diff like any other change).
 */
const TARGETS = [
  { what: 'the service test fixture', contractsDir: 'apps/helpdesk/test/fixtures/contracts', outDir: 'apps/helpdesk/test/fixtures/generated' },
  { what: "this repository's own contracts", contractsDir: 'contracts', outDir: 'apps/helpdesk/src/generated' },
] as const;

describe('generated code snapshots', () => {
  for (const target of TARGETS) {
    describe(`${target.what} (${target.contractsDir} → ${target.outDir})`, async () => {
      const files = await generate({ root: REPO, contractsDir: target.contractsDir, outDir: target.outDir });

      it('renders exactly the four generated files', () => {
        expect(files.map((file) => file.name)).toEqual(['client.ts', 'handlers.ts', 'manifest.json', 'router.ts']);
      });

      for (const file of files) {
        it(`${file.name} matches the committed file`, async () => {
          await expect(file.content).toMatchFileSnapshot(join(REPO, target.outDir, file.name));
        });
      }
    });
  }
});
