-- Every change that can end a credential, and every change to the settings, is announced on
-- channel atlas_changes, whoever makes it (a replica, tpctl, psql): replicas keep what they read
-- of these in memory and forget it as soon as its change is announced (src/server/cached-reads.ts).
-- The payload is "<kind> <hash>" for one credential, or "<kind>" for all of a kind; "user" for
-- any change to users (a role, a disabled account, an email), which sessions, tokens and
-- settings carry.

CREATE FUNCTION atlas_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    PERFORM pg_notify('atlas_changes', TG_ARGV[0] || ' ' || (to_jsonb(OLD) ->> TG_ARGV[1]));
  ELSE
    PERFORM pg_notify('atlas_changes', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END $$;

-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION atlas_announce_change('session', 'token_hash');
-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER sessions_emptied AFTER TRUNCATE ON sessions
  FOR EACH STATEMENT EXECUTE FUNCTION atlas_announce_change('session');

-- Not on last_used_at, which reads write once a minute.
-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER api_tokens_changed AFTER UPDATE OF token_hash, user_id, revoked_at OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION atlas_announce_change('token', 'token_hash');
-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER api_tokens_emptied AFTER TRUNCATE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION atlas_announce_change('token');

-- Not on what check-ins write (last_seen_at, version, hostname, runbooks).
-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER agents_changed AFTER UPDATE OF name, credential_hash, revoked_at OR DELETE ON agents
  FOR EACH ROW EXECUTE FUNCTION atlas_announce_change('agent', 'credential_hash');
-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER agents_emptied AFTER TRUNCATE ON agents
  FOR EACH STATEMENT EXECUTE FUNCTION atlas_announce_change('agent');

-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER users_changed AFTER UPDATE OR DELETE OR TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION atlas_announce_change('user');

-- atlas:allow trigger-on-existing-table it runs after the write and only announces it: every write is accepted as it was
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings
  FOR EACH STATEMENT EXECUTE FUNCTION atlas_announce_change('settings');
