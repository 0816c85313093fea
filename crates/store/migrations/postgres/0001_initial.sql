-- Palisade schema, version 1 (PostgreSQL).
-- Times are milliseconds since the Unix epoch (BIGINT) so both backends share one encoding.

CREATE TABLE communities (
    community_id        TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    config              JSONB NOT NULL DEFAULT '{}',
    permissions         JSONB NOT NULL DEFAULT '{}',
    -- sha256 of the community API token, lower-case hex; never the token itself.
    access_token_hash   TEXT UNIQUE,
    can_self_join_rooms BOOLEAN NOT NULL DEFAULT FALSE
);
-- Rooms with no explicit community belong here (policyserv compatibility).
INSERT INTO communities (community_id, name) VALUES ('default', 'default');

CREATE TABLE rooms (
    room_id              TEXT PRIMARY KEY,
    room_version         TEXT NOT NULL,
    community_id         TEXT NOT NULL DEFAULT 'default' REFERENCES communities (community_id),
    join_state           TEXT NOT NULL,
    moderator_user_id    TEXT,
    overrides            JSONB,
    last_state_update_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rooms_community_id ON rooms (community_id);

CREATE TABLE room_state (
    room_id    TEXT NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event      JSONB NOT NULL,
    PRIMARY KEY (room_id, event_type, state_key)
);

CREATE TABLE verdicts (
    room_id        TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    reference_hash TEXT,
    class          TEXT NOT NULL,
    harms          JSONB NOT NULL,
    expiry_ms      BIGINT,
    trace          JSONB NOT NULL,
    decided_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
CREATE INDEX verdicts_decided_at ON verdicts (decided_at_ms);

CREATE TABLE server_keys (
    server_name    TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    expired_ts     BIGINT,
    PRIMARY KEY (server_name, key_id)
);

CREATE TABLE keyword_templates (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);

CREATE TABLE trust_data (
    source TEXT NOT NULL,
    key    TEXT NOT NULL,
    data   JSONB NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE media_scans (
    mxc_uri       TEXT NOT NULL,
    community_id  TEXT NOT NULL REFERENCES communities (community_id) ON DELETE CASCADE,
    class         TEXT NOT NULL,
    harms         JSONB NOT NULL,
    scanned_at_ms BIGINT NOT NULL,
    PRIMARY KEY (mxc_uri, community_id)
);
CREATE INDEX media_scans_scanned_at ON media_scans (scanned_at_ms);

CREATE TABLE edu_destinations (
    destination     TEXT PRIMARY KEY,
    -- Transaction ID pinned to the EDUs currently in flight; reused on retry so the
    -- receiver can de-duplicate.
    current_txn_id  TEXT,
    leased_until_ms BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE edu_queue (
    id          BIGSERIAL PRIMARY KEY,
    destination TEXT NOT NULL REFERENCES edu_destinations (destination) ON DELETE CASCADE,
    edu         JSONB NOT NULL,
    txn_id      TEXT,
    queued_at_ms BIGINT NOT NULL
);
CREATE INDEX edu_queue_destination ON edu_queue (destination, id);

CREATE TABLE federation_txns (
    origin         TEXT NOT NULL,
    txn_id         TEXT NOT NULL,
    response       JSONB NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
);
CREATE INDEX federation_txns_received_at ON federation_txns (received_at_ms);

CREATE TABLE hellbans (
    community_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (community_id, user_id)
);

CREATE TABLE frequency_hits (
    id           BIGSERIAL PRIMARY KEY,
    community_id TEXT NOT NULL,
    counter      TEXT NOT NULL,
    key          TEXT NOT NULL,
    at_ms        BIGINT NOT NULL
);
CREATE INDEX frequency_hits_lookup ON frequency_hits (community_id, counter, key, at_ms);

-- Config change fan-out to every instance: payload is a small JSON object naming what changed.
CREATE FUNCTION palisade_notify_community() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('palisade_config_changed',
        json_build_object('kind', 'community', 'id', COALESCE(NEW.community_id, OLD.community_id))::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER palisade_community_changed
    AFTER INSERT OR UPDATE OR DELETE ON communities
    FOR EACH ROW EXECUTE FUNCTION palisade_notify_community();

CREATE FUNCTION palisade_notify_room() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.community_id IS NOT DISTINCT FROM OLD.community_id
        AND NEW.overrides IS NOT DISTINCT FROM OLD.overrides
        AND NEW.moderator_user_id IS NOT DISTINCT FROM OLD.moderator_user_id
        AND NEW.join_state IS NOT DISTINCT FROM OLD.join_state THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('palisade_config_changed',
        json_build_object('kind', 'room', 'id', COALESCE(NEW.room_id, OLD.room_id))::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER palisade_room_changed
    AFTER INSERT OR UPDATE OR DELETE ON rooms
    FOR EACH ROW EXECUTE FUNCTION palisade_notify_room();

CREATE FUNCTION palisade_notify_template() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('palisade_config_changed',
        json_build_object('kind', 'keyword_template', 'id', COALESCE(NEW.name, OLD.name))::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER palisade_template_changed
    AFTER INSERT OR UPDATE OR DELETE ON keyword_templates
    FOR EACH ROW EXECUTE FUNCTION palisade_notify_template();
