// The revocation store conformance suite (@covenant/testkit/store-conformance) on SQLite: a temp file per test.
import { runRevocationConformance, sqliteConformanceFactory } from '@covenant/testkit/store-conformance';

runRevocationConformance(sqliteConformanceFactory());
