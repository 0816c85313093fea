-- Room state changes reach every instance's cached room snapshots (rooms protected, and policy lists they read).
-- PostgreSQL folds identical notifications within one transaction, so replacing a room's whole state sends one.
CREATE FUNCTION palisade_notify_room_state() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('palisade_config_changed',
        json_build_object('kind', 'room_state', 'id', COALESCE(NEW.room_id, OLD.room_id))::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER palisade_room_state_changed
    AFTER INSERT OR UPDATE OR DELETE ON room_state
    FOR EACH ROW EXECUTE FUNCTION palisade_notify_room_state();
