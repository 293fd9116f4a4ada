-- The archive of the event log (archive/): what each UTC day's Parquet copy holds, and the one
-- audited path by which archived days leave the live store.

-- A day's events are read by recorded_at. recorded_at follows insertion order closely (it is
-- the inserting statement's start), so a BRIN index finds a day's blocks for a few kilobytes.
CREATE INDEX events_recorded_at_brin ON events USING brin (recorded_at);

-- One row per archived day, written by the archive's port once the day's manifest is in the
-- archive (the manifest is the archive's own record; this row is the database's).
CREATE TABLE archive_days (
    day date PRIMARY KEY,
    location text NOT NULL,
    events bigint NOT NULL CHECK (events >= 0),
    first_position bigint,
    last_position bigint,
    bytes bigint NOT NULL CHECK (bytes >= 0),
    content_hash text NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    verified_at timestamptz,
    verified_hash text,
    pruned_at timestamptz
);

-- Every prune, kept for good: who removed which day from the live store, and when. txid ties a
-- row to the transaction that deletes, which is what lets the append-only trigger allow it.
CREATE TABLE event_prunes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day date NOT NULL,
    location text NOT NULL,
    first_position bigint,
    last_position bigint,
    events_deleted bigint,
    pruned_by text NOT NULL CHECK (pruned_by <> ''),
    database_user text NOT NULL DEFAULT current_user,
    application_name text NOT NULL DEFAULT current_setting('application_name'),
    pruned_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    txid bigint NOT NULL DEFAULT txid_current()
);

-- UPDATE and TRUNCATE stay refused. A DELETE passes only inside a transaction that recorded a
-- prune first, and the statement-level check after it refuses any row outside that day.
CREATE OR REPLACE FUNCTION tuskflow_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM event_prunes WHERE txid = txid_current()) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'events are append-only: % on events is refused', TG_OP
        USING ERRCODE = 'TFE01',
              HINT = 'retention goes through tuskflow archive prune (tuskflow_prune_day), '
                     'never a plain UPDATE or DELETE';
END;
$$;

CREATE FUNCTION tuskflow_check_pruned_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pruning date;
BEGIN
    SELECT p.day INTO pruning FROM event_prunes p WHERE p.txid = txid_current()
        ORDER BY p.id DESC LIMIT 1;
    IF EXISTS (SELECT 1 FROM deleted d
               WHERE (d.recorded_at AT TIME ZONE 'UTC')::date IS DISTINCT FROM pruning) THEN
        RAISE EXCEPTION 'a prune of % may delete only that day''s events', pruning
            USING ERRCODE = 'TFE01';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_prune_rows
    AFTER DELETE ON events
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION tuskflow_check_pruned_rows();

-- Removes one archived, verified day from the live store and records who did it.
-- Refused (TFE02) for a day that is not archived, not verified, or verified against other
-- content than the archive holds; refused (TFE03) when the live day no longer matches the
-- archive (an event counted differently). A day pruned already returns 0 and changes nothing.
CREATE FUNCTION tuskflow_prune_day(p_day date, p_by text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    archived archive_days%ROWTYPE;
    deleted bigint;
BEGIN
    SELECT * INTO archived FROM archive_days WHERE day = p_day FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'day % is not archived: run tuskflow archive export first', p_day
            USING ERRCODE = 'TFE02';
    END IF;
    IF archived.pruned_at IS NOT NULL THEN
        RETURN 0;
    END IF;
    IF archived.verified_at IS NULL OR archived.verified_hash IS DISTINCT FROM archived.content_hash
    THEN
        RAISE EXCEPTION 'day % is archived but not verified: run tuskflow archive verify %',
            p_day, p_day USING ERRCODE = 'TFE02';
    END IF;
    INSERT INTO event_prunes (day, location, first_position, last_position, pruned_by)
        VALUES (p_day, archived.location, archived.first_position, archived.last_position, p_by);
    DELETE FROM events
        WHERE recorded_at >= (p_day::timestamp AT TIME ZONE 'UTC')
          AND recorded_at < ((p_day + 1)::timestamp AT TIME ZONE 'UTC');
    GET DIAGNOSTICS deleted = ROW_COUNT;
    IF deleted <> archived.events THEN
        RAISE EXCEPTION 'day % holds % events live but % archived: nothing pruned',
            p_day, deleted, archived.events USING ERRCODE = 'TFE03';
    END IF;
    UPDATE event_prunes SET events_deleted = deleted WHERE txid = txid_current() AND day = p_day;
    UPDATE archive_days SET pruned_at = statement_timestamp() WHERE day = p_day;
    RETURN deleted;
END;
$$;
