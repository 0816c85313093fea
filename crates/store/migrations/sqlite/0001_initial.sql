-- Palisade schema, version 1 (SQLite).
-- Mirrors migrations/postgres/0001_initial.sql: JSON is stored as TEXT, times are
-- milliseconds since the Unix epoch. Change notifications are in-process (no triggers).

CREATE TABLE communities (
    community_id        TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    config              TEXT NOT NULL DEFAULT '{}',
    permissions         TEXT NOT NULL DEFAULT '{}',
    -- sha256 of the community API token, lower-case hex; never the token itself.
    access_token_hash   TEXT UNIQUE,
    can_self_join_rooms BOOLEAN NOT NULL DEFAULT FALSE
);
-- Rooms with no explicit community belong here (policyserv compatibility).
INSERT INTO communities (community_id, name) VALUES ('default', 'default');

CREATE TABLE rooms (
    room_id              TEXT PRIMARY KEY NOT NULL,
    room_version         TEXT NOT NULL,
    community_id         TEXT NOT NULL DEFAULT 'default' REFERENCES communities (community_id),
    join_state           TEXT NOT NULL,
    moderator_user_id    TEXT,
    overrides            TEXT,
    last_state_update_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX rooms_community_id ON rooms (community_id);

CREATE TABLE room_state (
    room_id    TEXT NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event      TEXT NOT NULL,
    PRIMARY KEY (room_id, event_type, state_key)
);

CREATE TABLE verdicts (
    room_id        TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    reference_hash TEXT,
    class          TEXT NOT NULL,
    harms          TEXT NOT NULL,
    expiry_ms      INTEGER,
    trace          TEXT NOT NULL,
    decided_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
CREATE INDEX verdicts_decided_at ON verdicts (decided_at_ms);

CREATE TABLE server_keys (
    server_name    TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    valid_until_ts INTEGER NOT NULL,
    expired_ts     INTEGER,
    PRIMARY KEY (server_name, key_id)
);

CREATE TABLE keyword_templates (
    name TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE trust_data (
    source TEXT NOT NULL,
    key    TEXT NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE media_scans (
    mxc_uri       TEXT NOT NULL,
    community_id  TEXT NOT NULL REFERENCES communities (community_id) ON DELETE CASCADE,
    class         TEXT NOT NULL,
    harms         TEXT NOT NULL,
    scanned_at_ms INTEGER NOT NULL,
    PRIMARY KEY (mxc_uri, community_id)
);
CREATE INDEX media_scans_scanned_at ON media_scans (scanned_at_ms);

CREATE TABLE edu_destinations (
    destination     TEXT PRIMARY KEY NOT NULL,
    -- Transaction ID pinned to the EDUs currently in flight; reused on retry so the
    -- receiver can de-duplicate.
    current_txn_id  TEXT,
    leased_until_ms INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE edu_queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    destination  TEXT NOT NULL REFERENCES edu_destinations (destination) ON DELETE CASCADE,
    edu          TEXT NOT NULL,
    txn_id       TEXT,
    queued_at_ms INTEGER NOT NULL
);
CREATE INDEX edu_queue_destination ON edu_queue (destination, id);

CREATE TABLE federation_txns (
    origin         TEXT NOT NULL,
    txn_id         TEXT NOT NULL,
    response       TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_txns_received_at ON federation_txns (received_at_ms);

CREATE TABLE hellbans (
    community_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (community_id, user_id)
);

CREATE TABLE frequency_hits (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    community_id TEXT NOT NULL,
    counter      TEXT NOT NULL,
    key          TEXT NOT NULL,
    at_ms        INTEGER NOT NULL
);
CREATE INDEX frequency_hits_lookup ON frequency_hits (community_id, counter, key, at_ms);
