-- Per-series min/max/sum/count per minute and per hour, so a 30-day query reads at most 720 rows
-- per series instead of 1.3 million raw samples. fillfactor leaves room for HOT updates.
CREATE TABLE rollup_1m (
    series_id bigint           NOT NULL,
    bucket    timestamptz      NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint           NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITH (fillfactor = 70);

-- The hourly recompute reads every 1-minute row of one hour.
CREATE INDEX rollup_1m_bucket ON rollup_1m (bucket);

CREATE TABLE rollup_1h (
    series_id bigint           NOT NULL,
    bucket    timestamptz      NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    count     bigint           NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITH (fillfactor = 70);

-- Minutes whose raw samples changed since their rollups were computed. The writer marks them in
-- the same transaction as its COPY (bumping `version`, which also locks the row); the rollup job
-- recomputes each minute from raw samples and deletes the mark only if `version` is unchanged,
-- so a batch committed during the recompute is never missed.
CREATE TABLE rollup_pending (
    minute  timestamptz PRIMARY KEY,
    version bigint      NOT NULL DEFAULT 1
);
