-- The event store: events, streams, snapshots, checkpoints, dead letters.

-- Stream ids use the "C" collation so that a stream-id prefix (a category) is a range scan
-- on the (stream_id, stream_version) index whatever the database's default collation.
CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id text COLLATE "C" NOT NULL CHECK (stream_id <> ''),
    stream_version integer NOT NULL CHECK (stream_version >= 1),
    event_id uuid NOT NULL,
    event_type text NOT NULL CHECK (event_type <> ''),
    data jsonb NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

CREATE TABLE streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    version integer NOT NULL CHECK (version >= 0)
);

CREATE TABLE snapshots (
    stream_id text COLLATE "C" PRIMARY KEY,
    stream_version integer NOT NULL CHECK (stream_version >= 1),
    state jsonb NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

CREATE TABLE checkpoints (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

-- Messages that could not become events. source_key (for example kafka:topic/partition/offset)
-- makes a re-delivered poison message count an attempt instead of adding a row.
CREATE TABLE dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source text NOT NULL,
    source_key text NOT NULL UNIQUE,
    coordinates jsonb NOT NULL DEFAULT '{}',
    raw_payload bytea,
    reason text NOT NULL,
    attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    first_failed_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    last_failed_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    replayed_at timestamptz,
    replayed_position bigint
);

-- Append-only: the database itself refuses UPDATE, DELETE and TRUNCATE on events.
CREATE FUNCTION tuskflow_refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % on events is refused', TG_OP
        USING ERRCODE = 'TFE01',
              HINT = 'retention goes through its own audited path, never a plain UPDATE or DELETE';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tuskflow_refuse_event_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tuskflow_refuse_event_change();

-- Gap-safe global order. A sequence hands out positions when rows are inserted, not when
-- transactions commit, so without more care a writer could commit position 11 while the writer
-- holding position 10 is still open; a reader that saw 11 and moved its checkpoint past 10
-- would skip 10 for ever. Every INSERT into events therefore first takes one transaction-level
-- advisory lock, held until commit: positions are handed out in commit order, and a reader that
-- sees position N has already been able to see every committed position below N. The lock is
-- taken by this trigger, so no writer, ours or a hand-written one, can forget it. Writers
-- take their stream-row locks before this one (see tuskflow_append), so no deadlock can form.
CREATE FUNCTION tuskflow_serialize_event_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7400130001);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_commit_order
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tuskflow_serialize_event_inserts();

-- Wakes catch-up subscribers; delivered at commit, the payload is the highest new position.
CREATE FUNCTION tuskflow_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tuskflow_events', (SELECT max(global_position) FROM inserted)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION tuskflow_notify_events();

-- Appends events to one stream with optimistic concurrency, in one round trip.
-- p_expected: -1 any version, 0 no stream yet, N the stream's current version.
-- Rows returned, by outcome:
--   'duplicate'  every given event_id is stored already: one row per stored event, nothing written
--                (same_content tells whether stream, type and data match what is stored);
--   'conflict'   the stream's version is not the expected one: one row with actual_version,
--                nothing written and no global position consumed;
--   'appended'   one row per new event.
CREATE FUNCTION tuskflow_append(
    p_stream_id text,
    p_expected bigint,
    p_event_ids uuid[],
    p_types text[],
    p_data jsonb[],
    p_metadata jsonb[]
) RETURNS TABLE (
    outcome text,
    global_position bigint,
    stream_version integer,
    event_id uuid,
    same_content boolean,
    actual_version integer
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer := cardinality(p_event_ids);
    new_version integer;
BEGIN
    IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_event_ids)) THEN
        RETURN QUERY
            SELECT 'duplicate', e.global_position, e.stream_version, e.event_id,
                   e.stream_id = p_stream_id AND e.event_type = u.event_type AND e.data = u.data,
                   NULL::integer
            FROM unnest(p_event_ids, p_types, p_data) AS u(event_id, event_type, data)
            JOIN events e ON e.event_id = u.event_id;
        RETURN;
    END IF;

    IF p_expected = -1 THEN
        INSERT INTO streams AS s (stream_id, version) VALUES (p_stream_id, n)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + n
        RETURNING s.version INTO new_version;
    ELSIF p_expected = 0 THEN
        INSERT INTO streams AS s (stream_id, version) VALUES (p_stream_id, n)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + n WHERE s.version = 0
        RETURNING s.version INTO new_version;
    ELSE
        UPDATE streams AS s SET version = s.version + n
        WHERE s.stream_id = p_stream_id AND s.version = p_expected
        RETURNING s.version INTO new_version;
    END IF;

    IF new_version IS NULL THEN
        RETURN QUERY
            SELECT 'conflict', NULL::bigint, NULL::integer, NULL::uuid, NULL::boolean,
                   coalesce((SELECT s.version FROM streams s WHERE s.stream_id = p_stream_id), 0);
        RETURN;
    END IF;

    RETURN QUERY
        WITH inserted AS (
            INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
            SELECT p_stream_id, new_version - n + u.i::integer, u.event_id, u.event_type,
                   u.data, u.metadata
            FROM unnest(p_event_ids, p_types, p_data, p_metadata)
                WITH ORDINALITY AS u(event_id, event_type, data, metadata, i)
            ORDER BY u.i
            RETURNING events.global_position, events.stream_version, events.event_id
        )
        SELECT 'appended', ins.global_position, ins.stream_version, ins.event_id,
               NULL::boolean, NULL::integer
        FROM inserted ins;
END;
$$;
