-- The top-process table of a host at each report time, as the UI shows it.
CREATE TABLE process_snapshots (
    host      text        NOT NULL,
    time      timestamptz NOT NULL,
    processes jsonb       NOT NULL,
    CONSTRAINT process_snapshots_is_array CHECK (jsonb_typeof(processes) = 'array')
);

CREATE INDEX process_snapshots_host_time ON process_snapshots (host, time);
