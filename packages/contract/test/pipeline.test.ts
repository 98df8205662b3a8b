import { describe, expect, it } from 'vitest';
import { mutation, pipelineFor, query } from '../src/index.ts';
import type { ResolvedSecurity } from '../src/index.ts';
import { Ok, TicketId } from './support/definition-issues.ts';

const stepsOf = (procedure: { readonly '~covenant': { readonly security: ResolvedSecurity } }) =>
  pipelineFor(procedure['~covenant'].security);

describe('pipelineFor', () => {
  it('gives a public query no authorization and no audit', () => {
    expect(stepsOf(query({ input: TicketId, output: Ok, requireAuth: false }))).toEqual([
      'requestContext',
      'authenticate',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'output',
      'handle',
    ]);
  });

  it('audits a public mutation but authorizes nothing', () => {
    expect(stepsOf(mutation({ input: TicketId, output: Ok, requireAuth: false }))).toEqual([
      'requestContext',
      'authenticate',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'audit',
      'output',
      'handle',
    ]);
  });

  it('gives an anyPrincipal query authentication but no capability check', () => {
    expect(stepsOf(query({ input: TicketId, output: Ok, anyPrincipal: true }))).toEqual([
      'requestContext',
      'authenticate',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'output',
      'handle',
    ]);
  });

  it('authorizes a capability query before tenancy keys and input are looked at', () => {
    expect(stepsOf(query({ input: TicketId, output: Ok, capability: 'tickets.read' }))).toEqual([
      'requestContext',
      'authenticate',
      'authorize',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'output',
      'handle',
    ]);
  });

  it('decides at the action, on the exact resource, after the input is parsed', () => {
    const get = query({ input: TicketId, output: Ok, capability: 'tickets.read', resource: { type: 'ticket', id: 'ticketId' } });
    expect(stepsOf(get)).toEqual([
      'requestContext',
      'authenticate',
      'authorize',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'output',
      'handle',
    ]);
  });

  it('audits an audited query after authorization and before the output', () => {
    expect(stepsOf(query({ input: TicketId, output: Ok, capability: 'tickets.read', audit: true }))).toEqual([
      'requestContext',
      'authenticate',
      'authorize',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'audit',
      'output',
      'handle',
    ]);
  });

  it('leaves audit out of an unaudited mutation', () => {
    expect(stepsOf(mutation({ input: TicketId, output: Ok, capability: 'tickets.write', audit: false }))).toEqual([
      'requestContext',
      'authenticate',
      'authorize',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'output',
      'handle',
    ]);
  });

  it('gives a resource-scoped mutation every step, in order', () => {
    const resource = { type: 'ticket', id: 'ticketId' };
    const close = mutation({ input: TicketId, output: Ok, capability: 'tickets.write', resource });
    expect(stepsOf(close)).toEqual([
      'requestContext',
      'authenticate',
      'authorize',
      'refuseTenancyKeys',
      'input',
      'authorizeAction',
      'audit',
      'output',
      'handle',
    ]);
  });

  it('never authorizes on behalf of a public procedure, even from hand-built metadata', () => {
    const security: ResolvedSecurity = {
      requireAuth: false,
      capability: 'tickets.read',
      anyPrincipal: false,
      resource: { type: 'ticket', id: 'ticketId' },
      audit: false,
    };
    // authorizeAction stays: on a public procedure it re-checks a presented principal only (no capability).
    expect(pipelineFor(security)).toEqual(['requestContext', 'authenticate', 'refuseTenancyKeys', 'input', 'authorizeAction', 'output', 'handle']);
  });

  it('returns a new list each time, so a caller cannot change another procedure’s chain', () => {
    const security = query({ input: TicketId, output: Ok, anyPrincipal: true })['~covenant'].security;
    const first = pipelineFor(security) as string[];
    first.push('handle');
    expect(pipelineFor(security)).toHaveLength(7);
  });
});
