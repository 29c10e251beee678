-- Issue 17: reports of messages, one per reporter and message (chat_core::rules::report).
CREATE TABLE reports (
    tenant          text COLLATE "C" NOT NULL,
    reporter        text COLLATE "C" NOT NULL,
    message_id      uuid NOT NULL,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason          text NOT NULL CHECK (reason IN ('spam', 'abuse', 'scam', 'inappropriate', 'other')),
    note            text,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant, reporter, message_id)
);
