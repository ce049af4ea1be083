-- A change that writes a few events takes their positions while it commits, not before.
--
-- Positions must become visible in order (a reader following its cursor skips nothing:
-- `events::a_tailing_reader_sees_every_event_once`), so whoever takes positions holds the
-- tenant's `event_positions` row until its transaction ends. Taken by the application, that
-- hold spans the round trips of the events' INSERT and of COMMIT, and concurrent writes of one
-- tenant queue on it (`put_c8`, `lifecycle`: docs/decisions/0027-postgres-positions-at-commit.md).
-- Here the application inserts such events with a placeholder position (negative, unique,
-- never committed), and a deferred trigger, run by COMMIT itself, takes the row lock and gives
-- the transaction's events their positions in the order they were inserted: the row is held
-- for the trigger and the commit only. Large writes (bulk syncs) still take their positions in
-- the transaction, which saves rewriting each of their events; both ways hold the same row
-- lock until commit, so they order with each other.
CREATE SEQUENCE events_pending_position;

CREATE FUNCTION events_take_positions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pending bigint;
    last_taken bigint;
BEGIN
    -- The only events with a placeholder this transaction can see are its own: another
    -- transaction's are uncommitted, and a committed event always has its position.
    SELECT count(*) INTO pending FROM events
     WHERE tenant_id = NEW.tenant_id AND mode = NEW.mode AND position < 0;
    IF pending = 0 THEN
        -- An earlier event of this transaction's took positions for all of them.
        RETURN NULL;
    END IF;
    INSERT INTO event_positions (tenant_id, mode, last) VALUES (NEW.tenant_id, NEW.mode, pending)
        ON CONFLICT (tenant_id, mode) DO UPDATE SET last = event_positions.last + excluded.last
        RETURNING last INTO last_taken;
    -- Placeholders count down in insertion order (`-nextval`), so descending is inserted order.
    UPDATE events AS e SET position = last_taken - pending + o.n
      FROM (SELECT id, row_number() OVER (ORDER BY position DESC) AS n FROM events
             WHERE tenant_id = NEW.tenant_id AND mode = NEW.mode AND position < 0) AS o
     WHERE e.id = o.id;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER events_positioned_at_commit AFTER INSERT ON events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.position < 0)
    EXECUTE FUNCTION events_take_positions();
