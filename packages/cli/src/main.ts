import { stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { ContractLoadError, checkGenerated, generateOutputs, writeGenerated, type ConformanceOptions } from '@covenant/codegen';
import { formatReport, lintProject, readSanctions, type LintFormat } from '@covenant/lint';
import { ConfigError, readProjectConfig, type ConformanceConfig, type ProjectConfig } from './config.ts';
import { initCommand } from './init-command.ts';
import { ledgerCommand } from './ledger-command.ts';
import { rbacCommand } from './rbac-bootstrap.ts';
import { sessionsCommand } from './sessions-command.ts';
import { UsageError, parseFlags as parse } from './usage-error.ts';

const USAGE = `covenant — contract-first RPC with the security policy built in

Usage:
  covenant gen  [--contracts <dir>] [--out <dir>] [--check]
  covenant lint [--contracts <dir>] [--sanctions <file>] [--generated <dir>] [--format text|json|sarif]
  covenant rbac bootstrap --database <sqlite file> --org <org> --admin <subject> --reason <text> --operator <name>
                          --ledger-key <file> [--ledger-state <file>] [--origin <origin>] [--contracts <dir>]
  covenant rbac extend-admin --database <sqlite file> --org <org> --reason <text> --operator <name>
                          --ledger-key <file> [--ledger-state <file>] [--origin <origin>] [--contracts <dir>]
  covenant rbac recover --database <sqlite file | postgres:// url> --org <org> --admin <subject> --reason <text>
                        --operator <name> --ledger-key <file> [--ledger-state <file>] [--origin <origin>] [--contracts <dir>]
  covenant ledger verify --database <sqlite file | postgres:// url> --origin <origin> --key-name <name> --public-key <base64>
                         [--trusted-checkpoint <file>]
  covenant ledger prove <seq> --database <sqlite file | postgres:// url> --origin <origin> --key-name <name> --public-key <base64>
  covenant ledger checkpoint --database <sqlite file | postgres:// url> --origin <origin> --key-name <name> --public-key <base64>
  covenant sessions revoke --database <sqlite file | postgres:// url> --org <org>
                           (--session <sid> | --token-id <jti> --until <iso time>) --reason <text> --operator <name>
                           --ledger-key <file> [--ledger-state <file>] [--origin <origin>]
  covenant init [dir] [--name <package name>] [--force]

Defaults come from the "covenant" field of the nearest package.json. With covenant.conformance set to
{ "out": "<test file>", "harness": "<module>" }, gen (and gen --check) also covers per-procedure conformance
tests for the configured contracts. --ledger-key, --ledger-state and --origin default to
COVENANT_LEDGER_KEY_FILE, COVENANT_LEDGER_STATE_FILE (else <ledger key>.state) and COVENANT_LEDGER_ORIGIN
(else covenant.local/service), as the service reads them. --ledger-state is the file holding the log's
highest signed head; a ledger shorter than it, or forked, is refused. ledger verify --trusted-checkpoint
takes that file too. sessions revoke works on the running service's database: the service refuses the
session's (or the token's) next call. rbac recover is for an org nobody can administer any more: it
restores the bootstrap role, lifts the admin's denies and binds --admin org-wide, recorded; it refuses an
org someone can still administer. init writes a new project (contracts, handlers, a service on SQLite, a
test, CI) into dir (default: the working directory), named --name (default: the folder's name); it refuses
a folder with anything in it but .git unless --force, which lists the files it replaces. --help after any
command prints this usage.
Exit codes: 0 ok (help included), 1 violations or drift or invalid contracts or a refused rbac change or a
ledger that does not verify or a revocation that could not be recorded or a folder init refuses, 2 usage error.
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
  // `covenant <command> … --help`: the usage, whatever else the line says.
  if (command !== undefined && rest.includes('--help')) {
    io.stdout(USAGE);
    return 0;
  }
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
      case 'sessions':
        return await sessionsCommand(rest, io);
      case 'init':
        return await initCommand(rest, io);
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
  let config;
  try {
    config = await readProjectConfig(io.cwd);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`covenant gen: ${error.message}\n`);
    return 2;
  }
  // Flags are relative to the working directory, package.json settings to the project root.
  const contractsDir = values.contracts !== undefined ? resolve(io.cwd, values.contracts) : resolve(config.root, config.contracts);
  if (values.out === undefined && config.out === null) {
    throw new UsageError('no output folder: pass --out or set covenant.out in package.json');
  }
  const outDir = values.out !== undefined ? resolve(io.cwd, values.out) : resolve(config.root, config.out!);

  // Conformance tests belong to the configured contracts: `--contracts <other dir>` generates without them.
  let conformance: ConformanceOptions | undefined;
  if (config.conformance !== null && contractsDir === resolve(config.root, config.contracts)) {
    const prepared = await conformanceOptions(config, config.conformance, io);
    if (typeof prepared === 'number') return prepared;
    conformance = prepared;
  }

  let outputs;
  try {
    outputs = await generateOutputs({ root: config.root, contractsDir, outDir, ...(conformance !== undefined ? { conformance } : {}) });
  } catch (error) {
    if (!(error instanceof ContractLoadError)) throw error;
    io.stderr(`covenant gen: nothing was written; fix these contract files first:\n`);
    for (const problem of error.problems) io.stderr(`  ${problem.file}: ${problem.message.replace(/\n/g, '\n    ')}\n`);
    return 1;
  }

  const shown = (dir: string): string => relative(io.cwd, dir) || '.';
  if (values.check) {
    const drifted: string[] = [];
    for (const output of outputs) {
      const drift = await checkGenerated(output.dir, output.files);
      const at = shown(output.dir);
      drifted.push(
        ...drift.changed.map((name) => `${at}/${name} (differs from the contracts)`),
        ...drift.missing.map((name) => `${at}/${name} (missing)`),
        ...drift.extra.map((name) => `${at}/${name} (no longer generated)`),
      );
    }
    if (drifted.length === 0) {
      for (const output of outputs) {
        const count = output.files.length === 1 ? '1 file' : `${output.files.length} files`;
        io.stdout(`covenant gen --check: ${count} up to date in ${shown(output.dir)}\n`);
      }
      return 0;
    }
    io.stderr(`covenant gen --check: generated code has drifted from the contracts; run covenant gen:\n`);
    for (const line of drifted) io.stderr(`  ${line}\n`);
    return 1;
  }
  for (const output of outputs) {
    await writeGenerated(output.dir, output.files);
    io.stdout(`covenant gen: wrote ${output.files.map((f) => f.name).join(', ')} to ${shown(output.dir)}\n`);
  }
  return 0;
}

/**
 * The conformance settings with the harness checked and the sanctions read, or the exit code after saying
 * what is wrong (2: the configuration; 1: the sanctions file).
 */
async function conformanceOptions(config: ProjectConfig, conformance: ConformanceConfig, io: Io): Promise<ConformanceOptions | number> {
  const harness = resolve(config.root, conformance.harness);
  const found = await stat(harness).catch(() => null);
  if (found === null || !found.isFile()) {
    io.stderr(
      `covenant gen: covenant.conformance.harness: ${relative(io.cwd, harness) || harness} does not exist; ` +
        'write it first (it exports createConformanceHarness, see @covenant/testkit/conformance)\n',
    );
    return 2;
  }
  const sanctionsFile = resolve(config.root, config.sanctions);
  const sanctions = await readSanctions(sanctionsFile);
  if (!sanctions.ok) {
    io.stderr(`covenant gen: nothing was written; ${relative(io.cwd, sanctionsFile)} is malformed (the conformance tests read it):\n`);
    for (const problem of sanctions.problems) io.stderr(`  ${problem}\n`);
    return 1;
  }
  return {
    out: conformance.out,
    harness: conformance.harness,
    sanctions: sanctions.sanctions,
    sanctionsFile: relative(config.root, sanctionsFile).split(sep).join('/'),
  };
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
