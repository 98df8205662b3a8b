import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULES, formatJson, formatReport, formatSarif, formatText } from '../src/index.ts';
import type { LintReport, RuleId, Violation } from '../src/index.ts';
import { REASON, contractSource, createTempProject, sanctionsJson, type TempProject } from './temp-project.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(HERE, '../../cli/bin/covenant.mjs');

/**
 * The official SARIF 2.1.0 schema (see fixtures/README.md). It is draft-04, which Ajv 8 does not load:
 * the root `id` becomes `$id` and `$schema` goes; no other draft-04-only keyword occurs in it (checked
 * below). Its formats get real checks, so a bad URI fails instead of being ignored, and the tests below
 * prove the validator rejects invalid logs (a validator that accepts everything would prove nothing).
 */
async function sarifValidator(): Promise<ValidateFunction> {
  const raw = JSON.parse(await readFile(join(HERE, 'fixtures/sarif-schema-2.1.0.json'), 'utf8')) as Record<string, unknown>;
  expect(raw['$schema']).toBe('http://json-schema.org/draft-04/schema#');
  const text = JSON.stringify(raw);
  expect(text).not.toMatch(/"exclusive(Minimum|Maximum)":\s*(true|false)/);
  const { id, $schema: _draft04, ...rest } = raw;
  const ajv = new Ajv({
    strict: true,
    // The schema lists, inside `anyOf`, required properties declared one level up: valid JSON Schema that
    // Ajv's authoring lint (strictRequired) flags. It changes nothing about what validates.
    strictRequired: false,
    // Draft-04 patterns are plain ECMA-262 regular expressions. The schema's `language` pattern has a
    // stray `]`, legal without the `u` flag that Ajv 8 adds by default.
    unicodeRegExp: false,
    allErrors: true,
    formats: {
      uri: (value: string) => /^[a-z][a-z0-9+.-]*:/i.test(value) && URL.canParse(value),
      'uri-reference': (value: string) => !/\s/.test(value) && URL.canParse(value, 'file:///base/'),
      'date-time': (value: string) =>
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value)),
    },
  });
  return ajv.compile({ $id: String(id), ...rest });
}

let validate: ValidateFunction;
beforeAll(async () => {
  validate = await sarifValidator();
});

function expectValid(document: unknown): void {
  const ok = validate(document);
  expect(validate.errors ?? [], 'SARIF schema errors').toEqual([]);
  expect(ok).toBe(true);
}

const minimal = (result: Record<string, unknown>) => ({
  version: '2.1.0',
  runs: [{ tool: { driver: { name: 'probe' } }, results: [result] }],
});

describe('the SARIF schema validator', () => {
  it('accepts a minimal valid log', () => {
    expectValid(minimal({ ruleId: 'r', message: { text: 'm' } }));
  });

  it.each([
    ['version 2.0.0', { ...minimal({ message: { text: 'm' } }), version: '2.0.0' }],
    ['a result without a message', minimal({ ruleId: 'r', level: 'error' })],
    ['an unknown level', minimal({ message: { text: 'm' }, level: 'fatal' })],
    ['startLine 0', minimal({ message: { text: 'm' }, locations: [{ physicalLocation: { artifactLocation: { uri: 'a.ts' }, region: { startLine: 0 } } }] })],
    ['a uri with a space', minimal({ message: { text: 'm' }, locations: [{ physicalLocation: { artifactLocation: { uri: 'a b.ts' } } }] })],
    ['a run without a tool', { version: '2.1.0', runs: [{ results: [] }] }],
  ])('rejects %s', (_what, document) => {
    expect(validate(document)).toBe(false);
  });
});

/** One violation of every rule, some without a line or a file, as the formatters may receive them. */
const EVERY_RULE: LintReport = {
  procedures: 3,
  violations: (Object.keys(RULES) as RuleId[]).map(
    (rule, index): Violation => ({
      rule,
      message: `${rule}: a "quoted" <message> with ünïcode`,
      file: index % 5 === 4 ? null : `contracts/group-${index % 2}/file-${index}.contract.ts`,
      line: index % 3 === 0 ? null : index + 1,
      procedure: index % 2 === 0 ? `p.proc${index}` : null,
    }),
  ),
};

type SarifResult = {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations?: Array<{ physicalLocation: { artifactLocation: { uri: string; uriBaseId: string }; region: { startLine: number } } }>;
};
type SarifLog = { version: string; runs: Array<{ tool: { driver: { name: string; rules: Array<{ id: string }> } }; results: SarifResult[] }> };

/** The properties the code-scanning services rely on, beyond what the schema requires. */
function expectUsableResults(log: SarifLog, report: LintReport): void {
  expect(log.runs).toHaveLength(1);
  const [run] = log.runs;
  expect(run!.tool.driver.rules.map((rule) => rule.id)).toEqual(Object.keys(RULES));
  expect(run!.results).toHaveLength(report.violations.length);
  run!.results.forEach((result, index) => {
    const violation = report.violations[index]!;
    expect(result.ruleId).toBe(violation.rule);
    expect(run!.tool.driver.rules[result.ruleIndex]!.id).toBe(result.ruleId);
    expect(result.level).toBe('error');
    expect(result.message.text).toBe(violation.message);
    if (violation.file === null) return;
    const location = result.locations![0]!.physicalLocation;
    expect(location.artifactLocation.uri).toBe(violation.file);
    expect(location.artifactLocation.uri).not.toMatch(/^(\/|[a-z]+:)/i);
    expect(Number.isInteger(location.region.startLine) && location.region.startLine >= 1).toBe(true);
  });
}

describe('formatSarif', () => {
  it('produces a valid SARIF 2.1.0 log for a report with every rule, with and without lines and files', () => {
    const log = JSON.parse(formatSarif(EVERY_RULE)) as SarifLog;
    expect(log.version).toBe('2.1.0');
    expectValid(log);
    expectUsableResults(log, EVERY_RULE);
    expect(log.runs[0]!.results.find((r) => r.ruleId === 'contract-load')!.locations![0]!.physicalLocation.region.startLine).toBe(1);
  });

  it('produces a valid log with no results for a clean report', () => {
    const log = JSON.parse(formatSarif({ procedures: 4, violations: [] })) as SarifLog;
    expectValid(log);
    expect(log.runs[0]!.results).toEqual([]);
  });

  it('is what formatReport gives for sarif', () => {
    expect(formatReport(EVERY_RULE, 'sarif')).toBe(formatSarif(EVERY_RULE));
  });
});

describe('formatText and formatJson', () => {
  const report: LintReport = {
    procedures: 7,
    violations: [
      { rule: 'stale-sanction', message: 'the sanction for a.b is stale', file: 'sanctions.json', line: 4, procedure: 'a.b' },
      { rule: 'sanctions-file', message: 'not valid JSON', file: 'sanctions.json', line: null, procedure: null },
      { rule: 'contract-load', message: 'nowhere', file: null, line: null, procedure: null },
    ],
  };

  it('text: one line per violation with file:line, rule and message, then a count', () => {
    expect(formatText(report)).toBe(
      'sanctions.json:4  stale-sanction  the sanction for a.b is stale\n' +
        'sanctions.json  sanctions-file  not valid JSON\n' +
        '(project)  contract-load  nowhere\n' +
        '\n' +
        'covenant lint: 3 violation(s) in 7 procedures\n',
    );
    expect(formatText({ procedures: 7, violations: [] })).toBe('covenant lint: 7 procedures, no violations\n');
    expect(formatReport(report, 'text')).toBe(formatText(report));
  });

  it('json: parses back to the procedures count and the violations', () => {
    expect(JSON.parse(formatJson(report))).toEqual(report);
    expect(formatReport(report, 'json')).toBe(formatJson(report));
  });
});

describe('covenant lint --format sarif from the real binary', () => {
  let created: TempProject | undefined;
  afterAll(async () => {
    await created?.dispose();
  });

  it('validates against the SARIF 2.1.0 schema, with a result per violation', async () => {
    const p = await createTempProject('sarif-bin');
    created = p;
    // Without a covenant field here the CLI would take the repository's package.json as the project root.
    const covenant = { contracts: 'contracts', out: 'generated', sanctions: 'sanctions.json' };
    await p.write('package.json', JSON.stringify({ private: true, type: 'module', covenant }));
    await p.write(
      'contracts/desk.contract.ts',
      contractSource(
        'desk',
        'desk',
        [
          "  open: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), requireAuth: false }),",
          "  read: query({ input: z.strictObject({}), output: z.object({ ok: z.boolean() }), capability: 'desk.read' }),",
        ].join('\n'),
      ),
    );
    const gone = { procedure: 'desk.gone', definitionHash: `sha256:${'1'.repeat(64)}`, reason: REASON, owner: 'o' };
    await p.write('sanctions.json', sanctionsJson([gone]));
    await p.gen('generated');
    const router = await p.read('generated/router.ts');
    const handle = '.query(step.handle(desk.read,';
    await p.write('generated/router.ts', router.replace(handle, `.meta({ requireAuth: false } as never)\n        ${handle}`));

    const result = await new Promise<{ code: number | null; stdout: string }>((done, fail) => {
      const child = spawn(
        process.execPath,
        [BIN, 'lint', '--contracts', 'contracts', '--sanctions', 'sanctions.json', '--generated', 'generated', '--format', 'sarif'],
        { cwd: p.root, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.on('error', fail);
      child.on('close', (code) => done({ code, stdout }));
    });
    expect(result.code).toBe(1);
    const log = JSON.parse(result.stdout) as SarifLog;
    expectValid(log);
    expect(log.runs[0]!.results.map((r) => r.ruleId)).toEqual(['public-requires-sanction', 'handwritten-meta', 'stale-sanction']);
    expect(log.runs[0]!.results.map((r) => r.locations![0]!.physicalLocation.artifactLocation.uri)).toEqual([
      'contracts/desk.contract.ts',
      'generated/router.ts',
      'sanctions.json',
    ]);
  });
});

describe('SARIF locations are URIs', () => {
  it('percent-encodes each path segment (spaces, %, #) and keeps the separators', () => {
    const sarif = JSON.parse(
      formatSarif({
        procedures: 1,
        violations: [
          { rule: 'public-requires-sanction', message: 'm', file: 'contracts/my team/100%#1.contract.ts', line: 3, procedure: 'a.b' },
        ],
      }),
    );
    expect(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri).toBe(
      'contracts/my%20team/100%25%231.contract.ts',
    );
  });
});
