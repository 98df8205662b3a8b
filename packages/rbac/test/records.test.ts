import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { walkSchema } from '@covenant/contract';
import { rbac } from '../../../contracts/platform/rbac.contract.ts';
import { BindingRecord, ChangeValueRecord, RoleRecord } from '../src/records.ts';

// The record schemas are shared by the rbac platform contract and the store's ledger entries, so that both
// classify the same fields. A contract may import them only if they pull in nothing but zod.

describe('@covenant/rbac/records', () => {
  it('imports zod and nothing else (a contract, and so a client, can import it without the store)', () => {
    const source = readFileSync(new URL('../src/records.ts', import.meta.url), 'utf8');
    const specifiers = [...source.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
    expect(specifiers).toEqual(['zod']);
    expect(source).not.toMatch(/\bimport\s*\(/);
  });

  it('classifies the binding subject and creator as identifiers and the role description as free text', () => {
    const classes = (schema: Parameters<typeof walkSchema>[0]) =>
      walkSchema(schema, 'output')
        .classified.map((field) => [field.path, field.pii])
        .sort();
    expect(classes(BindingRecord)).toEqual([
      ['createdBy', 'identifier'],
      ['subject', 'identifier'],
    ]);
    expect(classes(RoleRecord)).toEqual([['description', 'free-text']]);
    const paths = walkSchema(ChangeValueRecord, 'output').classified.map((field) => field.path);
    for (const path of ['subject', 'description', 'role.description', 'binding.subject', 'bindings.*.subject', 'denies.*.subject', 'attempted.subject']) {
      expect(paths).toContain(path);
    }
  });

  it('are the very schemas of the rbac contract’s outputs, and its inputs classify the same fields', () => {
    expect(rbac.roles.create['~covenant'].output).toBe(RoleRecord);
    expect(rbac.roles.update['~covenant'].output).toBe(RoleRecord);
    expect(rbac.bindings.grant['~covenant'].output).toBe(BindingRecord);
    const input = (procedure: { '~covenant': { input: Parameters<typeof walkSchema>[0] } }) =>
      walkSchema(procedure['~covenant'].input, 'input').classified.map((field) => [field.path, field.pii]);
    expect(input(rbac.roles.create)).toContainEqual(['description', 'free-text']);
    expect(input(rbac.roles.update)).toContainEqual(['description', 'free-text']);
    expect(input(rbac.bindings.grant)).toContainEqual(['subject', 'identifier']);
  });
});
