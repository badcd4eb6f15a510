-- Forwarding's durable queue (backend/forward/): what the backend processes accepted, encoded as
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
