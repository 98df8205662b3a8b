import { parseArgs } from 'node:util';

/** A command line that cannot be run as written: `main` prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type FlagOptions = Record<string, { type: 'string' | 'boolean' }>;

/** Strict flag parsing: an unknown flag or a positional argument is a usage error. */
export function parseFlags<T extends FlagOptions>(args: ReadonlyArray<string>, options: T) {
  return parseCommandLine(args, options, 0).values;
}

/** Strict parsing of flags and at most `maxPositionals` positional arguments; anything else is a usage error. */
export function parseCommandLine<T extends FlagOptions>(args: ReadonlyArray<string>, options: T, maxPositionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: maxPositionals > 0 });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return parsed;
}
