/**
 * `npm run bench`: the performance benchmark of issue 7 (numbers and ratios; nothing is asserted).
 * Flags (after `npm run bench --`):
 *   --duration <s>     measured seconds per case (default 5)
 *   --warmup <s>       warm-up seconds per case, not measured (default 2)
 *   --connections <n>  concurrent connections of the load generator (default 16)
 *   --cold-tokens <n>  tokens pre-minted for the cold-token cases (default 20000)
 *   --ledger-entries <n> / --ledger-1m   entries for the ledger append + verify run (default 200000)
 *   --only <text>      run only the HTTP cases whose name contains <text>
 *   --skip-http, --skip-ledger, --skip-gen
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASES, type CaseDef, type RunnerMessage, type ServerKind, type ServerMessage } from './cases.ts';
import { benchGen, type GenResult } from './gen.ts';
import type { LoadConfig, LoadResult } from './load.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH = resolve(HERE, '..');
const REPO = resolve(BENCH, '..');

function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  return value === undefined || !Number.isFinite(value) || value <= 0 ? fallback : value;
}
function text(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? undefined : process.argv[at + 1];
}

const DURATION = option('duration', 5);
const WARMUP = option('warmup', 2);
const CONNECTIONS = option('connections', 16);
const COLD_TOKENS = option('cold-tokens', 20_000);
const LEDGER_ENTRIES = flag('ledger-1m') ? 1_000_000 : option('ledger-entries', 200_000);
const ONLY = text('only');
/** The verified-token cache's default size (@covenant/identity): cold-token lists must be longer. */
const TOKEN_CACHE_ENTRIES = 10_000;

const TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
/** The command line for a process pinned to `core`, or unpinned when taskset is missing. */
const pinned = (core: number, argv: string[]): [string, string[]] => (TASKSET ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)]);
const tsxNode = (file: string, ...args: string[]): string[] => [process.execPath, '--import', 'tsx', file, ...args];

interface Row {
  readonly name: string;
  readonly shape: 'query' | 'mutation';
  readonly server: ServerKind;
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuUsPerReq: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly tokenWraps: number;
  readonly what: string;
}

class ServerChild {
  private nextId = 0;
  private readonly waiting = new Map<number, (m: ServerMessage & { type: 'cpu' }) => void>();
  private constructor(
    private readonly child: ChildProcess,
    readonly ready: ServerMessage & { type: 'ready' },
  ) {
    child.on('message', (m: ServerMessage) => {
      if (m.type === 'cpu') this.waiting.get(m.id)?.(m);
    });
  }

  static start(kind: ServerKind, coldTokens: number): Promise<ServerChild> {
    const [cmd, args] = pinned(1, tsxNode(join(HERE, 'server.ts'), kind, String(coldTokens)));
    const child = spawn(cmd, args, { cwd: BENCH, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolveStart, reject) => {
      child.once('exit', (code) => reject(new Error(`server ${kind} exited with ${code} before it was ready`)));
      child.once('message', (m: ServerMessage) => {
        if (m.type === 'ready') resolveStart(new ServerChild(child, m));
      });
    });
  }

  cpu(): Promise<{ cpuMicros: number; requests: number }> {
    const id = this.nextId++;
    return new Promise((done) => {
      this.waiting.set(id, (m) => {
        this.waiting.delete(id);
        done(m);
      });
      this.child.send({ type: 'cpu', id } satisfies RunnerMessage);
    });
  }

  stop(): Promise<void> {
    return new Promise((done) => {
      this.child.removeAllListeners('exit');
      this.child.once('exit', () => done());
      this.child.send({ type: 'stop' } satisfies RunnerMessage);
      setTimeout(() => this.child.kill('SIGKILL'), 10_000).unref();
    });
  }
}

function load(config: LoadConfig, dir: string): Promise<LoadResult> {
  const file = join(dir, `load-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  const [cmd, args] = pinned(0, tsxNode(join(HERE, 'load.ts'), file));
  const child = spawn(cmd, args, { cwd: BENCH, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((done, reject) => {
    child.on('exit', (code) => {
      rmSync(file, { force: true });
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else done(JSON.parse(line) as LoadResult);
    });
  });
}

const fill = (template: string, vars: Readonly<Record<string, string>>): string => template.replace(/\{(\w+)\}/g, (all, key: string) => vars[key] ?? all);

async function runCase(server: ServerChild, def: CaseDef, dir: string, warmup: number): Promise<Row> {
  const { port, tokens, vars } = server.ready;
  const config: LoadConfig = {
    url: `http://127.0.0.1:${port}${fill(def.path, vars)}`,
    method: def.method,
    ...(def.body !== undefined ? { body: fill(def.body, vars) } : {}),
    seconds: warmup,
    connections: CONNECTIONS,
    tokens: def.token === undefined ? [] : def.token === 'warm' ? tokens.slice(0, 1) : tokens.slice(1),
  };
  await load(config, dir);
  const before = await server.cpu();
  const result = await load({ ...config, seconds: DURATION }, dir);
  const after = await server.cpu();
  // Responses the server finished during the measured window (the CPU probe itself goes over IPC, not HTTP).
  const requests = after.requests - before.requests;
  return {
    name: def.name,
    shape: def.shape,
    server: def.server,
    reqPerSec: result.reqPerSec,
    p50: result.p50,
    p99: result.p99,
    cpuUsPerReq: requests > 0 ? (after.cpuMicros - before.cpuMicros) / requests : NaN,
    requests: result.requests,
    non2xx: result.non2xx,
    errors: result.errors,
    tokenWraps: result.tokenWraps,
    what: def.what,
  };
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const ratio = (a: number, b: number | undefined): string => (b === undefined || !Number.isFinite(a) || !(b > 0) ? 'n/a' : `${(a / b).toFixed(2)}x`);

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function runLedger(): Promise<Record<string, unknown>> {
  const ledgerDir = join(REPO, 'packages/ledger');
  const run = (file: string, args: string[]): string => {
    const [cmd, argv] = pinned(1, tsxNode(file, ...args));
    const result = spawnSync(cmd, argv, { cwd: ledgerDir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
    if (result.status !== 0) throw new Error(`${file} exited with ${result.status}`);
    return result.stdout;
  };
  const lastJson = (out: string): Record<string, unknown> => JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  console.log(`\n== ledger: packages/ledger/bench/verify-ledger.ts ${LEDGER_ENTRIES} (durable appends with group commit, then verifyLedger)`);
  const verifyOut = run('bench/verify-ledger.ts', [String(LEDGER_ENTRIES)]);
  const lines = verifyOut.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{') && !l.startsWith('goal'));
  console.log(lines.map((l) => `  ${l}`).join('\n'));
  const verify = lastJson(verifyOut) as { entries: number; small: { entriesPerSecond: number }; bulk: { entriesPerSecond: number }; verifySeconds: number; ok: boolean };
  console.log(`== ledger: packages/ledger/bench/merkle.ts ${LEDGER_ENTRIES} (in-memory tree: inclusion proofs)`);
  const merkle = lastJson(run('bench/merkle.ts', [String(LEDGER_ENTRIES)])) as { inclusionProofAvgUs: number; inclusionVerifyAvgUs: number };
  console.log(`  inclusion proof generation ${merkle.inclusionProofAvgUs} µs, verification ${merkle.inclusionVerifyAvgUs} µs (averages)`);
  return { ...verify, verifySecondsScaledTo1M: (verify.verifySeconds * 1_000_000) / verify.entries, merkle };
}

async function main(): Promise<void> {
  const started = new Date();
  console.log(`covenant bench — ${started.toISOString()}, Node ${process.version}, ${DURATION} s measured + ${WARMUP} s warm-up per case, ${CONNECTIONS} connections (autocannon)`);
  console.log(
    TASKSET
      ? 'pinning: each server on core 1 (taskset -c 1), the load generator on core 0 (taskset -c 0)'
      : 'pinning: NOT pinned — taskset is not available on this machine; numbers include scheduler noise',
  );
  const dir = mkdtempSync(join(tmpdir(), 'covenant-bench-run-'));
  const rows: Row[] = [];
  const skipped: string[] = [];
  try {
    if (!flag('skip-http')) {
      const wanted = CASES.filter((c) => ONLY === undefined || c.name.includes(ONLY));
      for (const kind of ['raw', 'trpc', 'orpc', 'covenant', 'covenant-trpc'] as const) {
        const cases = wanted.filter((c) => c.server === kind);
        if (cases.length === 0) continue;
        let server: ServerChild;
        try {
          server = await ServerChild.start(kind, cases.some((c) => c.token === 'cold') ? COLD_TOKENS : 0);
        } catch (error) {
          const why = `${kind} server did not start: ${(error as Error).message}`;
          console.log(`  SKIPPED ${cases.map((c) => c.name).join(', ')} — ${why}`);
          skipped.push(why);
          continue;
        }
        try {
          for (const [i, def] of cases.entries()) {
            process.stdout.write(`  running ${def.name} ...`);
            // A fresh server (JIT, caches, the garbage of seeding) needs longer: the first case warms up twice as long.
            const row = await runCase(server, def, dir, i === 0 ? 2 * WARMUP : WARMUP);
            rows.push(row);
            process.stdout.write(` ${fmt(row.reqPerSec)} req/s\n`);
          }
        } finally {
          await server.stop();
        }
      }
    }

    const base = (server: ServerKind, shape: 'query' | 'mutation'): number | undefined =>
      rows.find((r) => r.server === server && (server === 'raw' || r.shape === shape))?.reqPerSec;
    if (rows.length > 0) {
      console.log('\nHTTP cases (ratios are throughput against the baseline of the same shape measured in this run: query vs query, mutation vs mutation)\n');
      console.log(
        table(
          ['case', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'vs bare tRPC', 'vs bare oRPC', 'vs raw node:http', 'non-2xx'],
          rows.map((r) => [
            r.name,
            fmt(r.reqPerSec),
            fmt(r.p50, 2),
            fmt(r.p99, 2),
            fmt(r.cpuUsPerReq),
            ratio(r.reqPerSec, base('trpc', r.shape)),
            ratio(r.reqPerSec, base('orpc', r.shape)),
            ratio(r.reqPerSec, base('raw', r.shape)),
            String(r.non2xx + r.errors),
          ]),
        ),
      );
      const wrapped = rows.filter((r) => r.tokenWraps > 0);
      if (wrapped.length > 0) {
        console.log(
          `\nnote: ${wrapped.map((r) => r.name).join(', ')} used more requests than the ${COLD_TOKENS} pre-minted tokens, so tokens were reused after the list ran out. ${
            COLD_TOKENS > TOKEN_CACHE_ENTRIES
              ? `They still missed the verified-token cache: the list is longer than the cache (${fmt(TOKEN_CACHE_ENTRIES)} entries), so a token comes round again only after others evicted it.`
              : `The list is not longer than the verified-token cache (${fmt(TOKEN_CACHE_ENTRIES)} entries), so reused tokens were cache hits: these rows are NOT cold; raise --cold-tokens above ${fmt(TOKEN_CACHE_ENTRIES)}.`
          }`,
        );
      }
    }

    let ledger: Record<string, unknown> | undefined;
    if (!flag('skip-ledger')) {
      try {
        ledger = await runLedger();
      } catch (error) {
        skipped.push(`ledger: ${(error as Error).message}`);
        console.log(`  ledger bench failed: ${(error as Error).message}`);
      }
    }
    let gen: GenResult | undefined;
    if (!flag('skip-gen')) {
      console.log('\n== covenant gen + client type-check for a generated 1,000-procedure contract set');
      try {
        gen = await benchGen(REPO, 1_000);
        console.log(`  covenant gen: ${gen.genSeconds.toFixed(2)} s (${gen.procedures} procedures in ${gen.files} contract files)`);
        console.log(`  tsc --noEmit of the generated client: ${gen.typecheckSeconds.toFixed(2)} s`);
      } catch (error) {
        skipped.push(`gen: ${(error as Error).message}`);
        console.log(`  gen bench failed: ${(error as Error).message}`);
      }
    }

    // The goals of issue 7, reported (never asserted).
    console.log('\nGoals of issue 7 (measured in this run; the notes explain what holds back a goal that is not met)');
    const goals: Array<{ goal: string; measured: string; met: boolean | null }> = [];
    const row = (name: string): Row | undefined => rows.find((r) => r.name === name);
    const cq = row('Covenant query (warm token)');
    const cm = row('Covenant audited mutation (warm token)');
    const tq = row('bare tRPC query');
    const tm = row('bare tRPC mutation');
    const oq = row('bare oRPC query');
    const add = (goal: string, measured: string, met: boolean | null): void => {
      goals.push({ goal, measured, met });
    };
    add('Covenant secured query ≥ 3x bare tRPC query', cq && tq ? ratio(cq.reqPerSec, tq.reqPerSec) : 'not measured', cq && tq ? cq.reqPerSec >= 3 * tq.reqPerSec : null);
    add('Covenant secured query ≥ 1x bare oRPC', cq && oq ? ratio(cq.reqPerSec, oq.reqPerSec) : 'not measured', cq && oq ? cq.reqPerSec >= oq.reqPerSec : null);
    add('Covenant secured query p99 ≤ bare tRPC p99', cq && tq ? `${fmt(cq.p99, 2)} ms vs ${fmt(tq.p99, 2)} ms` : 'not measured', cq && tq ? cq.p99 <= tq.p99 : null);
    add('Covenant audited mutation ≥ 2x bare tRPC mutation', cm && tm ? ratio(cm.reqPerSec, tm.reqPerSec) : 'not measured', cm && tm ? cm.reqPerSec >= 2 * tm.reqPerSec : null);
    const lv = ledger as { small?: { entriesPerSecond: number }; bulk?: { entriesPerSecond: number }; verifySecondsScaledTo1M?: number; entries?: number; merkle?: { inclusionProofAvgUs: number } } | undefined;
    add(
      'Ledger ≥ 100,000 durable appends/s (single-entry appends by concurrent callers)',
      lv?.small ? `${fmt(lv.small.entriesPerSecond)}/s (bulk, 10 callers × 1,000 entries per call: ${fmt(lv.bulk?.entriesPerSecond ?? NaN)}/s)` : 'not measured',
      lv?.small ? lv.small.entriesPerSecond >= 100_000 : null,
    );
    add(
      'ledger verify of 1M entries ≤ 5 s',
      lv?.verifySecondsScaledTo1M !== undefined ? `${lv.verifySecondsScaledTo1M.toFixed(1)} s${lv.entries === 1_000_000 ? '' : ` (scaled linearly from ${fmt(lv.entries ?? NaN)} entries; --ledger-1m measures 1M)`}` : 'not measured',
      lv?.verifySecondsScaledTo1M !== undefined ? lv.verifySecondsScaledTo1M <= 5 : null,
    );
    add(
      'inclusion proof ≤ 100 µs (in-memory tree, merkle.ts)',
      lv?.merkle ? `${lv.merkle.inclusionProofAvgUs} µs at ${fmt(lv.entries ?? NaN)} leaves` : 'not measured',
      lv?.merkle ? lv.merkle.inclusionProofAvgUs <= 100 : null,
    );
    add('covenant gen for 1,000 procedures ≤ 3 s', gen ? `${gen.genSeconds.toFixed(2)} s` : 'not measured', gen ? gen.genSeconds <= 3 : null);
    add('generated client type-checks in ≤ 10 s', gen ? `${gen.typecheckSeconds.toFixed(2)} s` : 'not measured', gen ? gen.typecheckSeconds <= 10 : null);
    console.log(
      table(
        ['goal', 'measured', 'status'],
        goals.map((g) => [g.goal, g.measured, g.met === null ? 'not measured' : g.met ? 'met' : 'NOT met']),
      ),
    );
    if (skipped.length > 0) console.log(`\nskipped or failed: ${skipped.join('; ')}`);

    const outDir = join(REPO, 'bench-results');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ startedAt: started.toISOString(), node: process.version, pinned: TASKSET, durationSeconds: DURATION, warmupSeconds: WARMUP, connections: CONNECTIONS, coldTokens: COLD_TOKENS, http: rows, ledger, gen, goals, skipped }, null, 2)}\n`,
    );
    console.log(`\nresults written to ${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
