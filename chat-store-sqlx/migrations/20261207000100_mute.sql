-- Issue 30: a member may mute a conversation: unread counts go on, no notification is
-- made (append_message, functions/append_message.sql, skips muted members).
ALTER TABLE participants ADD COLUMN muted boolean NOT NULL DEFAULT false;
