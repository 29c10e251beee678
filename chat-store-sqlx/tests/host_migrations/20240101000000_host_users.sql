-- A host application's own migration, run by the host's own sqlx migrator into public.
CREATE TABLE host_users (
    id    bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE
);
