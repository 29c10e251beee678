-- Invariant 12 (issue 13): a deleted message no longer counts as unread. From this version on
-- a delete takes it off the `unread_count` of every participant who had not read it
-- (chat_core::rules::delete), and marking read up to a seq counts only the messages above it
-- that are not deleted (chat_core::rules::mark_read). Deletes made before left the message on
-- those badges; recount exactly the rows that have a deleted message above their watermark.
UPDATE participants p
SET unread_count = fixed.unread
FROM (
    SELECT r.conversation_id, r.user_id,
        (SELECT count(*) FROM messages m
         WHERE m.conversation_id = r.conversation_id AND m.seq > r.last_read_seq
           AND m.sender <> r.user_id AND m.deleted_at IS NULL) AS unread
    FROM participants r
    WHERE EXISTS (
        SELECT 1 FROM messages d
        WHERE d.conversation_id = r.conversation_id AND d.seq > r.last_read_seq
          AND d.deleted_at IS NOT NULL AND d.sender <> r.user_id
    )
) fixed
WHERE p.conversation_id = fixed.conversation_id AND p.user_id = fixed.user_id
  AND p.unread_count <> fixed.unread;
