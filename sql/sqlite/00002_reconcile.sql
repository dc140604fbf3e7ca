-- The same schema as sql/mysql/00002_reconcile.sql, in SQLite's words.

-- +goose Up
CREATE TABLE order_sweeps (
  order_no      TEXT     NOT NULL PRIMARY KEY,
  provider      TEXT     NOT NULL,
  attempts      INTEGER  NOT NULL DEFAULT 0,
  next_check_at DATETIME NULL,
  lease_owner   TEXT     NOT NULL DEFAULT '',
  lease_until   DATETIME NULL,
  result        TEXT     NOT NULL DEFAULT '',
  created_at    DATETIME NOT NULL,
  updated_at    DATETIME NOT NULL
);

-- +goose Down
DROP TABLE order_sweeps;
