// The revocation store conformance suite (@covenant/testkit/store-conformance) on PostgreSQL: a schema of its
// own per test. Runs when COVENANT_TEST_PG is set; otherwise postgresTestUrl() prints why it is skipped.
import { postgresTestUrl } from '@covenant/testkit/postgres';
import { postgresConformanceFactory, runRevocationConformance } from '@covenant/testkit/store-conformance';
import { describe } from 'vitest';

const baseUrl = postgresTestUrl();

describe.skipIf(baseUrl === undefined)('PostgreSQL', () => runRevocationConformance(postgresConformanceFactory(baseUrl)));
