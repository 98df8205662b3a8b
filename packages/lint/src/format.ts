import { RULES, type RuleId } from './rules.ts';
import type { LintReport, Violation } from './violation.ts';

export type LintFormat = 'text' | 'json' | 'sarif';

const TOOL_NAME = 'covenant-lint';
const TOOL_VERSION = '0.1.0';

/** `file:line  rule  message`, one per line, then a count. */
export function formatText(report: LintReport): string {
  if (report.violations.length === 0) return `covenant lint: ${report.procedures} procedures, no violations\n`;
  const lines = report.violations.map((v) => `${v.file ?? '(project)'}${v.line ? `:${v.line}` : ''}  ${v.rule}  ${v.message}`);
  return `${lines.join('\n')}\n\ncovenant lint: ${report.violations.length} violation(s) in ${report.procedures} procedures\n`;
}

export function formatJson(report: LintReport): string {
  return `${JSON.stringify({ procedures: report.procedures, violations: report.violations }, null, 2)}\n`;
}

/**
 * SARIF 2.1.0 (OASIS), as code-scanning services ingest it: one run, the full rule catalogue in the
 * driver, one result per violation with a physical location relative to the repository root.
 */
export function formatSarif(report: LintReport): string {
  const ruleIds = Object.keys(RULES) as RuleId[];
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: TOOL_NAME,
            version: TOOL_VERSION,
            rules: ruleIds.map((id) => ({
              id,
              name: id,
              shortDescription: { text: RULES[id] },
              defaultConfiguration: { level: 'error' },
            })),
          },
        },
        results: report.violations.map((v) => sarifResult(v, ruleIds.indexOf(v.rule))),
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

function sarifResult(v: Violation, ruleIndex: number) {
  return {
    ruleId: v.rule,
    ruleIndex,
    level: 'error',
    message: { text: v.message },
    ...(v.file === null
      ? {}
      : {
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: v.file.split('/').map(encodeURIComponent).join('/'), uriBaseId: '%SRCROOT%' },
                region: { startLine: v.line ?? 1 },
              },
            },
          ],
        }),
    partialFingerprints: { 'covenant/v1': `${v.rule}:${v.procedure ?? v.file ?? ''}` },
  };
}

export function formatReport(report: LintReport, format: LintFormat): string {
  switch (format) {
    case 'text':
      return formatText(report);
    case 'json':
      return formatJson(report);
    case 'sarif':
      return formatSarif(report);
  }
}
