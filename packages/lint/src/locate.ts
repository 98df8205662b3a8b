import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The lint reads resolved values, not syntax, so it cannot point at a node; it points at the first line
 * that names the procedure key (or the sanction), which is where a reader would look. Best effort.
 */
export async function locate(root: string, file: string | null, ...needles: ReadonlyArray<RegExp>): Promise<number | null> {
  if (file === null) return null;
  const text = await readFile(join(root, file), 'utf8').catch(() => null);
  if (text === null) return null;
  const lines = text.split('\n');
  for (const needle of needles) {
    const index = lines.findIndex((line) => needle.test(line));
    if (index !== -1) return index + 1;
  }
  return null;
}

/** `create: mutation(` first, then any `create:` as a fallback (a procedure built by a helper). */
export function procedureKeyPatterns(path: string): RegExp[] {
  const key = escape(path.split('.').at(-1) ?? path);
  return [
    new RegExp(`(^|[\\s{,])['"]?${key}['"]?\\s*:\\s*(query|mutation)\\(`),
    new RegExp(`(^|[\\s{,])['"]?${key}['"]?\\s*:`),
  ];
}

/** The generated `.meta(covenant.seal('tickets.list', …))` line of a procedure, either quote style. */
export function sealPattern(path: string): RegExp {
  return new RegExp(`seal\\(['"]${escape(path)}['"]`);
}

export function sanctionPattern(path: string): RegExp {
  return new RegExp(`"procedure"\\s*:\\s*"${escape(path)}"`);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
