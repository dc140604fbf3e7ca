-- The same schema as sql/mysql/00004_ops.sql, in SQLite's words.

-- +goose Up
CREATE TABLE audit_log (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         DATETIME NOT NULL,
  actor      TEXT     NOT NULL,
  via        TEXT     NOT NULL,
  action     TEXT     NOT NULL,
  target     TEXT     NOT NULL,
  result     TEXT     NOT NULL,
  detail     TEXT     NOT NULL,
  request_id TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX ix_audit_at ON audit_log (at);
CREATE INDEX ix_audit_target ON audit_log (target);

CREATE TABLE reconciliation_reports (
  day          TEXT     NOT NULL PRIMARY KEY,
  period_from  DATETIME NOT NULL,
  period_to    DATETIME NOT NULL,
  generated_at DATETIME NOT NULL,
  body         TEXT     NOT NULL
);

CREATE INDEX ix_receipts_status_provider_seen ON callback_receipts (status, provider, first_seen_at);
CREATE INDEX ix_ledger_created ON ledger_entries (created_at);
CREATE INDEX ix_orders_updated ON orders (updated_at);

-- +goose Down
DROP INDEX ix_orders_updated;
DROP INDEX ix_ledger_created;
DROP INDEX ix_receipts_status_provider_seen;
DROP TABLE reconciliation_reports;
DROP TABLE audit_log;
