-- Raw history as a row "head" for the newest samples plus sealed, compressed chunks for the rest
-- (backend/storage/sealing.py). A sample is identified by (series, time) and stored once.
--
-- samples        the head: rows as the writer COPYs them, one partition per 2-hour window,
--                unique on (series_id, time). Rows older than sealing_state.frontier never
--                enter it; a window below the frontier is frozen, sealed into chunks, dropped.
-- samples_late   rows that arrive for a frozen window (a sender's retry or a replayed spool):
--                merged into that window's chunks by the sealing job.
-- sample_chunks  one row per series and window: pcodec-compressed timestamps and values
--                (backend/storage/chunk_codec.py), partitioned by day so retention drops days.
-- samples_legacy the previous schema's day-partitioned rows (duplicates possible), if there
--                were any: sealed by the same job, then dropped.

-- The old table becomes samples_legacy when it holds rows; an empty one simply goes.
ALTER TABLE samples RENAME TO samples_legacy;
ALTER INDEX samples_series_time RENAME TO samples_legacy_series_time;
ALTER INDEX samples_time_brin RENAME TO samples_legacy_time_brin;
DROP FUNCTION hostpulse_ensure_samples_partition(date);
DROP FUNCTION hostpulse_samples_partition_name(date);

CREATE TABLE samples (
    series_id bigint           NOT NULL,
    time      timestamptz      NOT NULL,
    value     double precision NOT NULL,
    CONSTRAINT samples_pkey PRIMARY KEY (series_id, time)
) PARTITION BY RANGE (time);
-- The rollup job reads "every sample of one minute" (see 003_rollups.sql).
CREATE INDEX samples_time_brin ON samples USING brin (time) WITH (pages_per_range = 32);

CREATE TABLE samples_late (
    series_id bigint           NOT NULL,
    time      timestamptz      NOT NULL,
    value     double precision NOT NULL,
    CONSTRAINT samples_late_pkey PRIMARY KEY (series_id, time)
);
CREATE INDEX samples_late_time ON samples_late (time);

CREATE TABLE sample_chunks (
    series_id    bigint      NOT NULL,
    window_start timestamptz NOT NULL,  -- the chunk holds samples in [window_start, +2 hours)
    samples      integer     NOT NULL CHECK (samples > 0),
    data         bytea       NOT NULL,
    CONSTRAINT sample_chunks_pkey PRIMARY KEY (series_id, window_start)
) PARTITION BY RANGE (window_start);
-- Chunks are compressed already: out of line without another (pointless) pglz attempt.
ALTER TABLE sample_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- frontier: rows older than this go to samples_late, never to the head (the writer reads it under
-- a shared advisory lock; the sealing job moves it under the exclusive one). legacy_until: where
-- samples_legacy's rows (and chunks sealed from them) end. Below max(frontier, legacy_until) a
-- sample may be in more than one place, and readers merge; above it only the head holds samples.
CREATE TABLE sealing_state (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    frontier     timestamptz NOT NULL,
    legacy_until timestamptz NOT NULL
);
-- Ingest refused timestamps more than 10 minutes ahead, so no legacy row is newer than that.
INSERT INTO sealing_state (frontier, legacy_until)
VALUES ('1970-01-01T00:00:00Z', now() + interval '10 minutes');

-- Per day partition of sample_chunks: how many samples its chunks hold (bytes per sample).
CREATE TABLE sealed_day_stats (
    day     date   PRIMARY KEY,
    samples bigint NOT NULL DEFAULT 0,
    chunks  bigint NOT NULL DEFAULT 0
);

-- A lone shared/exclusive pair: writers hold it shared for their transaction, the frontier moves
-- under it exclusively. In plpgsql each statement takes a fresh snapshot, so the frontier read
-- after the lock is the one in force for the whole writer transaction.
CREATE FUNCTION hostpulse_head_frontier() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7021090357493645173);
    RETURN (SELECT frontier FROM sealing_state);
END
$$;

-- The rule for two arrivals of one (series, time) with different values (sample_merge.py): the
-- larger one by IEEE 754 total order wins. This is that order as an int8 key (the float's bits,
-- the non-sign bits flipped for negatives), so SQL and numpy pick the same value every time.
CREATE FUNCTION hostpulse_value_order(v double precision) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN b < 0 THEN b # 9223372036854775807 ELSE b END
    FROM (SELECT ('x' || encode(float8send(v), 'hex'))::bit(64)::bigint AS b) AS bits
$$;

CREATE FUNCTION hostpulse_window_start(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin('2 hours', t, 'epoch'::timestamptz) $$;

-- Creates partition `name` of `parent` for [lower_bound, upper_bound) unless it exists; true when
-- created now. Created detached, then attached: that takes only SHARE UPDATE EXCLUSIVE on the
-- parent, so ingest and reads go on meanwhile.
CREATE FUNCTION hostpulse_ensure_partition(
    parent text, name text, lower_bound timestamptz, upper_bound timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Two processes meeting a new window at once: one creates it, the other then sees it.
    PERFORM pg_advisory_xact_lock(hashtext('hostpulse_partition:' || parent));
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)',
        name, parent
    );
    EXECUTE format(
        'ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        parent, name, lower_bound, upper_bound
    );
    RETURN true;
END
$$;

-- The head partition of the 2-hour window holding `t`.
CREATE FUNCTION hostpulse_ensure_head_partition(t timestamptz) RETURNS boolean
LANGUAGE sql AS $$
    SELECT hostpulse_ensure_partition(
        'samples', 'samples_h' || to_char(hostpulse_window_start(t) AT TIME ZONE 'UTC', 'YYYYMMDDHH24'),
        hostpulse_window_start(t), hostpulse_window_start(t) + interval '2 hours'
    )
$$;

-- The chunk partition of a UTC day.
CREATE FUNCTION hostpulse_ensure_chunk_partition(day date) RETURNS boolean
LANGUAGE sql AS $$
    SELECT hostpulse_ensure_partition(
        'sample_chunks', 'sample_chunks_p' || to_char(day, 'YYYYMMDD'),
        day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC'
    )
$$;

-- Grafana's raw view (042_grafana_reader.sql, where present): sealed history is compressed with
-- pcodec, which PostgreSQL cannot decode, so the view keeps its columns and reads rows where the
-- head alone holds each sample once (from the merge horizon on), and below it each minute's
-- average from the 1-minute rollups, stamped at the minute's start (docs/storage.md). A view
-- over tables: the Grafana reader role needs no grant on them. A view keeps its grants when
-- replaced.
DO $$
BEGIN
    IF to_regclass('grafana.raw_samples') IS NOT NULL THEN
        CREATE OR REPLACE VIEW grafana.raw_samples AS
        SELECT s.series_id, s.time, s.value FROM samples s
        WHERE s.time >= (SELECT greatest(frontier, legacy_until) FROM sealing_state)
        UNION ALL
        SELECT r.series_id, r.bucket, r.sum / r.count FROM rollup_1m r
        WHERE r.bucket < (SELECT greatest(frontier, legacy_until) FROM sealing_state);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM samples_legacy LIMIT 1) THEN
        DROP TABLE samples_legacy;
        UPDATE sealing_state SET legacy_until = '1970-01-01T00:00:00Z';
    END IF;
END
$$;

-- Locks samples_legacy for the reading transaction if it still exists (readers call it right
-- after their snapshot; the sealing job drops a sealed legacy partition only a minute after its
-- chunks committed, so no reader's snapshot can miss both).
CREATE FUNCTION hostpulse_lock_legacy() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF to_regclass('samples_legacy') IS NULL THEN
        RETURN false;
    END IF;
    LOCK TABLE ONLY samples_legacy IN ACCESS SHARE MODE;
    RETURN true;
EXCEPTION WHEN undefined_table THEN
    RETURN false;
END
$$;

-- The sealing job's progress per row partition (a head window or a legacy day): the next series
-- id to seal (updated in the transaction that writes the chunks, so a restart resumes there), the
-- rows read, and when every series was sealed (the partition is detached a minute later).
CREATE TABLE sealing_progress (
    relname        text        PRIMARY KEY,
    next_series_id bigint      NOT NULL DEFAULT 0,
    rows_sealed    bigint      NOT NULL DEFAULT 0,
    bytes          bigint,
    sealed_at      timestamptz
);
