import * as z from 'zod';
import { ContractDefinitionError, type DefinitionIssue } from '../../src/index.ts';

/** An issue without its prose: what tests compare, since the message text is for humans. */
export type IssueWhere = Pick<DefinitionIssue, 'code' | 'procedure' | 'at'>;

/**
 * Runs `define` and returns the issues of the `ContractDefinitionError` it throws. Fails the test when it
 * throws anything else, or nothing at all (the definition was accepted).
 */
export function definitionIssues(define: () => unknown): ReadonlyArray<IssueWhere> {
  try {
    define();
  } catch (error) {
    if (error instanceof ContractDefinitionError) {
      return error.issues.map(({ code, procedure, at }) => ({ code, procedure, at }));
    }
    throw error;
  }
  throw new Error('expected a ContractDefinitionError, but the definition was accepted');
}

/** Like `definitionIssues`, but `[]` when the definition is accepted. */
export function issuesOrNone(define: () => unknown): ReadonlyArray<IssueWhere> {
  try {
    define();
    return [];
  } catch {
    return definitionIssues(define);
  }
}

/** A strict input and output that break no rule, for tests about everything else. */
export const TicketId = z.strictObject({ ticketId: z.string() });
export const Ok = z.strictObject({ ok: z.boolean() });
