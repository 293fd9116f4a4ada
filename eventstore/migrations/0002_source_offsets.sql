-- Where each consumer group stands in each source partition. PostgreSQL is the authority: a
-- consumer writes its next offset in the same transaction as the events it appends, and starts
-- from here on assignment. A write names the offset it expects to replace, so a consumer that
-- lost its partition to another cannot move the offset back (it is fenced).
CREATE TABLE source_offsets (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL CHECK (partition >= 0),
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    updated_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Dead letters keep everything needed to map the message again once the cause is fixed.
ALTER TABLE dead_letters
    ADD COLUMN raw_key bytea,
    ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';

CREATE INDEX dead_letters_open ON dead_letters (id) WHERE replayed_at IS NULL;
