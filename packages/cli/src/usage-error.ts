import { parseArgs } from 'node:util';

/** A command line that cannot be run as written: `main` prints it with the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type FlagTypes = Record<string, { type: 'string' | 'boolean' }>;

/** The flags' values and positionals, typed from their declarations. (Spelled out: the declaration file must name the type.) */
type ParsedCommandLine<T extends FlagTypes> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>>;

/** Strict flag parsing: an unknown flag or a positional argument is a usage error. */
export function parseFlags<T extends FlagTypes>(args: ReadonlyArray<string>, options: T): ParsedCommandLine<T>['values'] {
  return parseCommandLine(args, options, 0).values;
}

/** Strict parsing of flags and at most `maxPositionals` positional arguments; anything else is a usage error. */
export function parseCommandLine<T extends FlagTypes>(args: ReadonlyArray<string>, options: T, maxPositionals: number): ParsedCommandLine<T> {
  let parsed: ParsedCommandLine<T>;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return parsed;
}
