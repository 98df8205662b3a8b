import type { RuleId } from './rules.ts';

/** One finding. Data first: text, JSON and SARIF are renderings of it. */
export interface Violation {
  readonly rule: RuleId;
  readonly message: string;
  /** Relative to the project root, `/`-separated; null when no file can be named. */
  readonly file: string | null;
  /** 1-based, best effort: the line that names the procedure or the sanction. */
  readonly line: number | null;
  readonly procedure: string | null;
}

export interface LintReport {
  readonly violations: ReadonlyArray<Violation>;
  /** How many procedures were checked. */
  readonly procedures: number;
}
