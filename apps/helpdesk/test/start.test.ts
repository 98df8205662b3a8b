import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '@covenant/identity';
import { createSignerKeyFile } from '@covenant/ledger/node';
import { openDevIdentity } from '../src/dev-identity.ts';
import { startHelpdesk } from './helpdesk-harness.ts';

// `npm start`, `npm run token` and `npm run demo` as processes: what they refuse, and that the service
// serves and reuses its data. Every run gets its own COVENANT_DATA_DIR, so apps/helpdesk/data is never touched.
const APP = join(dirname(fileURLToPath(import.meta.url)), '..');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-start-'));
  dirs.push(dir);
  return dir;
}

/** The environment of a run: nothing of the caller's Covenant settings leaks in. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('COVENANT_') && name !== 'NODE_ENV' && name !== 'PORT'));
  return { ...clean, ...extra };
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `src/<script>` to its end (or until `until(stdout)` holds, then stops it). */
function run(script: string, extra: Record<string, string>, args: string[] = [], until?: (stdout: string) => boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `src/${script}`, ...args], { cwd: APP, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (until?.(stdout)) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Production with a (never contacted) identity provider: what is left to refuse is the ledger's configuration. */
const PRODUCTION_IDENTITY = {
  NODE_ENV: 'production',
  COVENANT_ISSUER: 'https://id.example',
  COVENANT_AUDIENCE: 'urn:example',
  COVENANT_JWKS_URL: 'https://id.example/jwks.json',
} as const;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('npm start', () => {
  it('serves on first run (seeding the demo orgs, creating its keys mode 0600), and a second start reuses the data', async () => {
    const data = tempDir();
    const port = String(await freePort());
    const first = await run('main.ts', { COVENANT_DATA_DIR: data, PORT: port }, [], (out) => out.includes('audit ledger:'));
    expect(first.stdout).toContain(`covenant helpdesk listening on http://127.0.0.1:${port} (seeded the demo orgs acme and globex)`);
    expect(first.stdout).toContain('TOKEN=$(npm run --silent token -- ann)');
    expect(first.stdout).toMatch(/npx covenant ledger verify --database '.+covenant\.db' --origin 'covenant\.local\/service' .+ --public-key '[A-Za-z0-9+/]{43}='/);
    for (const file of ['covenant.db', 'dev-issuer.jwk', 'ledger.key', 'ledger.key.state']) expect(existsSync(join(data, file)), file).toBe(true);
    for (const file of ['dev-issuer.jwk', 'ledger.key', 'ledger.key.state']) expect(statSync(join(data, file)).mode & 0o777, file).toBe(0o600);

    const second = await run('main.ts', { COVENANT_DATA_DIR: data, PORT: port }, [], (out) => out.includes('audit ledger:'));
    expect(second.stdout).toContain(`covenant helpdesk listening on http://127.0.0.1:${port}\n`);
    expect(second.stdout).not.toContain('seeded');
  }, 60_000);

  it('refuses the development identity under NODE_ENV=production, and half an issuer configuration anywhere', async () => {
    const data = tempDir();
    const production = await run('main.ts', { COVENANT_DATA_DIR: data, NODE_ENV: 'production' });
    expect(production.code).not.toBe(0);
    expect(production.stderr).toContain('NODE_ENV=production needs COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL');
    expect(existsSync(join(data, 'dev-issuer.jwk'))).toBe(false);

    const half = await run('main.ts', { COVENANT_DATA_DIR: data, COVENANT_ISSUER: 'https://id.example' });
    expect(half.code).not.toBe(0);
    expect(half.stderr).toContain('set COVENANT_ISSUER, COVENANT_AUDIENCE and COVENANT_JWKS_URL together (only COVENANT_ISSUER is set)');
    expect(existsSync(join(data, 'covenant.db'))).toBe(false);
  }, 30_000);

  it('in production, refuses to start without COVENANT_LEDGER_KEY_FILE (and creates no key)', async () => {
    const data = tempDir();
    const result = await run('main.ts', {
      COVENANT_DATA_DIR: data,
      ...PRODUCTION_IDENTITY,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('NODE_ENV=production needs COVENANT_LEDGER_KEY_FILE');
    expect(existsSync(join(data, 'ledger.key'))).toBe(false);
  }, 30_000);

  it('in production, refuses to start without COVENANT_LEDGER_STATE_FILE (where the ledger keeps its highest signed head)', async () => {
    const data = tempDir();
    const keyFile = join(data, 'ledger.key');
    createSignerKeyFile(keyFile);
    const result = await run('main.ts', {
      COVENANT_DATA_DIR: data,
      ...PRODUCTION_IDENTITY,
      COVENANT_LEDGER_KEY_FILE: keyFile,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('NODE_ENV=production needs COVENANT_LEDGER_STATE_FILE');
    expect(existsSync(join(data, 'covenant.db'))).toBe(false);
  }, 30_000);
});

describe('npm start on a full disk', () => {
  it('starts, serves and stops cleanly with stdout on a device that refuses every write (/dev/full: ENOSPC)', async () => {
    const data = tempDir();
    const port = await freePort();
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: APP,
      env: env({ COVENANT_DATA_DIR: data, PORT: String(port) }),
      stdio: ['ignore', full, 'pipe'],
    });
    closeSync(full);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // Serving means: the banner and every log line were refused by the device, and nothing stopped.
      let health: Response | undefined;
      for (let attempt = 0; attempt < 600 && health === undefined; attempt += 1) {
        health = await fetch(`http://127.0.0.1:${port}/platform.health?input=%7B%7D`).catch(() => undefined);
        if (health === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(health?.status, stderr).toBe(200);
      // Calls that log (a refused one, an unknown procedure) keep being answered.
      for (let i = 0; i < 20; i += 1) {
        expect((await fetch(`http://127.0.0.1:${port}/tickets.list?input=%7B%7D`)).status).toBe(401);
        expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  }, 60_000);
});

describe('npm run token and npm run demo', () => {
  it('refuse under NODE_ENV=production with exit 2', async () => {
    const data = tempDir();
    const token = await run('token.ts', { COVENANT_DATA_DIR: data, NODE_ENV: 'production' }, ['ann']);
    expect(token).toMatchObject({ code: 2, stdout: '' });
    expect(token.stderr).toContain('refused under NODE_ENV=production');
    const demo = await run('demo.ts', { COVENANT_DATA_DIR: data, NODE_ENV: 'production' });
    expect(demo.code).toBe(2);
    expect(demo.stderr).toContain('refused under NODE_ENV=production');
  }, 30_000);

  it('npm run demo against a helpdesk of another development identity names the data folder it used (not a function)', async () => {
    const helpdesk = await startHelpdesk({ seed: false });
    try {
      const data = tempDir();
      await openDevIdentity(join(data, 'dev-issuer.jwk')); // not the running service's key
      createSignerKeyFile(join(data, 'ledger.key'));
      writeFileSync(join(data, 'covenant.db'), '');
      const demo = await run('demo.ts', { COVENANT_DATA_DIR: data, COVENANT_DEMO_URL: helpdesk.url });
      expect(demo.code).toBe(1);
      expect(demo.stderr).toContain(`refuses tokens of the development identity in ${data} (ERR_IDENTITY_TOKEN_INVALID)`);
      expect(demo.stderr).not.toMatch(/=>|function|\{/);
    } finally {
      await helpdesk.close();
    }
  }, 30_000);

  it('npm run token mints a token the development identity verifies, for a demo user only', async () => {
    const data = tempDir();
    const minted = await run('token.ts', { COVENANT_DATA_DIR: data }, ['ann']);
    expect(minted.code).toBe(0);
    const identity = await openDevIdentity(join(data, 'dev-issuer.jwk'));
    const principal = await createTokenVerifier(identity.verifierOptions).verify(minted.stdout.trim());
    expect(principal).toMatchObject({ subject: 'ann', tenant: { org: 'acme', workspace: 'support' } });
    const unknown = await run('token.ts', { COVENANT_DATA_DIR: data }, ['mallory']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no demo user "mallory"');
  }, 30_000);
});

describe('npm run migrate', () => {
  it('migrates the SQLite database and exits (then finds it current); on PostgreSQL it needs the owner\'s URL (exit 2)', async () => {
    const data = tempDir();
    const first = await run('migrate.ts', { COVENANT_DATA_DIR: data });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe('npm run migrate: ran 0001-rbac, 0002-ledger, 0003-revocations, 0004-service-role, 0005-ledger-checkpoint-covers-log, 1001-helpdesk, 1002-helpdesk-tenancy, 1003-helpdesk-service-role\n');
    expect(existsSync(join(data, 'covenant.db'))).toBe(true);
    expect(await run('migrate.ts', { COVENANT_DATA_DIR: data })).toMatchObject({ code: 0, stdout: 'npm run migrate: the schema is current\n' });
    const serving = await run('migrate.ts', { COVENANT_DATABASE_URL: 'postgres://helpdesk_app@127.0.0.1:1/helpdesk' });
    expect(serving.code).toBe(2);
    expect(serving.stderr).toContain('set COVENANT_MIGRATION_DATABASE_URL');
  }, 30_000);
});

describe('the development issuer key', () => {
  it('is refused when group or others may read it', async () => {
    const path = join(tempDir(), 'dev-issuer.jwk');
    await openDevIdentity(path);
    chmodSync(path, 0o644);
    await expect(openDevIdentity(path)).rejects.toThrow(/must be readable by its owner only/);
  });
});
