-- Hellbans reach every instance's in-memory mirror: each change is announced with the row it leaves (a lifted
-- ban without an expiry). Deleting bans that have already expired (retention) changes no answer, so it is silent.
CREATE FUNCTION palisade_notify_hellban() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.expires_at_ms <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint THEN
            RETURN NULL;
        END IF;
        PERFORM pg_notify('palisade_hellbans',
            json_build_object('community_id', OLD.community_id, 'user_id', OLD.user_id)::text);
    ELSE
        PERFORM pg_notify('palisade_hellbans',
            json_build_object('community_id', NEW.community_id, 'user_id', NEW.user_id,
                'expires_at_ms', NEW.expires_at_ms)::text);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER palisade_hellban_changed
    AFTER INSERT OR UPDATE OR DELETE ON hellbans
    FOR EACH ROW EXECUTE FUNCTION palisade_notify_hellban();
