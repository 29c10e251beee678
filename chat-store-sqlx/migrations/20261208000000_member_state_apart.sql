-- Issue 31: a send writes its message, its conversation and one narrow row per member, not
-- every member's wide participant row through seven indexes.
--
-- `participants` keeps what a send never changes: membership, role, join time, the tag and
-- title key copies (for the tag filters and search, indexed without activity, so those
-- indexes are written when someone joins and never by a send), the cleared watermark and the
-- mute flag. `member_state` holds what a send changes for each member: the activity time and
-- archive flag the inbox is ordered and split by, the unread count, and the read and delivery
-- watermarks (the sender's move with its message). Its two indexes are the inbox and the
-- unread inbox; the primary key finds a conversation's rows. `pending_notifications` holds
-- the outbox's due times (invariant 14), a row only while a notification is pending, so the
-- due-time index is off the rows a send rewrites.
--
-- The rows are carried over as they are: the counters were kept by the same rules.

CREATE TABLE member_state (
    conversation_id    uuid NOT NULL,
    last_activity_at   timestamptz NOT NULL,
    unread_count       bigint NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
    last_read_seq      bigint NOT NULL DEFAULT 0 CHECK (last_read_seq >= 0),
    last_read_at       timestamptz,
    last_delivered_seq bigint NOT NULL DEFAULT 0,
    last_delivered_at  timestamptz,
    is_archived        boolean NOT NULL DEFAULT false,
    tenant             text COLLATE "C" NOT NULL,
    user_id            text COLLATE "C" NOT NULL,
    PRIMARY KEY (conversation_id, user_id),
    FOREIGN KEY (conversation_id, user_id) REFERENCES participants (conversation_id, user_id) ON DELETE CASCADE,
    -- Invariant 11: the delivery watermark is never below the read watermark.
    CONSTRAINT member_state_delivered_at_least_read CHECK (last_delivered_seq >= last_read_seq)
);

INSERT INTO member_state (conversation_id, user_id, tenant, last_activity_at, unread_count, last_read_seq,
    last_read_at, last_delivered_seq, last_delivered_at, is_archived)
SELECT conversation_id, user_id, tenant, last_activity_at, unread_count, last_read_seq, last_read_at,
    last_delivered_seq, last_delivered_at, is_archived
FROM participants;

-- The inbox: one range per (user, archive flag) in activity order, read backwards (newest
-- first). Ascending, so that a send's new entry lands at the end of the user's range: the
-- page that fills splits like the right end of a B-tree rather than in half at the left.
CREATE INDEX member_state_inbox
    ON member_state (tenant, user_id, is_archived, last_activity_at, conversation_id);

-- The unread-only inbox: only rows with unread messages are in it. Stats sum the unread
-- counts from it (index only), so their cost follows the unread conversations.
CREATE INDEX member_state_inbox_unread
    ON member_state (tenant, user_id, is_archived, last_activity_at, conversation_id)
    INCLUDE (unread_count)
    WHERE unread_count > 0;

CREATE TABLE pending_notifications (
    conversation_id uuid NOT NULL,
    first_seq       bigint NOT NULL CHECK (first_seq >= 1),
    due_at          timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    tenant          text COLLATE "C" NOT NULL,
    user_id         text COLLATE "C" NOT NULL,
    PRIMARY KEY (conversation_id, user_id),
    FOREIGN KEY (conversation_id, user_id) REFERENCES participants (conversation_id, user_id) ON DELETE CASCADE
);

INSERT INTO pending_notifications (conversation_id, user_id, tenant, first_seq, due_at, attempts)
SELECT conversation_id, user_id, tenant, notify_first_seq, notify_due_at, notify_attempts
FROM participants WHERE notify_due_at IS NOT NULL;

-- The workers' claims: the due rows, earliest first.
CREATE INDEX pending_notifications_due ON pending_notifications (due_at);

DROP INDEX participants_inbox;
DROP INDEX participants_inbox_unread;
DROP INDEX participants_inbox_tag_type;
DROP INDEX participants_inbox_tag;
DROP INDEX participants_search_titles;
DROP INDEX participants_notifications_due;

ALTER TABLE participants
    DROP COLUMN last_activity_at,
    DROP COLUMN unread_count,
    DROP COLUMN is_archived,
    DROP COLUMN last_read_seq,
    DROP COLUMN last_read_at,
    DROP COLUMN last_delivered_seq,
    DROP COLUMN last_delivered_at,
    DROP COLUMN notify_first_seq,
    DROP COLUMN notify_due_at,
    DROP COLUMN notify_attempts;

-- A user's conversations, by tag type and id (index only): a tag filter either walks the
-- user's rows of that tag and orders them by activity from member_state, or walks the inbox
-- and checks the tag, whichever the planner finds cheaper; search by participant starts here.
CREATE INDEX participants_by_user ON participants (tenant, user_id, tag_type, tag_id, conversation_id);

-- Search by title: the user's groups with the key, checked from the index itself.
CREATE INDEX participants_titles
    ON participants (tenant, user_id)
    INCLUDE (title_lower, conversation_id)
    WHERE title_lower IS NOT NULL;
