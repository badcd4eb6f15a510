-- Retention deletes by time in small batches; these let each batch find its rows without a scan.
-- rollup_1h gets few rows (one per series per hour), so a btree costs ingest nothing noticeable;
-- process_snapshots arrive in time order, where BRIN is nearly free to maintain.
CREATE INDEX IF NOT EXISTS rollup_1h_bucket ON rollup_1h (bucket);
CREATE INDEX IF NOT EXISTS process_snapshots_time_brin ON process_snapshots
    USING brin (time) WITH (pages_per_range = 32);
