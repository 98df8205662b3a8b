import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createCovenantRuntime, type CovenantRuntime, type RouterFinding } from '@covenant/server';
import type { AnyTRPCRouter } from '@trpc/server';
import { pino } from 'pino';

type RouterFactory = (runtime: CovenantRuntime, handlers: unknown) => AnyTRPCRouter;

/**
 * Builds the generated router (`<dir>/router.ts`) with an inert runtime and walks its procedures, so a
 * hand-written `.meta()`, an extra middleware or a hand-built procedure is found before anything serves.
 * The ports refuse everything and the handlers are placeholders: nothing is ever called.
 * Returns `null` when the folder holds no generated router.
 */
export async function inspectGeneratedRouter(dir: string): Promise<RouterFinding[] | null> {
  const file = join(dir, 'router.ts');
  try {
    await access(file);
  } catch {
    return null;
  }
  // The content hash makes a long-lived process (a test, a watch mode) see an edited router.ts. The
  // contract modules it imports stay cached per process; the CLI runs once per process.
  const hash = createHash('sha256').update(await readFile(file)).digest('hex').slice(0, 16);
  const module = (await import(`${pathToFileURL(file).href}?covenant=${hash}`)) as { createRouter?: unknown };
  if (typeof module.createRouter !== 'function') {
    return [{ code: 'procedure_not_generated', path: '(router.ts)', message: 'router.ts does not export createRouter' }];
  }
  const refuse = (): never => {
    throw new Error('inspection runtime: never called');
  };
  const runtime = createCovenantRuntime({
    identity: { verify: refuse, verifyAuthorizationHeader: refuse, revalidate: refuse },
    authorization: { check: refuse },
    audit: { audited: refuse, recordDenial: refuse },
    logger: pino({ level: 'silent' }),
  });
  const placeholder: object = new Proxy(() => refuse(), { get: () => placeholder });
  const router = (module.createRouter as RouterFactory)(runtime, placeholder);
  return runtime.inspect(router);
}
