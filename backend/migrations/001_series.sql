-- One row per distinct (metric, host, labels): samples and rollups refer to it by id.
-- labels_hash keeps the unique index small however many labels a series carries
-- (jsonb's text form is canonical: keys sorted, whitespace normalised).
CREATE TABLE series (
    id          bigserial PRIMARY KEY,
    metric      text  NOT NULL,
    host        text  NOT NULL,
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    labels_hash uuid  NOT NULL GENERATED ALWAYS AS (md5(labels::text)::uuid) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT series_labels_is_object CHECK (jsonb_typeof(labels) = 'object'),
    CONSTRAINT series_identity UNIQUE (metric, host, labels_hash)
);

-- The history API looks series up by host and metric; list_metrics by host.
CREATE INDEX series_host_metric ON series (host, metric);
