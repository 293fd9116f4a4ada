-- The rows an ETL job rejected, with where they came from and why. Kept per attempt: a rerun
-- adds its own, and `tuskflow jobs show` reads the latest attempt's.
CREATE TABLE etl_rejects (
    job_id text NOT NULL,
    attempt integer NOT NULL CHECK (attempt >= 1),
    source_file text,
    row_number bigint,
    reason text NOT NULL,
    record text,
    recorded_at timestamptz NOT NULL DEFAULT statement_timestamp()
);

CREATE INDEX etl_rejects_job ON etl_rejects (job_id, attempt);
