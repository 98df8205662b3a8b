/**
 * Capability-check throughput at 100,000 bindings: a benchmark, not a test (nothing here asserts a time).
 *
 *   npx tsx packages/rbac/bench/check-throughput.ts
 *
 * Seeds one file-backed SQLite database (WAL, synchronous FULL, as `createDatabase` sets it up) in a temp
 * directory: 1,000 orgs, each bootstrapped through the public API, each with the same 50 role names, and
 * 100 bindings per org (20 subjects from a pool of 1,000 shared across orgs, 5 bindings each: org-wide,
 * workspace, one resource, a whole resource type, and a deny on one resource; a fifth of them expiring).
 *
 * Then it measures sequential `check` calls, repeated and interleaved (uncached, cold, cached, uncached, …)
 * so that drift on the machine affects every mode alike, and reports medians:
 * - uncached: `cacheSize: 0`, every check reads the epoch and loads the subject's grants;
 * - cold: the default cache, but every check is for a principal not seen before (a miss, plus the insert);
 * - cached: the default cache, a working set of principals checked over and over (one epoch read per check).
 * The last line of output is the raw numbers as JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDatabase, migrateToLatest } from '@covenant/db';
import type { Principal } from '@covenant/identity';
import type { AuthorizationRequest, ResourceSelector } from '@covenant/core';
import type { Insertable, Kysely } from 'kysely';
import { createRbacStore, type RbacStore, type RbacTables } from '../src/index.ts';

const ORGS = 1_000;
const ROLES_PER_ORG = 50;
const SUBJECT_POOL = 1_000;
const SUBJECTS_PER_ORG = 20;
const BINDINGS_PER_SUBJECT = 5; // 1,000 × 20 × 5 = 100,000 bindings
const REPEATS = 7;
const CHECKS_PER_BATCH = 4_000;
const CACHED_WORKING_SET = 500;
const COLD_BATCH = 2_000; // REPEATS × COLD_BATCH ≤ the 20,000 seeded principals: each cold batch is new

const DOMAINS = ['tickets', 'projects', 'reports', 'invoices', 'users', 'teams', 'files', 'comments', 'labels', 'boards'];
const ACTIONS = ['read', 'write', 'delete', 'admin'];
const CATALOGUE = DOMAINS.flatMap((d) => ACTIONS.map((a) => `${d}.${a}`)); // 40 capabilities

/** mulberry32: a seeded generator, so every run seeds and checks the same things. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const orgName = (o: number) => `org-${String(o).padStart(4, '0')}`;
const subjectName = (s: number) => `user-${String(s).padStart(4, '0')}`;
const subjectOf = (o: number, k: number) => (o * 7 + k * 53) % SUBJECT_POOL; // each subject is in ~20 orgs

interface Target {
  readonly org: string;
  readonly subject: string;
  readonly workspace: string | null;
}

async function seed(db: Kysely<RbacTables>): Promise<{ targets: Target[]; bindings: number; seconds: number }> {
  const started = performance.now();
  const rbac = createRbacStore({ db });
  await rbac.registerCapabilities(CATALOGUE, 'contract');
  // Every org is bootstrapped through the public API: the explicit, recorded first-admin path.
  for (let o = 0; o < ORGS; o += 1) await rbac.bootstrapTenant('bench', orgName(o), 'admin', 'benchmark tenant');

  // The bulk of the seed (roles and bindings) is written straight into the tables, in a few big
  // transactions: through the API each would be its own fsync'd transaction with a change record, and the
  // seed alone would take minutes. Only this benchmark does that; the tests build every policy through the API.
  const rand = random(42);
  const templates = Array.from({ length: ROLES_PER_ORG }, () => [...new Set(Array.from({ length: 3 }, () => CATALOGUE[Math.floor(rand() * CATALOGUE.length)]!))]);
  const at = new Date().toISOString();
  const expiring = new Date(Date.now() + 365 * 86_400_000).toISOString();
  const targets: Target[] = [];
  let bindings = ORGS; // the bootstrap bindings
  const ORGS_PER_TRANSACTION = 100;
  for (let first = 0; first < ORGS; first += ORGS_PER_TRANSACTION) {
    const roles: Array<Insertable<RbacTables['rbac_roles']>> = [];
    const caps: Array<Insertable<RbacTables['rbac_role_capabilities']>> = [];
    const rows: Array<Insertable<RbacTables['rbac_bindings']>> = [];
    for (let o = first; o < Math.min(ORGS, first + ORGS_PER_TRANSACTION); o += 1) {
      const org = orgName(o);
      templates.forEach((capabilities, r) => {
        const id = `role_${org}_${r}`;
        roles.push({ id, org, name: `role-${r}`, description: null, created_at: at });
        for (const capability of capabilities) caps.push({ role_id: id, capability });
      });
      for (let k = 0; k < SUBJECTS_PER_ORG; k += 1) {
        const subject = subjectName(subjectOf(o, k));
        const workspace = `ws-${k % 4}`;
        targets.push({ org, subject, workspace: rand() < 0.5 ? workspace : null });
        for (let b = 0; b < BINDINGS_PER_SUBJECT; b += 1) {
          const role = `role_${org}_${Math.floor(rand() * ROLES_PER_ORG)}`;
          const ticket = `t${Math.floor(rand() * 100)}`;
          const shape = [
            { effect: 'allow', workspace: null, resource_type: null, resource_id: null },
            { effect: 'allow', workspace, resource_type: null, resource_id: null },
            { effect: 'allow', workspace: null, resource_type: 'ticket', resource_id: ticket },
            { effect: 'allow', workspace: null, resource_type: 'project', resource_id: '*' },
            { effect: 'deny', workspace: null, resource_type: 'ticket', resource_id: ticket },
          ][b]!;
          rows.push({
            id: `bind_${org}_${k}_${b}`,
            org,
            subject,
            role_id: role,
            effect: shape.effect as 'allow' | 'deny',
            workspace: shape.workspace,
            resource_type: shape.resource_type,
            resource_id: shape.resource_id,
            expires_at: rand() < 0.2 ? expiring : null,
            created_at: at,
            created_by: 'bench:seed',
          });
        }
      }
    }
    await db.transaction().execute(async (trx) => {
      for (const chunk of chunks(roles, 2_000)) await trx.insertInto('rbac_roles').values(chunk).execute();
      for (const chunk of chunks(caps, 2_000)) await trx.insertInto('rbac_role_capabilities').values(chunk).execute();
      for (const chunk of chunks(rows, 2_000)) await trx.insertInto('rbac_bindings').values(chunk).execute();
    });
    bindings += rows.length;
  }
  return { targets, bindings, seconds: (performance.now() - started) / 1000 };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function principal({ org, subject, workspace }: Target): Principal {
  return { subject, tenant: { org, workspace }, session: null, tokenId: null, issuer: 'bench', issuedAt: null, expiresAt: 0 };
}

function requests(targets: ReadonlyArray<Target>, count: number, seedValue: number): AuthorizationRequest[] {
  const rand = random(seedValue);
  return Array.from({ length: count }, (_, i) => {
    const target = targets[i % targets.length]!;
    const pick = rand();
    const resource: ResourceSelector | null =
      pick < 0.5 ? null : pick < 0.75 ? { type: 'ticket', id: `t${Math.floor(rand() * 100)}` } : { type: 'project', id: null };
    return { principal: principal(target), capability: CATALOGUE[Math.floor(rand() * CATALOGUE.length)]!, resource };
  });
}

async function run(rbac: RbacStore, batch: ReadonlyArray<AuthorizationRequest>): Promise<{ perSecond: number; allowed: number }> {
  let allowed = 0;
  const started = performance.now();
  for (const request of batch) if ((await rbac.check(request)).allowed) allowed += 1;
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: batch.length / seconds, allowed: allowed / batch.length };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'covenant-rbac-bench-'));
  const db = createDatabase<RbacTables>({ url: join(dir, 'rbac.db') });
  try {
    await migrateToLatest(db);
    const { targets, bindings, seconds: seedSeconds } = await seed(db);
    const rand = random(7);
    const shuffled = [...targets];
    for (let i = shuffled.length - 1; i > 0; i -= 1) {
      const j = Math.floor(rand() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }

    const uncachedStore = createRbacStore({ db, cacheSize: 0 });
    const cachedStore = createRbacStore({ db });
    const workingSet = shuffled.slice(0, CACHED_WORKING_SET);
    await run(cachedStore, requests(workingSet, CACHED_WORKING_SET, 1)); // warm the cache with the working set
    await run(uncachedStore, requests(shuffled, 500, 2)); // warm SQLite's page cache and the JIT alike

    const samples = { uncached: [] as number[], cold: [] as number[], cached: [] as number[] };
    const allowedShare = { uncached: [] as number[], cold: [] as number[], cached: [] as number[] };
    for (let r = 0; r < REPEATS; r += 1) {
      const u = await run(uncachedStore, requests(shuffled, CHECKS_PER_BATCH, 100 + r));
      // Cold: a new store, whose cache has never seen these principals (one check per principal).
      const coldTargets = shuffled.slice(r * COLD_BATCH, (r + 1) * COLD_BATCH);
      const c = await run(createRbacStore({ db }), requests(coldTargets, coldTargets.length, 200 + r));
      const h = await run(cachedStore, requests(workingSet, CHECKS_PER_BATCH, 300 + r));
      samples.uncached.push(u.perSecond);
      samples.cold.push(c.perSecond);
      samples.cached.push(h.perSecond);
      allowedShare.uncached.push(u.allowed);
      allowedShare.cold.push(c.allowed);
      allowedShare.cached.push(h.allowed);
    }

    const result = {
      bindings,
      orgs: ORGS,
      rolesPerOrg: ROLES_PER_ORG + 1,
      subjects: SUBJECT_POOL,
      capabilities: CATALOGUE.length,
      seedSeconds: Number(seedSeconds.toFixed(1)),
      repeats: REPEATS,
      checksPerBatch: { uncached: CHECKS_PER_BATCH, cold: COLD_BATCH, cached: CHECKS_PER_BATCH },
      checksPerSecond: {
        uncached: Math.round(median(samples.uncached)),
        cold: Math.round(median(samples.cold)),
        cached: Math.round(median(samples.cached)),
      },
      allowedShare: { uncached: median(allowedShare.uncached), cold: median(allowedShare.cold), cached: median(allowedShare.cached) },
      raw: samples,
      node: process.version,
    };
    const rows = (['uncached', 'cold', 'cached'] as const).map((mode) => {
      const perSecond = result.checksPerSecond[mode];
      return [mode, perSecond.toLocaleString('en-US'), (1e6 / perSecond).toFixed(1), (perSecond / result.checksPerSecond.uncached).toFixed(2)];
    });
    console.log(`rbac check throughput: ${bindings.toLocaleString('en-US')} bindings, ${ORGS} orgs, seeded in ${result.seedSeconds} s; median of ${REPEATS} interleaved repeats, sequential checks`);
    console.log(['mode', 'checks/s', 'µs/check', '× uncached'].map((h, i) => (i === 0 ? h.padEnd(9) : h.padStart(12))).join(''));
    for (const row of rows) console.log(row.map((c, i) => (i === 0 ? c.padEnd(9) : c.padStart(12))).join(''));
    console.log(`cached/uncached ratio: ${(result.checksPerSecond.cached / result.checksPerSecond.uncached).toFixed(2)}`);
    console.log(JSON.stringify(result));
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
