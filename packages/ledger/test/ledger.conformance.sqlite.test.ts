// The ledger store conformance suite (@covenant/testkit/store-conformance) on SQLite: a temp file per test.
import { runLedgerConformance, sqliteConformanceFactory } from '@covenant/testkit/store-conformance';

runLedgerConformance(sqliteConformanceFactory());
