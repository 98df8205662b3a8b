import type { TourResult } from './tour.ts';

/**
 * The tour as a person reads it: one aligned line per step (mark, number, name, detail), what the step
 * proves beneath it, verbatim output (the inclusion bundle) indented under that, and a verdict.
 */

/** Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function shouldColor(stream: { readonly isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] === undefined || env['NO_COLOR'] === '');
}

const CODES = { green: 32, red: 31, dim: 2, bold: 1 } as const;

export function formatReport(result: TourResult, options: { readonly color: boolean; readonly title?: string }): string {
  const paint = (style: keyof typeof CODES, text: string): string => (options.color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text);
  const numberWidth = String(result.steps.length).length;
  const nameWidth = Math.max(0, ...result.steps.map((s) => s.name.length));
  // Everything under a step starts where its detail does.
  const indent = ' '.repeat(2 + 1 + 2 + numberWidth + 2 + nameWidth + 2);
  const lines: string[] = [];
  if (options.title !== undefined) lines.push(paint('bold', options.title), '');
  result.steps.forEach((step, index) => {
    const mark = step.ok ? paint('green', '✓') : paint('red', '✗');
    const number = String(index + 1).padStart(numberWidth);
    const name = step.name.padEnd(nameWidth);
    lines.push(`  ${mark}  ${number}  ${step.ok ? name : paint('red', name)}  ${step.detail}`);
    lines.push(paint('dim', `${indent}${step.proves}`));
    for (const line of step.output) lines.push(paint('dim', `${indent}  ${line}`));
  });
  const failed = result.steps.filter((s) => !s.ok).length;
  lines.push('');
  lines.push(
    failed === 0
      ? paint('green', `All ${result.steps.length} steps passed (run ${result.runId}).`)
      : paint('red', `${failed} of ${result.steps.length} steps failed (run ${result.runId}).`),
  );
  return `${lines.join('\n')}\n`;
}
