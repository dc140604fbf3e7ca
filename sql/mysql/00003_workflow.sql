-- Anti-repeat for merchant submissions: Idempotency-Key records (the stored
-- answer per principal and key) and one-time form tokens (only their
-- SHA-256 is kept). Both expire; the cleanup job deletes them by expires_at.

-- +goose Up
CREATE TABLE idempotency_keys (
  id           BIGINT       NOT NULL AUTO_INCREMENT,
  principal    VARCHAR(128) NOT NULL,
  idem_key     VARCHAR(128) NOT NULL,
  fingerprint  CHAR(64)     NOT NULL,
  state        VARCHAR(16)  NOT NULL,
  owner        VARCHAR(32)  NOT NULL DEFAULT '',
  lease_until  DATETIME(6)  NULL,
  resp_status  INT          NOT NULL DEFAULT 0,
  resp_headers TEXT         NOT NULL,
  resp_body    MEDIUMBLOB   NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  expires_at   DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_idempotency_principal_key (principal, idem_key),
  KEY ix_idempotency_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE form_tokens (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  token_hash CHAR(64)     NOT NULL,
  principal  VARCHAR(128) NOT NULL,
  order_no   VARCHAR(64)  NOT NULL DEFAULT '',
  created_at DATETIME(6)  NOT NULL,
  expires_at DATETIME(6)  NOT NULL,
  used_at    DATETIME(6)  NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_form_tokens_hash (token_hash),
  KEY ix_form_tokens_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE form_tokens;
DROP TABLE idempotency_keys;
