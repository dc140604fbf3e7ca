-- The orders, the anti-repeat table of callback receipts, and the
-- append-only double-entry ledger. Plain InnoDB DDL, no triggers, no foreign
-- keys: what TiDB and Vitess accept as well.

-- +goose Up
CREATE TABLE orders (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  order_no        VARCHAR(64)  NOT NULL,
  amount          BIGINT       NOT NULL,
  currency        CHAR(3)      NOT NULL,
  status          VARCHAR(16)  NOT NULL,
  version         BIGINT       NOT NULL DEFAULT 1,
  paid_amount     BIGINT       NOT NULL DEFAULT 0,
  refunded_amount BIGINT       NOT NULL DEFAULT 0,
  provider        VARCHAR(32)  NOT NULL DEFAULT '',
  provider_ref    VARCHAR(128) NOT NULL DEFAULT '',
  created_at      DATETIME(6)  NOT NULL,
  updated_at      DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_orders_order_no (order_no),
  KEY ix_orders_status_created (status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE callback_receipts (
  id               BIGINT        NOT NULL AUTO_INCREMENT,
  provider         VARCHAR(32)   NOT NULL,
  txn_id           VARCHAR(191)  NOT NULL,
  event_id         VARCHAR(191)  NOT NULL DEFAULT '',
  event_type       VARCHAR(64)   NOT NULL DEFAULT '',
  kind             VARCHAR(32)   NOT NULL DEFAULT '',
  order_no         VARCHAR(64)   NOT NULL DEFAULT '',
  reference        VARCHAR(128)  NOT NULL DEFAULT '',
  amount           BIGINT        NOT NULL DEFAULT 0,
  currency         CHAR(3)       NOT NULL DEFAULT '',
  cumulative       BOOLEAN       NOT NULL DEFAULT FALSE,
  fingerprint      CHAR(64)      NOT NULL,
  status           VARCHAR(16)   NOT NULL,
  reason           VARCHAR(512)  NOT NULL DEFAULT '',
  raw_body         MEDIUMBLOB    NOT NULL,
  headers          TEXT          NOT NULL,
  verified         VARCHAR(32)   NOT NULL,
  ack_status       INT           NOT NULL,
  ack_content_type VARCHAR(64)   NOT NULL DEFAULT '',
  ack_body         VARBINARY(1024) NOT NULL,
  deliveries       BIGINT        NOT NULL DEFAULT 1,
  attempts         INT           NOT NULL DEFAULT 0,
  next_check_at    DATETIME(6)   NULL,
  lease_owner      VARCHAR(64)   NOT NULL DEFAULT '',
  lease_until      DATETIME(6)   NULL,
  conflict_of      BIGINT        NULL,
  first_seen_at    DATETIME(6)   NOT NULL,
  last_seen_at     DATETIME(6)   NOT NULL,
  updated_at       DATETIME(6)   NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_receipts_provider_txn (provider, txn_id),
  KEY ix_receipts_status_next (status, next_check_at),
  KEY ix_receipts_order (order_no),
  KEY ix_receipts_first_seen (first_seen_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE ledger_entries (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  order_no   VARCHAR(64)  NOT NULL,
  account    VARCHAR(64)  NOT NULL,
  amount     BIGINT       NOT NULL,
  currency   CHAR(3)      NOT NULL,
  provider   VARCHAR(32)  NOT NULL,
  txn_id     VARCHAR(191) NOT NULL,
  created_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_ledger_posting (provider, txn_id, account),
  KEY ix_ledger_order (order_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE ledger_entries;
DROP TABLE callback_receipts;
DROP TABLE orders;
