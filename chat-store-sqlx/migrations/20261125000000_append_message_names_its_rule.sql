-- The send function applies chat-core's append rule in SQL. The migration that created it
-- names the rule by its former home (`NewMessage::next_message`); the rule now lives in
-- `chat_core::rules::append`, and the function's own comment says so where psql's `\df+`
-- and any schema dump show it.
COMMENT ON FUNCTION append_message(uuid, text, text, uuid, text, text, jsonb, timestamptz, text) IS
    'A send in one statement (lock, membership, retry key, writes). Mirrors chat_core::rules::append: '
    'seq = last_seq + 1; created_at = now clamped to last_activity_at; the preview, last_seq and '
    'last_activity_at describe the new message; the sender is read up to it; every other member gets '
    'one more unread; the conversation comes out of everyone''s archive. The model-based property test '
    'runs on PgStore and keeps the two equal.';
