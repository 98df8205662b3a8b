import { ContractDefinitionError, type DefinitionIssue } from './definition-error.ts';
import type { Contract, ContractProcedure } from './define-contract.ts';

/**
 * Every procedure of a set of contracts, sorted by path. Refuses two procedures on one path and a path
 * that is both a procedure and a group (`a.b` and `a.b.c`): a router could serve only one of them.
 */
export function collectProcedures(contracts: Iterable<Contract>): ReadonlyArray<ContractProcedure> {
  const all = [...contracts].flatMap((contract) => contract['~covenant'].procedures);
  all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const issues: DefinitionIssue[] = [];
  for (let i = 1; i < all.length; i += 1) {
    const previous = all[i - 1]!.path;
    const current = all[i]!.path;
    if (previous === current) {
      issues.push({ code: 'path_conflict', procedure: current, at: '', message: 'two procedures share this path' });
    }
  }
  const paths = new Set(all.map((entry) => entry.path));
  for (const { path } of all) {
    const segments = path.split('.');
    for (let n = 1; n < segments.length; n += 1) {
      const prefix = segments.slice(0, n).join('.');
      if (paths.has(prefix)) {
        issues.push({
          code: 'path_conflict',
          procedure: prefix,
          at: '',
          message: `"${prefix}" is a procedure and also the group of "${path}"`,
        });
      }
    }
  }
  if (issues.length > 0) throw new ContractDefinitionError('(all contracts)', issues);
  return Object.freeze(all);
}
