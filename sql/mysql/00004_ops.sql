-- Operations: the append-only audit log of admin actions, the stored daily
-- reconciliation reports, and the indexes that keep the metrics' backlog
-- gauges and the reconciliation report off full scans.

-- +goose Up
CREATE TABLE audit_log (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  at         DATETIME(6)  NOT NULL,
  actor      VARCHAR(64)  NOT NULL,
  via        VARCHAR(16)  NOT NULL,
  action     VARCHAR(64)  NOT NULL,
  target     VARCHAR(191) NOT NULL,
  result     VARCHAR(32)  NOT NULL,
  detail     TEXT         NOT NULL,
  request_id VARCHAR(64)  NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY ix_audit_at (at),
  KEY ix_audit_target (target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE reconciliation_reports (
  day          CHAR(10)    NOT NULL,
  period_from  DATETIME(6) NOT NULL,
  period_to    DATETIME(6) NOT NULL,
  generated_at DATETIME(6) NOT NULL,
  body         MEDIUMTEXT  NOT NULL,
  PRIMARY KEY (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE INDEX ix_receipts_status_provider_seen ON callback_receipts (status, provider, first_seen_at);
CREATE INDEX ix_ledger_created ON ledger_entries (created_at);
CREATE INDEX ix_orders_updated ON orders (updated_at);

-- +goose Down
DROP INDEX ix_orders_updated ON orders;
DROP INDEX ix_ledger_created ON ledger_entries;
DROP INDEX ix_receipts_status_provider_seen ON callback_receipts;
DROP TABLE reconciliation_reports;
DROP TABLE audit_log;
