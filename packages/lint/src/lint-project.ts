import { relative, resolve, sep } from 'node:path';
import { collectProcedures } from '@covenant/contract';
import { describeProcedure } from '@covenant/contract/manifest';
import { loadContracts } from '@covenant/codegen';
import { inspectGeneratedRouter } from './inspect-generated.ts';
import { locate, procedureKeyPatterns, sanctionPattern, sealPattern } from './locate.ts';
import { ruleForDefinitionIssue, ruleForRouterFinding } from './rules.ts';
import { readSanctions } from './sanctions.ts';
import type { LintReport, Violation } from './violation.ts';

export interface LintOptions {
  /** Project root: paths in the report are relative to it. */
  readonly root: string;
  readonly contractsDir: string;
  readonly sanctionsFile: string;
  /** The folder `covenant gen` writes to; when it holds a router, its procedures are inspected too. */
  readonly generatedDir?: string;
}

/**
 * Lints a project's contracts as they resolve at run time: every contract module is imported, so a
 * `requireAuth: false` produced by a spread, a helper, a variable or a computed key is seen exactly as
 * the server would see it.
 *
 * @example
 * ```ts
 * const report = await lintProject({ root, contractsDir: 'contracts', sanctionsFile: 'contracts/sanctions.json' });
 * if (report.violations.length > 0) process.exitCode = 1;
 * ```
 */
export async function lintProject(options: LintOptions): Promise<LintReport> {
  const root = resolve(options.root);
  const violations: Violation[] = [];
  const rel = (path: string): string => relative(root, path).split(sep).join('/');
  const sanctionsFile = rel(resolve(root, options.sanctionsFile));

  const loaded = await loadContracts({ dir: resolve(root, options.contractsDir), root });
  for (const problem of loaded.problems) {
    if (problem.issues) {
      for (const issue of problem.issues) {
        violations.push({
          rule: ruleForDefinitionIssue(issue.code),
          message: `${issue.procedure}${issue.at ? ` (${issue.at})` : ''}: ${issue.message}`,
          file: problem.file,
          line: await locate(root, problem.file, ...procedureKeyPatterns(issue.procedure)),
          procedure: issue.procedure,
        });
      }
    } else {
      violations.push({ rule: 'contract-load', message: problem.message, file: problem.file, line: null, procedure: null });
    }
  }

  // Contracts clashing on a path were reported above; lint the rest.
  const fileOf = new Map(loaded.contracts.map((c) => [c.contract['~covenant'].name, c.file]));
  let entries: ReturnType<typeof collectProcedures> = [];
  try {
    entries = collectProcedures(loaded.contracts.map((c) => c.contract));
  } catch {
    entries = loaded.contracts.flatMap((c) => c.contract['~covenant'].procedures);
  }
  const procedures = entries.map((entry) => ({ entry, manifest: describeProcedure(entry), file: fileOf.get(entry.contract) ?? null }));

  const sanctions = await readSanctions(resolve(root, options.sanctionsFile));
  if (!sanctions.ok) {
    for (const problem of sanctions.problems) {
      violations.push({ rule: 'sanctions-file', message: problem, file: sanctionsFile, line: null, procedure: null });
    }
  }
  const sanctionList = sanctions.ok ? sanctions.sanctions : [];
  const byProcedure = new Map<string, number>();
  for (const sanction of sanctionList) byProcedure.set(sanction.procedure, (byProcedure.get(sanction.procedure) ?? 0) + 1);
  for (const [procedure, count] of byProcedure) {
    if (count > 1) {
      violations.push({
        rule: 'sanctions-file',
        message: `${procedure} has ${count} sanctions: keep exactly one`,
        file: sanctionsFile,
        line: await locate(root, sanctionsFile, sanctionPattern(procedure)),
        procedure,
      });
    }
  }

  for (const { manifest, file } of procedures) {
    if (manifest.security.requireAuth) continue;
    const sanction = sanctionList.find((s) => s.procedure === manifest.path);
    if (sanction === undefined) {
      violations.push({
        rule: 'public-requires-sanction',
        message:
          `${manifest.path} is public (requireAuth: false) without a sanction. If it must be public, add to ` +
          `${sanctionsFile}: { "procedure": "${manifest.path}", "definitionHash": "${manifest.definitionHash}", "reason": "…", "owner": "…" }`,
        file,
        line: await locate(root, file, ...procedureKeyPatterns(manifest.path)),
        procedure: manifest.path,
      });
    } else if (sanction.definitionHash !== manifest.definitionHash) {
      violations.push({
        rule: 'public-requires-sanction',
        message:
          `${manifest.path} changed after its sanction was reviewed (sanctioned ${sanction.definitionHash}, now ` +
          `${manifest.definitionHash}): review the change and update the sanction's hash`,
        file,
        line: await locate(root, file, ...procedureKeyPatterns(manifest.path)),
        procedure: manifest.path,
      });
    }
  }

  const byPath = new Map(procedures.map((p) => [p.manifest.path, p.manifest]));
  for (const sanction of sanctionList) {
    const current = byPath.get(sanction.procedure);
    if (current === undefined || current.security.requireAuth) {
      violations.push({
        rule: 'stale-sanction',
        message:
          current === undefined
            ? `the sanction for ${sanction.procedure} names a procedure that does not exist: remove it`
            : `the sanction for ${sanction.procedure} is stale: the procedure now requires authentication; remove it`,
        file: sanctionsFile,
        line: await locate(root, sanctionsFile, sanctionPattern(sanction.procedure)),
        procedure: sanction.procedure,
      });
    }
  }

  if (options.generatedDir !== undefined && loaded.problems.length === 0) {
    const generatedDir = resolve(root, options.generatedDir);
    const findings = await inspectGeneratedRouter(generatedDir);
    for (const finding of findings ?? []) {
      violations.push({
        rule: ruleForRouterFinding(finding.code),
        message: `${finding.path}: ${finding.message}`,
        file: rel(resolve(generatedDir, 'router.ts')),
        line: await locate(root, rel(resolve(generatedDir, 'router.ts')), sealPattern(finding.path)),
        procedure: finding.path,
      });
    }
  }

  return { violations: sortViolations(violations), procedures: procedures.length };
}

function sortViolations(violations: Violation[]): Violation[] {
  const key = (v: Violation): string => `${v.file ?? '~'}\u0000${String(v.line ?? 0).padStart(8, '0')}\u0000${v.rule}\u0000${v.message}`;
  return violations.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
