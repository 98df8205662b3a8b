import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Defaults for the CLI, read from the `covenant` field of the nearest package.json. */
export interface ProjectConfig {
  readonly root: string;
  readonly contracts: string;
  readonly out: string | null;
  readonly sanctions: string;
}

/**
 * Finds the nearest package.json (from `cwd` upwards) that has a `covenant` field, else the nearest one.
 * Flags override what it says.
 */
export async function readProjectConfig(cwd: string): Promise<ProjectConfig> {
  let nearest: string | null = null;
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => null);
    if (text !== null) {
      nearest ??= dir;
      const field = (JSON.parse(text) as { covenant?: Record<string, unknown> }).covenant;
      if (field !== undefined) {
        if (field === null || typeof field !== 'object') throw new TypeError(`${join(dir, 'package.json')}: "covenant" must be an object`);
        return {
          root: dir,
          contracts: stringField(field, 'contracts', dir) ?? 'contracts',
          out: stringField(field, 'out', dir) ?? null,
          sanctions: stringField(field, 'sanctions', dir) ?? 'contracts/sanctions.json',
        };
      }
    }
    if (dirname(dir) === dir) break;
  }
  return { root: nearest ?? resolve(cwd), contracts: 'contracts', out: null, sanctions: 'contracts/sanctions.json' };
}

function stringField(field: Record<string, unknown>, key: string, dir: string): string | undefined {
  const value = field[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`${join(dir, 'package.json')}: covenant.${key} must be a string`);
  return value;
}
