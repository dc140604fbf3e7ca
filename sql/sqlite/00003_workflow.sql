-- The same schema as sql/mysql/00003_workflow.sql, in SQLite's words.

-- +goose Up
CREATE TABLE idempotency_keys (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  principal    TEXT     NOT NULL,
  idem_key     TEXT     NOT NULL,
  fingerprint  TEXT     NOT NULL,
  state        TEXT     NOT NULL,
  owner        TEXT     NOT NULL DEFAULT '',
  lease_until  DATETIME NULL,
  resp_status  INTEGER  NOT NULL DEFAULT 0,
  resp_headers TEXT     NOT NULL,
  resp_body    BLOB     NOT NULL,
  created_at   DATETIME NOT NULL,
  expires_at   DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_idempotency_principal_key ON idempotency_keys (principal, idem_key);
CREATE INDEX ix_idempotency_expires ON idempotency_keys (expires_at);

CREATE TABLE form_tokens (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  token_hash TEXT     NOT NULL,
  principal  TEXT     NOT NULL,
  order_no   TEXT     NOT NULL DEFAULT '',
  created_at DATETIME NOT NULL,
  expires_at DATETIME NOT NULL,
  used_at    DATETIME NULL
);
CREATE UNIQUE INDEX uq_form_tokens_hash ON form_tokens (token_hash);
CREATE INDEX ix_form_tokens_expires ON form_tokens (expires_at);

-- +goose Down
DROP TABLE form_tokens;
DROP TABLE idempotency_keys;
