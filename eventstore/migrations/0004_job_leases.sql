-- The attempt of each running ETL job and when its worker last said it is alive. A worker
-- renews its lease while the attempt runs and drops it when the attempt ends; a lease left to
-- expire belongs to a worker that died (killed, or its host lost), and any other worker takes
-- it over and enqueues the job again instead of leaving it to the broker's visibility timeout.
CREATE TABLE job_leases (
    job_id text PRIMARY KEY,
    attempt integer NOT NULL CHECK (attempt >= 1),
    worker text NOT NULL,
    renewed_at timestamptz NOT NULL DEFAULT statement_timestamp()
);
