-- Retention deletes old alert transitions and notification deliveries in batches. Deleting a
-- transition sets notification_deliveries.transition_id to NULL, which needs an index to find the
-- rows; deliveries are deleted by created_at (BRIN: they arrive in time order). Guarded so that
-- this migration also applies where the alerting tables are not there.
DO $$
BEGIN
    IF to_regclass('notification_deliveries') IS NOT NULL THEN
        CREATE INDEX IF NOT EXISTS notification_deliveries_transition
            ON notification_deliveries (transition_id);
        CREATE INDEX IF NOT EXISTS notification_deliveries_created_brin
            ON notification_deliveries USING brin (created_at);
    END IF;
END
$$;
