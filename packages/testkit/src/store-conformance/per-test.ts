import { afterEach } from 'vitest';
import type { ConformanceDatabase, StoreConformanceFactory } from './factory.ts';

/**
 * Registers an `afterEach` (in the calling `describe`) that disposes every database opened during the test,
 * and returns the opener: each test gets fresh databases of its own.
 */
export function databasesPerTest(factory: StoreConformanceFactory): () => Promise<ConformanceDatabase> {
  const opened: ConformanceDatabase[] = [];
  afterEach(async () => {
    for (const database of opened.splice(0)) await database.dispose();
  });
  return async () => {
    const database = await factory.open();
    opened.push(database);
    return database;
  };
}
