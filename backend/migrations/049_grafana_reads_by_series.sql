-- grafana.metric_values reads each selected series through its own index range (a LATERAL
-- subquery per series, kept apart from the outer query by OFFSET 0), in all three resolutions.
--
-- Before, the raw branch joined grafana.series to grafana.raw_samples and the planner, which
-- cannot estimate the head rows above the merge horizon (a run-time parameter), hashed every
-- head row of the range: one host's uptime over the last hour read 261,340 rows of 5 hosts to
-- return 358 (188 ms), 250-470 ms with 20 hosts at load 8-10, and it grows with the fleet: the
-- head holds every series' samples. Per series it reads only that series' rows (~8 ms for 8
-- series; bench/grafana_sql_bench.py). Same signature, results and grants; 048's per-call plans
-- are kept.
CREATE OR REPLACE FUNCTION grafana.metric_values(
    hosts text[], metric_name text, range_start timestamptz, range_end timestamptz,
    counter boolean DEFAULT false
) RETURNS TABLE ("time" timestamptz, series_id bigint, host text, labels jsonb, value double precision)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
BEGIN
    CASE grafana.resolution(range_start, range_end)
    WHEN 'raw' THEN
        RETURN QUERY
        SELECT r.time, s.series_id, s.host, s.labels, grafana.finite(r.value)
        FROM grafana.series s
        CROSS JOIN LATERAL (
            SELECT x.time, x.value FROM grafana.raw_samples x
            WHERE x.series_id = s.series_id AND x.time >= range_start AND x.time <= range_end
            OFFSET 0
        ) r
        WHERE s.host = ANY (hosts) AND s.metric = metric_name
        ORDER BY 1;
    WHEN '1m' THEN
        RETURN QUERY
        SELECT r.time, s.series_id, s.host, s.labels,
               grafana.finite(CASE WHEN counter THEN r.max ELSE r.avg END)
        FROM grafana.series s
        CROSS JOIN LATERAL (
            SELECT x.time, x.max, x.avg FROM grafana.rollup_1m x
            WHERE x.series_id = s.series_id
              AND x.time >= date_trunc('minute', range_start) AND x.time <= range_end
            OFFSET 0
        ) r
        WHERE s.host = ANY (hosts) AND s.metric = metric_name
        ORDER BY 1;
    ELSE
        RETURN QUERY
        SELECT r.time, s.series_id, s.host, s.labels,
               grafana.finite(CASE WHEN counter THEN r.max ELSE r.avg END)
        FROM grafana.series s
        CROSS JOIN LATERAL (
            SELECT x.time, x.max, x.avg FROM grafana.rollup_1h x
            WHERE x.series_id = s.series_id
              AND x.time >= date_trunc('hour', range_start) AND x.time <= range_end
            OFFSET 0
        ) r
        WHERE s.host = ANY (hosts) AND s.metric = metric_name
        ORDER BY 1;
    END CASE;
END
$$;
