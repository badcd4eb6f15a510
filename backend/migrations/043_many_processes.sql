-- What more than one backend process (workers, replicas) on one database needs.
--
-- 1. Partitions created safely by concurrent processes. 041's hostpulse_ensure_partition checks
-- to_regclass() again after taking its lock, but that reads the relation cache, which an advisory
-- lock does not refresh: a process that waited for another's CREATE still saw no table and
-- failed with "relation ... already exists" (two workers starting together; found by
-- bench/backend_bench.py --layouts). After the lock it now reads pg_class itself: every
-- statement of a volatile function sees what committed before it began.
CREATE OR REPLACE FUNCTION hostpulse_ensure_partition(
    parent text, name text, lower_bound timestamptz, upper_bound timestamptz
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Two processes meeting a new window at once: one creates it, the other then sees it.
    PERFORM pg_advisory_xact_lock(hashtext('hostpulse_partition:' || parent));
    IF EXISTS (
        SELECT 1 FROM pg_class
        WHERE relname = name AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
    ) THEN
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

-- 2. Forwarding's durable queue (backend/forward/): what the backend processes accepted, encoded as
-- remote_write request bodies (snappy-compressed protobuf), one row per body and target. Every
-- process appends; the one process holding the target's advisory lock (backend/leadership.py)
-- sends the rows in id order and deletes each once the target has answered for it.
CREATE TABLE forward_queue (
    id          bigserial   PRIMARY KEY,
    target      text        NOT NULL,
    samples     integer     NOT NULL,
    oldest_ms   bigint      NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    body        bytea       NOT NULL
);
-- Bodies are snappy-compressed already: no second compression attempt by TOAST.
ALTER TABLE forward_queue ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX forward_queue_target_id ON forward_queue (target, id);
