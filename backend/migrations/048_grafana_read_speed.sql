-- Two fixes to the speed of Grafana's reads (bench/grafana_sql_bench.py).
--
-- Grafana's 30-day panels (042_grafana_reader.sql: grafana.metric_values at the hourly
-- resolution) read ~720 hourly buckets per series. The rollup job writes each hour's buckets for
-- every series together, so one series' buckets lie in ~720 different heap pages: reading them
-- through the primary key cost one page per point (28 ms for 3 series at load 6;
-- bench/grafana_sql_bench.py). This covering index holds the values beside the key, so the same
-- read is an index-only scan of a few adjacent pages (~1 ms) once autovacuum has marked the
-- settled hours all-visible (old hours never change again).
--
-- Built inside the migration's transaction, which blocks rollup writes while it runs: rollup_1h is
-- the smallest history table (one row per series and hour), so this takes seconds even for a
-- large fleet.
CREATE INDEX IF NOT EXISTS rollup_1h_series_values
    ON rollup_1h (series_id, bucket) INCLUDE (min, max, sum, count);

-- grafana.metric_values runs its queries through PL/pgSQL's plan cache: after five calls in a
-- session (Grafana keeps its connections) PostgreSQL may switch to a generic plan that does not
-- know the hosts or the range, and for the 1-minute branch picked rollup_1m's bucket index over
-- every series of the range: 6 hours of one series went from 0.6 ms to 350-450 ms (1.0 M rows
-- read for 358). A custom plan per call costs about a millisecond of planning.
ALTER FUNCTION grafana.metric_values(text[], text, timestamptz, timestamptz, boolean)
    SET plan_cache_mode = force_custom_plan;
