-- Grafana's read-only access (docs/grafana.md): the schema `grafana` holds views and functions
-- over exactly what the HostPulse dashboards show, and the role `hostpulse_grafana` may read
-- that schema and nothing else. Views run with their owner's rights, so the role has no grant on
-- any table: not series or samples directly, and never users, sessions, agent tokens, webhooks
-- or notification bodies.
--
-- The role is created NOLOGIN and without a password: an operator gives it both
-- (`ALTER ROLE hostpulse_grafana LOGIN PASSWORD '…'`, or a Kubernetes secret's job), so no
-- password is ever in this repository. Roles are cluster-wide: a second HostPulse database in the
-- same cluster shares it, and each database grants it its own schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hostpulse_grafana') THEN
        CREATE ROLE hostpulse_grafana NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of the cluster created it at the same moment
END
$$;

CREATE SCHEMA IF NOT EXISTS grafana;
REVOKE ALL ON SCHEMA grafana FROM PUBLIC;

-- Raw samples as PostgreSQL can read them: sealed history is pcodec-compressed, which SQL cannot
-- decode, so this reads head rows from the merge horizon on (each sample once) and, below it,
-- each minute's average from the 1-minute rollups, stamped at the minute's start (the same
-- definition as 041_sealed_chunks.sql's, which replaces it when 041 runs again after an unseal).
CREATE OR REPLACE VIEW grafana.raw_samples AS
SELECT s.series_id, s.time, s.value FROM samples s
WHERE s.time >= (SELECT greatest(frontier, legacy_until) FROM sealing_state)
UNION ALL
SELECT r.series_id, r.bucket, r.sum / r.count FROM rollup_1m r
WHERE r.bucket < (SELECT greatest(frontier, legacy_until) FROM sealing_state);

CREATE OR REPLACE VIEW grafana.series AS
SELECT id AS series_id, metric, host, labels FROM series;

CREATE OR REPLACE VIEW grafana.hosts AS
SELECT DISTINCT host FROM series;

-- Rollups with the average worked out; a bucket whose sum overflowed to ±Infinity stays so here
-- (grafana.finite turns it into NULL for display).
CREATE OR REPLACE VIEW grafana.rollup_1m AS
SELECT series_id, bucket AS time, min, max, sum / count AS avg, count FROM rollup_1m;

CREATE OR REPLACE VIEW grafana.rollup_1h AS
SELECT series_id, bucket AS time, min, max, sum / count AS avg, count FROM rollup_1h;

CREATE OR REPLACE VIEW grafana.process_snapshots AS
SELECT host, time, processes FROM process_snapshots;

CREATE OR REPLACE VIEW grafana.alert_rules AS
SELECT name, kind, metric, matchers, op, threshold, for_seconds, resolve_threshold,
       keep_firing_for_seconds, labels, annotations, enabled, source,
       coalesce(labels ->> 'severity', '') AS severity
FROM alert_rules;

CREATE OR REPLACE VIEW grafana.alert_state AS
SELECT rule, labels, coalesce(labels ->> 'host', '') AS host,
       coalesce(labels ->> 'severity', '') AS severity, state,
       to_timestamp(active_since_ms / 1000.0) AS active_since,
       to_timestamp(fired_at_ms / 1000.0) AS fired_at,
       last_value,
       to_timestamp(last_seen_ms / 1000.0) AS last_seen
FROM alert_state;

CREATE OR REPLACE VIEW grafana.alert_transitions AS
SELECT id, rule, labels, host, severity, from_state, to_state, value, at, starts_at, reason, muted
FROM alert_transitions;

-- A double Grafana can draw: NULL for ±Infinity and NaN (ingest may store them; a rollup's sum
-- of huge values is +Infinity).
CREATE OR REPLACE FUNCTION grafana.finite(v double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IN ('Infinity', '-Infinity') OR v = 'NaN' THEN NULL ELSE v END
$$;

-- A numeric back to double precision, NULL where it does not fit. Dashboards add and subtract
-- in numeric, because double precision arithmetic in PostgreSQL raises "value out of range:
-- overflow" (an error for the whole panel) where a sum of huge samples passes 1.8e308.
CREATE OR REPLACE FUNCTION grafana.to_float(v numeric) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN abs(v) < 1e308 THEN v::double precision END
$$;

-- Which table a range is read from, so 30 days read ~720 hourly rows per series rather than
-- 1.3 million samples: raw up to 2 hours (≤ 3,600 points at 2 s), 1-minute rollups up to 2 days
-- (≤ 2,880 points), hourly rollups beyond.
CREATE OR REPLACE FUNCTION grafana.resolution(range_start timestamptz, range_end timestamptz)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN range_end - range_start <= interval '2 hours' THEN 'raw'
        WHEN range_end - range_start <= interval '2 days' THEN '1m'
        ELSE '1h'
    END
$$;

-- One metric of some hosts over a range, from the table grafana.resolution picks: raw values, or
-- each rollup bucket's average (gauges) or maximum (`counter`: a counter's last value in the
-- bucket, so differences between buckets are its increase). Non-finite values come back NULL.
CREATE OR REPLACE FUNCTION grafana.metric_values(
    hosts text[], metric_name text, range_start timestamptz, range_end timestamptz,
    counter boolean DEFAULT false
) RETURNS TABLE ("time" timestamptz, series_id bigint, host text, labels jsonb, value double precision)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    CASE grafana.resolution(range_start, range_end)
    WHEN 'raw' THEN
        RETURN QUERY
        SELECT r.time, s.series_id, s.host, s.labels, grafana.finite(r.value)
        FROM grafana.series s JOIN grafana.raw_samples r ON r.series_id = s.series_id
        WHERE s.host = ANY (hosts) AND s.metric = metric_name
          AND r.time >= range_start AND r.time <= range_end
        ORDER BY 1;
    WHEN '1m' THEN
        RETURN QUERY
        SELECT r.time, s.series_id, s.host, s.labels,
               grafana.finite(CASE WHEN counter THEN r.max ELSE r.avg END)
        FROM grafana.series s JOIN grafana.rollup_1m r ON r.series_id = s.series_id
        WHERE s.host = ANY (hosts) AND s.metric = metric_name
          AND r.time >= date_trunc('minute', range_start) AND r.time <= range_end
        ORDER BY 1;
    ELSE
        RETURN QUERY
        SELECT r.time, s.series_id, s.host, s.labels,
               grafana.finite(CASE WHEN counter THEN r.max ELSE r.avg END)
        FROM grafana.series s JOIN grafana.rollup_1h r ON r.series_id = s.series_id
        WHERE s.host = ANY (hosts) AND s.metric = metric_name
          AND r.time >= date_trunc('hour', range_start) AND r.time <= range_end
        ORDER BY 1;
    END CASE;
END
$$;

-- A counter's rate per second between consecutive points of each series (NULL after a reset,
-- where the counter went down), computed in numeric so huge values cannot overflow.
CREATE OR REPLACE FUNCTION grafana.metric_rates(
    hosts text[], metric_name text, range_start timestamptz, range_end timestamptz
) RETURNS TABLE ("time" timestamptz, series_id bigint, host text, labels jsonb, value double precision)
LANGUAGE sql STABLE AS $$
    SELECT steps.time, steps.series_id, steps.host, steps.labels,
           CASE WHEN increase >= 0 AND seconds > 0 THEN grafana.to_float(increase / seconds) END
    FROM (
        SELECT v.time, v.series_id, v.host, v.labels,
               v.value::numeric - lag(v.value::numeric) OVER w AS increase,
               extract(epoch FROM v.time - lag(v.time) OVER w) AS seconds
        FROM grafana.metric_values(hosts, metric_name, range_start, range_end, true) v
        WINDOW w AS (PARTITION BY v.series_id ORDER BY v.time)
    ) AS steps
    WHERE seconds IS NOT NULL
    ORDER BY 1
$$;

GRANT USAGE ON SCHEMA grafana TO hostpulse_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA grafana TO hostpulse_grafana;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA grafana FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA grafana TO hostpulse_grafana;
