-- The reconciler's sweep of orders that never heard from their provider:
-- one row per order it has asked about, with the lease that keeps two
-- replicas from asking at once and the schedule of the next question. The
-- unknown receipts' leases live on callback_receipts (lease_owner,
-- lease_until, next_check_at, attempts, from 00001). No triggers, no
-- foreign keys: TiDB- and Vitess-safe.

-- +goose Up
CREATE TABLE order_sweeps (
  order_no      VARCHAR(64)  NOT NULL,
  provider      VARCHAR(32)  NOT NULL,
  attempts      INT          NOT NULL DEFAULT 0,
  next_check_at DATETIME(6)  NULL,
  lease_owner   VARCHAR(64)  NOT NULL DEFAULT '',
  lease_until   DATETIME(6)  NULL,
  result        VARCHAR(255) NOT NULL DEFAULT '',
  created_at    DATETIME(6)  NOT NULL,
  updated_at    DATETIME(6)  NOT NULL,
  PRIMARY KEY (order_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE order_sweeps;
