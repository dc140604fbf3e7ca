-- The same schema as sql/mysql/00001_init.sql, in SQLite's words.

-- +goose Up
CREATE TABLE orders (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  order_no        TEXT     NOT NULL,
  amount          INTEGER  NOT NULL,
  currency        TEXT     NOT NULL,
  status          TEXT     NOT NULL,
  version         INTEGER  NOT NULL DEFAULT 1,
  paid_amount     INTEGER  NOT NULL DEFAULT 0,
  refunded_amount INTEGER  NOT NULL DEFAULT 0,
  provider        TEXT     NOT NULL DEFAULT '',
  provider_ref    TEXT     NOT NULL DEFAULT '',
  created_at      DATETIME NOT NULL,
  updated_at      DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_orders_order_no ON orders (order_no);
CREATE INDEX ix_orders_status_created ON orders (status, created_at);

CREATE TABLE callback_receipts (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  provider         TEXT     NOT NULL,
  txn_id           TEXT     NOT NULL,
  event_id         TEXT     NOT NULL DEFAULT '',
  event_type       TEXT     NOT NULL DEFAULT '',
  kind             TEXT     NOT NULL DEFAULT '',
  order_no         TEXT     NOT NULL DEFAULT '',
  reference        TEXT     NOT NULL DEFAULT '',
  amount           INTEGER  NOT NULL DEFAULT 0,
  currency         TEXT     NOT NULL DEFAULT '',
  cumulative       BOOLEAN  NOT NULL DEFAULT FALSE,
  fingerprint      TEXT     NOT NULL,
  status           TEXT     NOT NULL,
  reason           TEXT     NOT NULL DEFAULT '',
  raw_body         BLOB     NOT NULL,
  headers          TEXT     NOT NULL,
  verified         TEXT     NOT NULL,
  ack_status       INTEGER  NOT NULL,
  ack_content_type TEXT     NOT NULL DEFAULT '',
  ack_body         BLOB     NOT NULL,
  deliveries       INTEGER  NOT NULL DEFAULT 1,
  attempts         INTEGER  NOT NULL DEFAULT 0,
  next_check_at    DATETIME NULL,
  lease_owner      TEXT     NOT NULL DEFAULT '',
  lease_until      DATETIME NULL,
  conflict_of      INTEGER  NULL,
  first_seen_at    DATETIME NOT NULL,
  last_seen_at     DATETIME NOT NULL,
  updated_at       DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_receipts_provider_txn ON callback_receipts (provider, txn_id);
CREATE INDEX ix_receipts_status_next ON callback_receipts (status, next_check_at);
CREATE INDEX ix_receipts_order ON callback_receipts (order_no);
CREATE INDEX ix_receipts_first_seen ON callback_receipts (first_seen_at);

CREATE TABLE ledger_entries (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  order_no   TEXT     NOT NULL,
  account    TEXT     NOT NULL,
  amount     INTEGER  NOT NULL,
  currency   TEXT     NOT NULL,
  provider   TEXT     NOT NULL,
  txn_id     TEXT     NOT NULL,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_ledger_posting ON ledger_entries (provider, txn_id, account);
CREATE INDEX ix_ledger_order ON ledger_entries (order_no);

-- +goose Down
DROP TABLE ledger_entries;
DROP TABLE callback_receipts;
DROP TABLE orders;
