-- Each long-running tuskflow process (an ETL or maintenance worker, a consumer, a beat) says it
-- is alive here every few seconds, with what it does; `tuskflow status` reads the table, so it
-- needs neither Flower nor a broadcast to the workers. A process that stops deletes its row;
-- one that died leaves it to age, and status shows how long ago it last spoke.
CREATE TABLE process_heartbeats (
    process text PRIMARY KEY,
    role text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}',
    started_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    beat_at timestamptz NOT NULL DEFAULT statement_timestamp()
);
