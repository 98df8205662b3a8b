import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readSanctions } from '../src/index.ts';
import type { LintReport } from '../src/index.ts';
import { REASON, contractSource, createTempProject, lineOf, sanctionsJson, type TempProject } from './temp-project.ts';

const projects: TempProject[] = [];
afterEach(async () => {
  await Promise.all(projects.splice(0).map((project) => project.dispose()));
});

async function project(name: string): Promise<TempProject> {
  const created = await createTempProject(name);
  projects.push(created);
  return created;
}

const HASH = `sha256:${'ab'.repeat(32)}`;

/** `health` is public, `stats` requires a capability. */
const SERVICE = contractSource(
  'service',
  'service',
  [
    "  health: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), requireAuth: false }),",
    "  stats: query({ input: z.strictObject({}), output: z.object({ n: z.number() }), capability: 'service.read' }),",
  ].join('\n'),
);

async function serviceProject(name: string): Promise<TempProject> {
  const p = await project(name);
  await p.write('contracts/service.contract.ts', SERVICE);
  return p;
}

/** The hash the lint asks for, taken from its own advice. */
async function healthHash(p: TempProject): Promise<string> {
  const report = await p.lint();
  const advice = report.violations.find((v) => v.procedure === 'service.health')!.message;
  return /"definitionHash": "(sha256:[0-9a-f]{64})"/.exec(advice)![1]!;
}

const only = (report: LintReport, rule: string) => report.violations.filter((v) => v.rule === rule);

describe('stale-sanction', () => {
  it('reports a sanction for a procedure that no longer exists, at its line in the sanctions file', async () => {
    const p = await serviceProject('stale-gone');
    const text = sanctionsJson([
      { procedure: 'service.health', definitionHash: await healthHash(p), reason: REASON, owner: 'sre' },
      { procedure: 'service.ping', definitionHash: HASH, reason: REASON, owner: 'sre' },
    ]);
    await p.write('sanctions.json', text);
    expect((await p.lint()).violations).toEqual([
      {
        rule: 'stale-sanction',
        message: 'the sanction for service.ping names a procedure that does not exist: remove it',
        file: 'sanctions.json',
        line: lineOf(text, '"procedure": "service.ping"'),
        procedure: 'service.ping',
      },
    ]);
  });

  it('reports a sanction for a procedure that now requires authentication', async () => {
    const p = await serviceProject('stale-private');
    const text = sanctionsJson([
      { procedure: 'service.health', definitionHash: await healthHash(p), reason: REASON, owner: 'sre' },
      { procedure: 'service.stats', definitionHash: HASH, reason: REASON, owner: 'sre' },
    ]);
    await p.write('sanctions.json', text);
    expect((await p.lint()).violations).toEqual([
      {
        rule: 'stale-sanction',
        message: 'the sanction for service.stats is stale: the procedure now requires authentication; remove it',
        file: 'sanctions.json',
        line: lineOf(text, '"procedure": "service.stats"'),
        procedure: 'service.stats',
      },
    ]);
  });
});

describe('sanctions-file', () => {
  it('reports malformed JSON, and then treats every public procedure as unsanctioned', async () => {
    const p = await serviceProject('file-json');
    await p.write('sanctions.json', '{ "sanctions": [ { "procedure": "service.health", } ] }');
    const report = await p.lint();
    expect(only(report, 'sanctions-file')).toEqual([
      { rule: 'sanctions-file', message: expect.stringMatching(/^not valid JSON: /), file: 'sanctions.json', line: null, procedure: null },
    ]);
    expect(only(report, 'public-requires-sanction').map((v) => v.procedure)).toEqual(['service.health']);
  });

  it('reports a sanction without reason and owner, one violation per missing field', async () => {
    const p = await serviceProject('file-fields');
    await p.write('sanctions.json', sanctionsJson([{ procedure: 'service.health', definitionHash: await healthHash(p) }]));
    const messages = only(await p.lint(), 'sanctions-file').map((v) => v.message);
    expect(messages).toHaveLength(2);
    expect(messages).toContainEqual(expect.stringMatching(/^sanctions\.0\.reason: /));
    expect(messages).toContainEqual(expect.stringMatching(/^sanctions\.0\.owner: /));
  });

  it.each([
    ['no sha256: prefix', 'ab'.repeat(32)],
    ['upper-case hex', `sha256:${'AB'.repeat(32)}`],
    ['63 hex digits', `sha256:${'a'.repeat(63)}`],
    ['another algorithm', `sha512:${'ab'.repeat(32)}`],
  ])('reports a definition hash with %s', async (_what, definitionHash) => {
    const p = await serviceProject('file-hash');
    await p.write('sanctions.json', sanctionsJson([{ procedure: 'service.health', definitionHash, reason: REASON, owner: 'sre' }]));
    expect(only(await p.lint(), 'sanctions-file').map((v) => v.message)).toEqual([
      'sanctions.0.definitionHash: a definition hash is "sha256:" and 64 hex digits',
    ]);
  });

  it('reports a reason too short to explain anything, and keys it does not know', async () => {
    const p = await serviceProject('file-reason');
    await p.write(
      'sanctions.json',
      sanctionsJson([{ procedure: 'service.health', definitionHash: await healthHash(p), reason: 'probe', owner: 'sre', expires: '2030' }]),
    );
    const messages = only(await p.lint(), 'sanctions-file').map((v) => v.message);
    expect(messages).toContainEqual('sanctions.0.reason: say why this procedure must be public (at least 10 characters)');
    expect(messages).toContainEqual(expect.stringMatching(/^sanctions\.0: .*expires/));
  });

  it('reports a file without a sanctions list', async () => {
    const p = await serviceProject('file-root');
    await p.write('sanctions.json', '[]\n');
    expect(only(await p.lint(), 'sanctions-file')).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^\(root\): /), file: 'sanctions.json' }),
    ]);
  });

  it('reports duplicate sanctions for one procedure, at the first of them', async () => {
    const p = await serviceProject('file-duplicate');
    const sanction = { procedure: 'service.health', definitionHash: await healthHash(p), reason: REASON, owner: 'sre' };
    const text = sanctionsJson([sanction, { ...sanction, owner: 'platform' }]);
    await p.write('sanctions.json', text);
    expect((await p.lint()).violations).toEqual([
      {
        rule: 'sanctions-file',
        message: 'service.health has 2 sanctions: keep exactly one',
        file: 'sanctions.json',
        line: lineOf(text, '"procedure": "service.health"'),
        procedure: 'service.health',
      },
    ]);
  });
});

describe('readSanctions', () => {
  it('reads a valid file, and a missing one as an empty list', async () => {
    const p = await project('read');
    const file = join(p.root, 'sanctions.json');
    expect(await readSanctions(file)).toEqual({ ok: true, sanctions: [], text: '' });
    const text = JSON.stringify({ $comment: 'reviewed', sanctions: [{ procedure: 'a.b', definitionHash: HASH, reason: REASON, owner: 'o' }] });
    await writeFile(file, text);
    expect(await readSanctions(file)).toEqual({
      ok: true,
      sanctions: [{ procedure: 'a.b', definitionHash: HASH, reason: REASON, owner: 'o' }],
      text,
    });
  });

  it('reports problems as data instead of throwing', async () => {
    const p = await project('read-bad');
    const file = join(p.root, 'sanctions.json');
    await writeFile(file, '{ "sanctions": [{ "procedure": "" }] }');
    const result = await readSanctions(file);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems).toContainEqual(expect.stringMatching(/^sanctions\.0\.procedure: /));
  });
});
