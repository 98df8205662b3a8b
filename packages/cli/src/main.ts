import { relative, resolve } from 'node:path';
import { ContractLoadError, checkGenerated, generate, writeGenerated } from '@covenant/codegen';
import { formatReport, lintProject, type LintFormat } from '@covenant/lint';
import { readProjectConfig } from './config.ts';
import { ledgerCommand } from './ledger-command.ts';
import { rbacCommand } from './rbac-bootstrap.ts';
import { UsageError, parseFlags as parse } from './usage-error.ts';

const USAGE = `covenant — contract-first RPC with the security policy built in

Usage:
  covenant gen  [--contracts <dir>] [--out <dir>] [--check]
  covenant lint [--contracts <dir>] [--sanctions <file>] [--generated <dir>] [--format text|json|sarif]
  covenant rbac bootstrap --database <sqlite file> --org <org> --admin <subject> --reason <text> --operator <name>
                          --ledger-key <file> [--origin <origin>] [--contracts <dir>]
  covenant rbac extend-admin --database <sqlite file> --org <org> --reason <text> --operator <name>
                          --ledger-key <file> [--origin <origin>] [--contracts <dir>]
  covenant ledger verify --database <sqlite file> --origin <origin> --key-name <name> --public-key <base64>
                         [--trusted-checkpoint <file>]
  covenant ledger prove <seq> --database <sqlite file> --origin <origin>
  covenant ledger checkpoint --database <sqlite file>

Defaults come from the "covenant" field of the nearest package.json. --ledger-key and --origin default to
COVENANT_LEDGER_KEY_FILE and COVENANT_LEDGER_ORIGIN (else covenant.local/service), as the service reads them.
Exit codes: 0 ok, 1 violations or drift or invalid contracts or a refused bootstrap or a ledger that does not
verify, 2 usage error.
`;

export interface Io {
  readonly cwd: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The environment (defaults to `process.env`); tests pass their own. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const defaultIo: Io = {
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
};

/** Runs one command and returns its exit code. Never calls `process.exit`, so tests can run it in-process. */
export async function main(argv: ReadonlyArray<string>, io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'gen':
        return await gen(rest, io);
      case 'lint':
        return await lint(rest, io);
      case 'rbac':
        return await rbacCommand(rest, io);
      case 'ledger':
        return await ledgerCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return command === undefined ? 2 : 0;
      default:
        io.stderr(`covenant: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`covenant: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

async function gen(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const values = parse(args, { contracts: { type: 'string' }, out: { type: 'string' }, check: { type: 'boolean' } });
  const config = await readProjectConfig(io.cwd);
  // Flags are relative to the working directory, package.json settings to the project root.
  const contractsDir = values.contracts !== undefined ? resolve(io.cwd, values.contracts) : resolve(config.root, config.contracts);
  if (values.out === undefined && config.out === null) {
    throw new UsageError('no output folder: pass --out or set covenant.out in package.json');
  }
  const outDir = values.out !== undefined ? resolve(io.cwd, values.out) : resolve(config.root, config.out!);

  let files;
  try {
    files = await generate({ root: config.root, contractsDir, outDir });
  } catch (error) {
    if (!(error instanceof ContractLoadError)) throw error;
    io.stderr(`covenant gen: nothing was written; fix these contract files first:\n`);
    for (const problem of error.problems) io.stderr(`  ${problem.file}: ${problem.message.replace(/\n/g, '\n    ')}\n`);
    return 1;
  }

  const shown = relative(io.cwd, outDir) || '.';
  if (values.check) {
    const drift = await checkGenerated(outDir, files);
    const drifted = [
      ...drift.changed.map((name) => `${shown}/${name} (differs from the contracts)`),
      ...drift.missing.map((name) => `${shown}/${name} (missing)`),
      ...drift.extra.map((name) => `${shown}/${name} (no longer generated)`),
    ];
    if (drifted.length === 0) {
      io.stdout(`covenant gen --check: ${files.length} files up to date in ${shown}\n`);
      return 0;
    }
    io.stderr(`covenant gen --check: generated code has drifted from the contracts; run covenant gen:\n`);
    for (const line of drifted) io.stderr(`  ${line}\n`);
    return 1;
  }
  await writeGenerated(outDir, files);
  io.stdout(`covenant gen: wrote ${files.map((f) => f.name).join(', ')} to ${shown}\n`);
  return 0;
}

async function lint(args: ReadonlyArray<string>, io: Io): Promise<number> {
  const values = parse(args, {
    contracts: { type: 'string' },
    sanctions: { type: 'string' },
    generated: { type: 'string' },
    format: { type: 'string' },
  });
  const format = (values.format ?? 'text') as LintFormat;
  if (!['text', 'json', 'sarif'].includes(format)) throw new UsageError(`--format must be text, json or sarif`);
  const config = await readProjectConfig(io.cwd);
  // Flags are relative to the working directory, package.json settings to the project root. The generated
  // router is inspected when --generated names it, or when the project's own contracts are linted.
  const fromFlag = (value: string | undefined): string | undefined => (value === undefined ? undefined : resolve(io.cwd, value));
  const generatedDir =
    fromFlag(values.generated) ??
    (values.contracts === undefined && config.out !== null ? resolve(config.root, config.out) : undefined);
  const report = await lintProject({
    root: config.root,
    contractsDir: fromFlag(values.contracts) ?? resolve(config.root, config.contracts),
    sanctionsFile: fromFlag(values.sanctions) ?? resolve(config.root, config.sanctions),
    ...(generatedDir !== undefined ? { generatedDir } : {}),
  });
  io.stdout(formatReport(report, format));
  return report.violations.length > 0 ? 1 : 0;
}
