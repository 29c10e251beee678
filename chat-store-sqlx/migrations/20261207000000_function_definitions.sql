-- Issue 30: each SQL function's current definition lives in one file (functions/*.sql)
-- that PgStore::migrate installs after the migrations when its text changed, instead of a
-- full copy of the function in every migration that changes it. This table records what
-- is installed.
CREATE TABLE function_definitions (
    name text PRIMARY KEY,
    definition text NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now()
);
