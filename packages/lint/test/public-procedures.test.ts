import { loadContracts } from '@covenant/codegen';
import { createManifest } from '@covenant/contract/manifest';
import { afterEach, describe, expect, it } from 'vitest';
import { REASON, createTempProject, lineOf, sanctionsJson, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

async function project(name: string): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  return created;
}

/** The definition hash of each procedure, computed independently of the lint, from the contracts as loaded. */
async function hashes(p: TempProject): Promise<Map<string, string>> {
  const loaded = await loadContracts({ dir: `${p.root}/contracts`, root: p.root });
  return new Map(createManifest(loaded.contracts.map((c) => c.contract)).procedures.map((m) => [m.path, m.definitionHash]));
}

const HIDDEN = [
  ['a spread of a shared options object', 'const shared = { requireAuth: false } as const;', '...shared'],
  ['a helper function', 'const open = () => ({ requireAuth: false as const });', '...open()'],
  ['a variable', 'const authenticated = false;', 'requireAuth: authenticated'],
  ['a computed key', "const key = ['require', 'Auth'].join('');", '[key]: false'],
] as const;

function probeContract(prelude: string, options: string, summary = 'Liveness.'): string {
  return [
    "import { defineContract, query } from '@covenant/contract';",
    "import * as z from 'zod';",
    prelude,
    "export const probe = defineContract('probe', {",
    "  deep: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), capability: 'probe.read' }),",
    `  live: query({ summary: '${summary}', input: z.strictObject({}), output: z.object({ ok: z.boolean() }), ${options} } as never),`,
    '});',
    '',
  ].join('\n');
}

describe('public-requires-sanction', () => {
  for (const [how, prelude, options] of HIDDEN) {
    it(`sees requireAuth: false produced by ${how}`, async () => {
      const p = await project('hidden');
      const source = probeContract(prelude, options);
      await p.write('contracts/probe.contract.ts', source);
      const report = await p.lint();
      expect(report.procedures).toBe(2);
      expect(report.violations).toEqual([
        {
          rule: 'public-requires-sanction',
          message: expect.stringMatching(/^probe\.live is public \(requireAuth: false\) without a sanction\. /),
          file: 'contracts/probe.contract.ts',
          line: lineOf(source, 'live: query('),
          procedure: 'probe.live',
        },
      ]);
    });
  }

  it('tells the reader the exact sanction to add, with the hash createManifest computes', async () => {
    const p = await project('advice');
    await p.write('contracts/probe.contract.ts', probeContract('', 'requireAuth: false'));
    const [violation] = (await p.lint()).violations;
    const hash = (await hashes(p)).get('probe.live')!;
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(violation!.message).toBe(
      'probe.live is public (requireAuth: false) without a sanction. If it must be public, add to sanctions.json: ' +
        `{ "procedure": "probe.live", "definitionHash": "${hash}", "reason": "…", "owner": "…" }`,
    );
  });

  it('passes with a sanction whose hash matches, and fails again once the procedure changes', async () => {
    const p = await project('lifecycle');
    await p.write('contracts/probe.contract.ts', probeContract('', 'requireAuth: false'));
    const reviewed = (await hashes(p)).get('probe.live')!;
    await p.write('sanctions.json', sanctionsJson([{ procedure: 'probe.live', definitionHash: reviewed, reason: REASON, owner: 'sre', reviewedBy: 'security' }]));
    expect(await p.lint()).toEqual({ violations: [], procedures: 2 });

    // Even the summary is part of what was reviewed.
    const edited = probeContract('', 'requireAuth: false', 'Liveness and build info.');
    await p.write('contracts/probe.contract.ts', edited);
    const now = (await hashes(p)).get('probe.live')!;
    expect(now).not.toBe(reviewed);
    expect((await p.lint()).violations).toEqual([
      {
        rule: 'public-requires-sanction',
        message:
          `probe.live changed after its sanction was reviewed (sanctioned ${reviewed}, now ${now}): ` +
          "review the change and update the sanction's hash",
        file: 'contracts/probe.contract.ts',
        line: lineOf(edited, 'live: query('),
        procedure: 'probe.live',
      },
    ]);
  });

  it('treats a missing sanctions file as no sanctions', async () => {
    const p = await project('no-file');
    await p.write('contracts/probe.contract.ts', probeContract('', 'requireAuth: false'));
    expect((await p.lint()).violations.map((v) => v.rule)).toEqual(['public-requires-sanction']);
  });

  it('does not accept a sanction of another procedure, even with the right hash', async () => {
    const p = await project('other');
    await p.write(
      'contracts/probe.contract.ts',
      probeContract('', 'requireAuth: false').replace(
        "  deep: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), capability: 'probe.read' }),",
        "  ready: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), requireAuth: false }),",
      ),
    );
    const all = await hashes(p);
    await p.write('sanctions.json', sanctionsJson([{ procedure: 'probe.ready', definitionHash: all.get('probe.live'), reason: REASON, owner: 'sre' }]));
    const rules = (await p.lint()).violations.map((v) => [v.rule, v.procedure]);
    expect(rules).toContainEqual(['public-requires-sanction', 'probe.live']);
    expect(rules).toContainEqual(['public-requires-sanction', 'probe.ready']);
  });
});
