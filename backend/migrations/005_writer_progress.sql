-- The last batch each writer committed, updated in the same transaction as the batch. When a
-- connection dies during COMMIT the writer cannot know whether the batch landed; it reads this
-- row before retrying, so a batch is never written twice (or counted twice in the rollups).
CREATE TABLE writer_progress (
    writer_id  uuid        PRIMARY KEY,
    last_batch bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
