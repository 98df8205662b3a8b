import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Defaults for the CLI, read from the `covenant` field of the nearest package.json. */
export interface ProjectConfig {
  readonly root: string;
  readonly contracts: string;
  readonly out: string | null;
  readonly sanctions: string;
  /** `covenant gen` also writes conformance tests when this is set (paths relative to `root`). */
  readonly conformance: ConformanceConfig | null;
}

/** `"conformance": { "out": "apps/shop/test/generated/conformance.test.ts", "harness": "apps/shop/test/conformance-harness.ts" }` */
export interface ConformanceConfig {
  /** The test file `covenant gen` writes; a `.test.ts` or `.spec.ts` file, so that vitest runs it. */
  readonly out: string;
  /** The module exporting `createConformanceHarness` that the test file imports. */
  readonly harness: string;
}

/** A `covenant` field that cannot be used as written. A TypeError, as before: callers that catch it say which field. */
export class ConfigError extends TypeError {
  override readonly name = 'ConfigError';
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
        if (field === null || typeof field !== 'object') throw new ConfigError(`${join(dir, 'package.json')}: "covenant" must be an object`);
        return {
          root: dir,
          contracts: stringField(field, 'contracts', dir) ?? 'contracts',
          out: stringField(field, 'out', dir) ?? null,
          sanctions: stringField(field, 'sanctions', dir) ?? 'contracts/sanctions.json',
          conformance: conformanceField(field['conformance'], dir),
        };
      }
    }
    if (dirname(dir) === dir) break;
  }
  return { root: nearest ?? resolve(cwd), contracts: 'contracts', out: null, sanctions: 'contracts/sanctions.json', conformance: null };
}

function stringField(field: Record<string, unknown>, key: string, dir: string): string | undefined {
  const value = field[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ConfigError(`${join(dir, 'package.json')}: covenant.${key} must be a string`);
  return value;
}

const TEST_FILE = /\.(test|spec)\.ts$/;

function conformanceField(value: unknown, dir: string): ConformanceConfig | null {
  if (value === undefined) return null;
  const where = `${join(dir, 'package.json')}: covenant.conformance`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${where} must be an object: { "out": "<test file>", "harness": "<harness module>" }`);
  }
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => key !== 'out' && key !== 'harness');
  if (unknown.length > 0) throw new ConfigError(`${where} has unknown keys: ${unknown.join(', ')} (it takes "out" and "harness")`);
  for (const key of ['out', 'harness'] as const) {
    if (typeof record[key] !== 'string' || record[key] === '') throw new ConfigError(`${where}.${key} must be a non-empty path relative to ${dir}`);
  }
  const out = record['out'] as string;
  const harness = record['harness'] as string;
  if (!TEST_FILE.test(out)) throw new ConfigError(`${where}.out must name a .test.ts or .spec.ts file, so that vitest runs it (got "${out}")`);
  if (!harness.endsWith('.ts')) throw new ConfigError(`${where}.harness must name a .ts module (got "${harness}")`);
  return { out, harness };
}
