// The RBAC store conformance suite (@covenant/testkit/store-conformance) on SQLite: a temp file per test.
import { runRbacConformance, sqliteConformanceFactory } from '@covenant/testkit/store-conformance';

runRbacConformance(sqliteConformanceFactory());
