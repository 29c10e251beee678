-- Search folds case and accents since issue 13 (chat_core::rules::title_search_key: lowercase,
-- NFKD, combining marks removed), so `ines` finds a group titled `Inés`. `participants.title_lower`
-- holds that key, computed in Rust; SQL cannot compute the same key, so this table records which
-- key the rows hold, and `PgStore::migrate` (chat-store-sqlx/src/search_keys.rs) rewrites the
-- keys of existing rows from Rust once, then records the new version. Version 1: `lower()` in Rust
-- (`str::to_lowercase`), what every row written before this migration holds.
CREATE TABLE search_key_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   integer NOT NULL
);
INSERT INTO search_key_version (singleton, version) VALUES (true, 1);
