-- A send moves last_activity_at on every participant row of the conversation, and since that
-- column is indexed the update cannot be HOT: each updated row gets a new entry in every index
-- of participants whose predicate it meets. The activity order had four such indexes besides
-- the primary key (main, unread-only, tag type, tag type and id), so a send to an untagged
-- direct conversation wrote 5 B-tree entries for its two rows (7 with the message's), a
-- tagged one 9.
--
-- The unread-only and tag-type variants fold into the main activity index: their filters are
-- INCLUDE columns, checked inside the range without visiting the table. A send now writes the
-- primary key and one activity entry per row (plus, for a tagged conversation, its entry in
-- participants_inbox_tag, kept because a tag id is too selective to filter inside the
-- range). What it costs: the unread-only and tag-type inbox pages and the stats read the
-- user's activity range until they have a page (stats: all of it, index only) instead of a
-- range holding only the matching rows; see the crate docs.
--
-- On a large existing table this rebuilds the index under a lock that blocks writes to
-- participants; a host that cannot afford it creates participants_activity CONCURRENTLY by
-- hand first (the IF NOT EXISTS below then keeps it).
CREATE INDEX IF NOT EXISTS participants_activity
    ON participants (tenant, user_id, is_archived, last_activity_at DESC, conversation_id DESC)
    INCLUDE (unread_count, tag_type);
DROP INDEX participants_inbox;
DROP INDEX participants_inbox_unread;
DROP INDEX participants_inbox_tag_type;
