-- +goose Up
-- A connection's deadline is now enforced by a sweeper that every worker
-- replica runs, not by a River job scheduled per attempt: River moves
-- scheduled jobs only on its elected leader, and after a crash the dead
-- leader's lease delayed every deadline by up to its length. The per-attempt
-- deadline job and its id go, and so do the queued jobs of the two kinds
-- that no worker handles any more (River's tables come later on a new
-- database, hence the check).
ALTER TABLE connections DROP COLUMN deadline_job_id;

-- An attempt keeps its app's id when the app is deleted, so the reconcile
-- queued by the delete still finds the projects the app's attempts left.
ALTER TABLE project_attempts DROP CONSTRAINT project_attempts_app_id_fkey;

-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('river_job') IS NOT NULL THEN
        DELETE FROM river_job
         WHERE kind IN ('connection_deadline', 'connection_sweep')
           AND state NOT IN ('completed', 'cancelled', 'discarded');
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
UPDATE project_attempts SET app_id = NULL WHERE app_id NOT IN (SELECT id FROM apps);
ALTER TABLE project_attempts ADD CONSTRAINT project_attempts_app_id_fkey
    FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE SET NULL;
ALTER TABLE connections ADD COLUMN deadline_job_id bigint NOT NULL DEFAULT 0;
