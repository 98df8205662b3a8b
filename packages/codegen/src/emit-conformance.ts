import type { ManifestProcedure } from '@covenant/contract/manifest';
import type { GenerationPlan } from './generation-plan.ts';
import { header, quote } from './header.ts';

export interface ConformanceEmitOptions {
  /** The harness module, relative to the test file, with its `.ts` extension (`../conformance-harness.ts`). */
  readonly harnessSpecifier: string;
  /** The harness file relative to the project root, for the header. */
  readonly harnessFile: string;
  /** Whether a reviewed sanction matches the procedure's path and definition hash. */
  readonly isSanctioned: (procedure: ManifestProcedure) => boolean;
  /** The sanctions file relative to the project root, for the comments. */
  readonly sanctionsFile: string;
}

/**
 * The conformance test file: one `describe(path)` per procedure, spelling out its security metadata and the
 * checks that apply to it, each with a line saying what it expects, so a reviewer reads per procedure what
 * is tested. The checks themselves live in `@covenant/testkit/conformance`; the app's harness provides
 * principals, inputs and its ledger.
 */
export function emitConformance(plan: GenerationPlan, options: ConformanceEmitOptions): string {
  const procedures = plan.contracts
    .flatMap((contract) => contract.procedures.map((procedure) => procedure.manifest))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return [
    header(plan, oneLine(`Conformance tests: what each procedure's contract promises, checked against the app over HTTP (harness: ${options.harnessFile}).`)),
    `import { describe } from 'vitest';`,
    `import { conformanceSuite } from '@covenant/testkit/conformance';`,
    `import { createConformanceHarness } from ${quote(options.harnessSpecifier)};`,
    '',
    'const suite = conformanceSuite(createConformanceHarness);',
    ...procedures.flatMap((procedure) => ['', ...emitProcedure(procedure, options)]),
    '',
  ].join('\n');
}

function emitProcedure(procedure: ManifestProcedure, options: ConformanceEmitOptions): string[] {
  const { security } = procedure;
  const notFound = Object.entries(procedure.errors)
    .filter(([, declaration]) => declaration.status === 404)
    .map(([code]) => code);
  const capability = security.capability;
  const resource = security.resource;
  const sanctioned = !security.requireAuth && options.isSanctioned(procedure);

  const who = !security.requireAuth
    ? sanctioned
      ? `public, sanctioned in ${options.sanctionsFile}`
      : `public WITHOUT a matching sanction in ${options.sanctionsFile}: expected to refuse callers without a token until one is reviewed`
    : capability !== null
      ? `requires ${capability}${resource ? ` on ${resource.type} (input.${resource.id})` : ''}`
      : 'any signed-in principal';
  const summary = [procedure.kind, who, security.audit ? 'audited' : 'not audited'].join(' · ');

  const checks: Array<[string, string]> = [];
  if (sanctioned) {
    checks.push(['servesAnonymous', 'Served without a token; a token that is present must verify (else 401).']);
  } else {
    checks.push(['refusesAnonymous', 'No token, or a token that does not verify: 401, and nothing on the ledger.']);
  }
  if (security.requireAuth) {
    const holder = capability !== null ? `A holder of ${capability} in the home tenant` : 'A principal of the home tenant with no grants';
    checks.push([
      'servesAllowed',
      security.audit
        ? `${holder} is served; the ledger has its intent and exactly one ok outcome with the same request id.`
        : `${holder} is served; no intent is written (not audited).`,
    ]);
  }
  if (capability !== null) {
    checks.push(['refusesLackingCapability', `Every capability but ${capability}, in the home tenant: 403 ERR_AUTHZ_DENIED, a denial entry, no intent.`]);
    const refusal = notFound.length > 0 ? `404 ${notFound.join(' or ')} (or 403)` : '403 ERR_AUTHZ_DENIED';
    checks.push([
      'isolatesTenants',
      resource !== null
        ? `Another org's holder of ${capability}: served its own ${resource.type}; the home tenant's is ${refusal}.`
        : `Another org's holder of ${capability}: answered from its own tenant only (or ${refusal}), never with the home tenant's data.`,
    ]);
  }

  const spec = [
    `path: ${quote(procedure.path)}`,
    `kind: ${quote(procedure.kind)}`,
    `requireAuth: ${security.requireAuth}`,
    `capability: ${capability === null ? 'null' : quote(capability)}`,
    `anyPrincipal: ${security.anyPrincipal}`,
    `resource: ${resource === null ? 'null' : `{ type: ${quote(resource.type)}, id: ${quote(resource.id)} }`}`,
    `audit: ${security.audit}`,
    `notFound: [${notFound.map(quote).join(', ')}]`,
  ];
  return [
    `describe(${quote(procedure.path)}, () => {`,
    `  // ${oneLine(summary)}`,
    '  const procedure = suite.procedure({',
    ...spec.map((line) => `    ${line},`),
    '  });',
    ...checks.flatMap(([method, comment]) => [`  // ${oneLine(comment)}`, `  procedure.${method}();`]),
    '});',
  ];
}

/** Comment text stays on its line whatever a path or name contains. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ');
}
