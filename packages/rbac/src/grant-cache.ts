import type { Grant } from './evaluate.ts';

/** One cached grant set, and its place in the eviction order. */
interface Entry {
  grants: ReadonlyArray<Grant>;
  /** The earliest expiry among the loaded bindings: the set is stale from then on. */
  validUntil: number;
  readonly org: OrgEntries;
  readonly subject: string;
  readonly workspace: string;
  /** Toward the most recently used end. */
  newer: Entry | null;
  /** Toward the least recently used end (the next to evict). */
  older: Entry | null;
}

/** One org's entries: all of one policy epoch (the newest this cache has loaded for the org). */
interface OrgEntries {
  readonly org: string;
  epoch: number;
  readonly subjects: Map<string, Map<string, Entry>>;
}

/**
 * The RBAC decision cache: grant sets per (org, policy epoch, subject, workspace), bounded to `capacity`
 * entries (least recently used evicted first). A set is served only to a check that read exactly its
 * epoch, and only before its `validUntil`.
 *
 * Entries are nested per org, then subject, then workspace, and the eviction order is a linked list, so a
 * hit allocates nothing (no composite key string to build and hash, no map reinsertion). Each org holds
 * one epoch at a time: epochs only grow (every change bumps its org's), so when a newer one is loaded the
 * org's older entries are dropped (no check that starts from now on can read their epoch), and a load
 * filed under an epoch older than the org's current one is not kept.
 */
export class GrantCache {
  readonly #capacity: number;
  readonly #orgs = new Map<string, OrgEntries>();
  #size = 0;
  /** Most recently used. */
  #newest: Entry | null = null;
  /** Least recently used: evicted first. */
  #oldest: Entry | null = null;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** How many grant sets are cached. */
  get size(): number {
    return this.#size;
  }

  /** The grants of (org, subject, workspace) loaded at policy `epoch`, if cached and unexpired at `now`. */
  get(org: string, epoch: number, subject: string, workspace: string | null, now: number): ReadonlyArray<Grant> | undefined {
    const entries = this.#orgs.get(org);
    if (entries === undefined || entries.epoch !== epoch) return undefined;
    const entry = entries.subjects.get(subject)?.get(workspace ?? '');
    if (entry === undefined || !(now < entry.validUntil)) return undefined;
    if (entry !== this.#newest) {
      this.#unlink(entry);
      this.#pushNewest(entry);
    }
    return entry.grants;
  }

  /** Files grants loaded (with the epoch) in one snapshot of policy `epoch`. */
  set(org: string, epoch: number, subject: string, workspace: string | null, grants: ReadonlyArray<Grant>, validUntil: number): void {
    if (this.#capacity <= 0) return;
    let entries = this.#orgs.get(org);
    if (entries !== undefined && epoch < entries.epoch) return; // a newer policy was loaded meanwhile
    if (entries !== undefined && epoch > entries.epoch) {
      this.#dropOrg(entries);
      entries = undefined;
    }
    if (entries === undefined) {
      entries = { org, epoch, subjects: new Map() };
      this.#orgs.set(org, entries);
    }
    let workspaces = entries.subjects.get(subject);
    if (workspaces === undefined) {
      workspaces = new Map();
      entries.subjects.set(subject, workspaces);
    }
    const key = workspace ?? '';
    const existing = workspaces.get(key);
    if (existing !== undefined) {
      existing.grants = grants;
      existing.validUntil = validUntil;
      if (existing !== this.#newest) {
        this.#unlink(existing);
        this.#pushNewest(existing);
      }
      return;
    }
    const entry: Entry = { grants, validUntil, org: entries, subject, workspace: key, newer: null, older: null };
    workspaces.set(key, entry);
    this.#pushNewest(entry);
    this.#size += 1;
    while (this.#size > this.#capacity && this.#oldest !== null) this.#evict(this.#oldest);
  }

  #pushNewest(entry: Entry): void {
    entry.newer = null;
    entry.older = this.#newest;
    if (this.#newest !== null) this.#newest.newer = entry;
    this.#newest = entry;
    this.#oldest ??= entry;
  }

  #unlink(entry: Entry): void {
    if (entry.newer !== null) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    if (entry.older !== null) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    entry.newer = null;
    entry.older = null;
  }

  #evict(entry: Entry): void {
    this.#unlink(entry);
    this.#size -= 1;
    const org = entry.org;
    const workspaces = org.subjects.get(entry.subject);
    if (workspaces === undefined) return;
    workspaces.delete(entry.workspace);
    if (workspaces.size > 0) return;
    org.subjects.delete(entry.subject);
    if (org.subjects.size === 0 && this.#orgs.get(org.org) === org) this.#orgs.delete(org.org);
  }

  #dropOrg(org: OrgEntries): void {
    for (const workspaces of org.subjects.values()) {
      for (const entry of workspaces.values()) {
        this.#unlink(entry);
        this.#size -= 1;
      }
    }
    org.subjects.clear();
    this.#orgs.delete(org.org);
  }
}
