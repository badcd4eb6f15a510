-- Raw samples, partitioned by day so retention drops whole partitions instead of deleting rows.
-- Partitions are created ahead by hostpulse_ensure_samples_partition (the writer and the
-- maintenance job call it); there is no default partition, because a default partition holding
-- a day's rows would block creating that day's partition later.
CREATE TABLE samples (
    series_id bigint           NOT NULL,
    time      timestamptz      NOT NULL,
    value     double precision NOT NULL
) PARTITION BY RANGE (time);

-- Every read is "one series over a time range".
CREATE INDEX samples_series_time ON samples (series_id, time);

CREATE FUNCTION hostpulse_samples_partition_name(day date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'samples_p' || to_char(day, 'YYYYMMDD') $$;

-- Creates the partition holding [day 00:00 UTC, day+1 00:00 UTC); true when it was created now.
CREATE FUNCTION hostpulse_ensure_samples_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    partition_name text := hostpulse_samples_partition_name(day);
    lower_bound timestamptz := (day::timestamp AT TIME ZONE 'UTC');
BEGIN
    IF to_regclass(quote_ident(partition_name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Two writers meeting a new day at once: serialise creation, then look again.
    PERFORM pg_advisory_xact_lock(hashtext('hostpulse_samples_partition'));
    IF to_regclass(quote_ident(partition_name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF samples FOR VALUES FROM (%L) TO (%L)',
        partition_name, lower_bound, lower_bound + interval '1 day'
    );
    RETURN true;
END
$$;

-- The rollup job reads "every sample of one minute": BRIN is nearly free to maintain on data that
-- arrives roughly in time order, and narrows that scan to the pages of that minute.
CREATE INDEX samples_time_brin ON samples USING brin (time) WITH (pages_per_range = 32);
