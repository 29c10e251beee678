-- The chat tables. This file never names a schema: PgStore::migrate() creates the configured
-- schema (default `chat`) and runs the migrations on a connection whose search_path is that
-- schema alone, so these tables and sqlx's own `_sqlx_migrations` record land there, apart
-- from the host's tables and the host's `_sqlx_migrations`.
--
-- Every invariant that can live in the database does: the direct-conversation key, dense
-- (conversation, seq), the retry key (conversation, sender, client_message_id), non-negative
-- counters and the shape of each row. Host ids and tag parts compare byte-wise (COLLATE "C"),
-- exactly like Rust's `str` ordering, whatever the database's default collation is.

CREATE TABLE conversations (
    id                  uuid PRIMARY KEY,
    tenant              text COLLATE "C" NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('direct', 'group')),
    title               text,
    -- the tag: type, canonical id text, and whether the host gave the id as an integer.
    tag_type            text COLLATE "C",
    tag_id              text COLLATE "C",
    tag_id_is_int       boolean,
    -- direct conversations only: the pair, smaller id first.
    direct_low          text COLLATE "C",
    direct_high         text COLLATE "C",
    created_by          text COLLATE "C" NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    last_seq            bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    last_activity_at    timestamptz NOT NULL,
    -- the preview: the newest message that is not deleted.
    last_message_id     uuid,
    last_message_seq    bigint,
    last_message_sender text COLLATE "C",
    last_message_text   text,
    last_message_at     timestamptz,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    -- bumped by every write that holds the conversation's row lock (see PgStore docs).
    version             bigint NOT NULL DEFAULT 0,
    CONSTRAINT conversations_direct_pair CHECK (
        (kind = 'direct') = (direct_low IS NOT NULL AND direct_high IS NOT NULL)
        AND (direct_low IS NULL OR direct_low < direct_high)
    ),
    CONSTRAINT conversations_group_title CHECK ((kind = 'group') = (title IS NOT NULL)),
    CONSTRAINT conversations_tag_parts CHECK (
        (tag_type IS NULL) = (tag_id IS NULL) AND (tag_id IS NULL) = (tag_id_is_int IS NULL)
    ),
    CONSTRAINT conversations_preview_parts CHECK (
        (last_message_id IS NULL) = (last_message_seq IS NULL)
        AND (last_message_id IS NULL) = (last_message_sender IS NULL)
        AND (last_message_id IS NULL) = (last_message_text IS NULL)
        AND (last_message_id IS NULL) = (last_message_at IS NULL)
        AND (last_message_seq IS NULL OR last_message_seq BETWEEN 1 AND last_seq)
    )
);

-- Invariant 1: at most one direct conversation per tenant, unordered pair and tag (NULLs
-- would never conflict, so "no tag" is keyed as tagged = false with empty parts).
-- Find-or-create inserts with ON CONFLICT (this index) DO NOTHING and then reads the winner.
CREATE UNIQUE INDEX conversations_direct_key
    ON conversations (tenant, direct_low, direct_high, (tag_type IS NOT NULL),
                      (coalesce(tag_type, '')), (coalesce(tag_id, '')))
    WHERE kind = 'direct';

CREATE TABLE participants (
    conversation_id     uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id             text COLLATE "C" NOT NULL,
    -- copies of immutable or append-maintained conversation fields, so that inbox pages are
    -- index range scans over the user's own rows.
    tenant              text COLLATE "C" NOT NULL,
    tag_type            text COLLATE "C",
    tag_id              text COLLATE "C",
    last_activity_at    timestamptz NOT NULL,
    -- groups only: the title lower-cased in Rust (titles never change), for search.
    title_lower         text,
    role                text NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at           timestamptz NOT NULL,
    last_read_seq       bigint NOT NULL DEFAULT 0 CHECK (last_read_seq >= 0),
    last_read_at        timestamptz,
    unread_count        bigint NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    is_archived         boolean NOT NULL DEFAULT false,
    cleared_through_seq bigint NOT NULL DEFAULT 0 CHECK (cleared_through_seq >= 0),
    PRIMARY KEY (conversation_id, user_id)
);

-- The inbox: one range per (user, archive flag) in activity order.
CREATE INDEX participants_inbox
    ON participants (tenant, user_id, is_archived, last_activity_at DESC, conversation_id DESC);

-- The "unread only" inbox: only rows with unread messages are in it. Stats sum the unread
-- counters from it (index only), so their cost follows the unread conversations.
CREATE INDEX participants_inbox_unread
    ON participants (tenant, user_id, is_archived, last_activity_at DESC, conversation_id DESC)
    INCLUDE (unread_count)
    WHERE unread_count > 0;

-- Inbox filtered by tag type, and by type and id.
CREATE INDEX participants_inbox_tag_type
    ON participants (tenant, user_id, tag_type, is_archived, last_activity_at DESC, conversation_id DESC)
    WHERE tag_type IS NOT NULL;
CREATE INDEX participants_inbox_tag
    ON participants (tenant, user_id, tag_type, tag_id, is_archived, last_activity_at DESC, conversation_id DESC)
    WHERE tag_type IS NOT NULL;

-- Search by title: walks only the user's groups (the rows with a title), in inbox order,
-- checking the title from the index itself. Search by participant starts from the named
-- users' rows (participants_inbox) and joins the user's own row by primary key.
CREATE INDEX participants_search_titles
    ON participants (tenant, user_id, last_activity_at DESC, conversation_id DESC)
    INCLUDE (title_lower)
    WHERE title_lower IS NOT NULL;

-- How many conversations each user is in, kept by triggers on participants (so it cannot
-- drift from the rows, whoever writes them): the stats total without counting the rows.
CREATE TABLE user_totals (
    tenant        text COLLATE "C" NOT NULL,
    user_id       text COLLATE "C" NOT NULL,
    conversations bigint NOT NULL CHECK (conversations >= 0),
    PRIMARY KEY (tenant, user_id)
);

-- `SET search_path FROM CURRENT` pins these functions to the schema they were created in
-- (the migration's search_path), whatever the search_path of the connection that fires them.
-- Counter rows are locked in (tenant, user_id) order, so concurrent statements never deadlock.
CREATE FUNCTION user_totals_joined() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO user_totals AS t (tenant, user_id, conversations)
        SELECT j.tenant, j.user_id, count(*) FROM joined j
        GROUP BY j.tenant, j.user_id ORDER BY j.tenant, j.user_id
    ON CONFLICT (tenant, user_id) DO UPDATE SET conversations = t.conversations + EXCLUDED.conversations;
    RETURN NULL;
END $$;

CREATE FUNCTION user_totals_left() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    gone record;
BEGIN
    FOR gone IN
        SELECT l.tenant, l.user_id, count(*) AS n FROM left_rows l
        GROUP BY l.tenant, l.user_id ORDER BY l.tenant, l.user_id
    LOOP
        UPDATE user_totals SET conversations = conversations - gone.n
        WHERE tenant = gone.tenant AND user_id = gone.user_id;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER participants_joined AFTER INSERT ON participants
    REFERENCING NEW TABLE AS joined FOR EACH STATEMENT EXECUTE FUNCTION user_totals_joined();
CREATE TRIGGER participants_left AFTER DELETE ON participants
    REFERENCING OLD TABLE AS left_rows FOR EACH STATEMENT EXECUTE FUNCTION user_totals_left();

CREATE TABLE messages (
    conversation_id   uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- Invariant 2: dense per conversation, assigned under the conversation's row lock.
    seq               bigint NOT NULL CHECK (seq >= 1),
    id                uuid NOT NULL,
    sender            text COLLATE "C" NOT NULL,
    body              text NOT NULL,
    client_message_id text COLLATE "C",
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    created_at        timestamptz NOT NULL,
    edited_at         timestamptz,
    deleted_at        timestamptz,
    PRIMARY KEY (conversation_id, seq),
    CONSTRAINT messages_id_unique UNIQUE (conversation_id, id),
    CONSTRAINT messages_deleted_has_no_body CHECK (deleted_at IS NULL OR body = '')
);

-- Invariant 3: one message per retry key, sender and conversation.
CREATE UNIQUE INDEX messages_client_message_id
    ON messages (conversation_id, sender, client_message_id)
    WHERE client_message_id IS NOT NULL;

-- Events too large for a NOTIFY payload: PgEventBus stores them here and notifies a
-- reference; rows older than the bus's retention are deleted by later large events.
CREATE TABLE event_payloads (
    id         uuid PRIMARY KEY,
    payload    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_payloads_created_at ON event_payloads (created_at);
