-- Durable queue of side effects (community webhooks, ...): retried with backoff until delivered.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    payload         JSONB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms  BIGINT NOT NULL DEFAULT 0,
    created_ms      BIGINT NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (kind, next_attempt_ms);
