-- Issue 17: blocking (invariant 13). A user who blocked another gets nothing new from them
-- in a direct conversation: the blocked user can neither start one with the blocker nor
-- send into one they share. Groups are not affected.
CREATE TABLE blocks (
    tenant     text COLLATE "C" NOT NULL,
    blocker    text COLLATE "C" NOT NULL,
    blocked    text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, blocker, blocked)
);

-- The send function keeps its body; the block check wraps it. The wrapper takes the
-- conversation's row lock first (the inner function takes it again, which is free), so a
-- block stored by a transaction that locked the pair's direct conversations (PgStore's
-- set_block) is either committed before this check reads it or waits for the send.
ALTER FUNCTION append_message(uuid, text, text, uuid, text, text, jsonb, timestamptz, text, uuid, bigint)
    RENAME TO append_message_unblocked;

CREATE FUNCTION append_message(
    p_conversation uuid, p_tenant text, p_sender text, p_id uuid, p_body text,
    p_client_message_id text, p_metadata jsonb, p_now timestamptz, p_preview text, p_reply_to uuid,
    p_notify_after_us bigint)
RETURNS TABLE (
    created boolean,
    id uuid, tenant text, kind text, title text, tag_type text, tag_id text, tag_id_is_int boolean,
    created_by text, created_at timestamptz, updated_at timestamptz, last_seq bigint,
    last_activity_at timestamptz, last_message_id uuid, last_message_seq bigint,
    last_message_sender text, last_message_text text, last_message_at timestamptz, metadata jsonb,
    version bigint,
    p_users text[], p_roles text[], p_joined_at timestamptz[], p_last_read_seq bigint[],
    p_last_read_at timestamptz[], p_unread bigint[], p_archived boolean[], p_cleared bigint[],
    p_delivered_seq bigint[], p_delivered_at timestamptz[],
    p_notify_seq bigint[], p_notify_due_at timestamptz[], p_notify_attempts integer[],
    m_id uuid, m_conversation_id uuid, m_seq bigint, m_sender text, m_body text,
    m_client_message_id text, m_metadata jsonb, m_created_at timestamptz, m_edited_at timestamptz,
    m_deleted_at timestamptz, m_kind text, m_reply_to_id uuid, m_reply_to_seq bigint, m_reactions jsonb,
    m_attachments jsonb)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_kind text;
BEGIN
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION 'append_message runs in READ COMMITTED only' USING ERRCODE = 'invalid_transaction_state';
    END IF;
    IF p_sender IS NOT NULL THEN
        SELECT c.kind INTO v_kind FROM conversations c
        WHERE c.id = p_conversation AND c.tenant = p_tenant
        FOR NO KEY UPDATE;
        -- rules::block_that_stops and rules::send_refused_by_block, after the membership
        -- check (a non-member gets no row, as before) and before the retry key.
        IF v_kind = 'direct' AND EXISTS (
            SELECT 1 FROM participants me
            JOIN participants other ON other.conversation_id = me.conversation_id AND other.user_id <> me.user_id
            JOIN blocks b ON b.tenant = p_tenant AND b.blocker = other.user_id AND b.blocked = me.user_id
            WHERE me.conversation_id = p_conversation AND me.user_id = p_sender)
        THEN
            RAISE EXCEPTION 'send refused' USING ERRCODE = 'CH403';
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM append_message_unblocked(p_conversation, p_tenant, p_sender, p_id, p_body,
        p_client_message_id, p_metadata, p_now, p_preview, p_reply_to, p_notify_after_us);
END $$;

COMMENT ON FUNCTION append_message(uuid, text, text, uuid, text, text, jsonb, timestamptz, text, uuid, bigint) IS
    'A send in one statement: the block check of chat_core::rules::send_refused_by_block (SQLSTATE CH403 '
    'when the other participant of a direct conversation has blocked the sender), then '
    'append_message_unblocked (lock, membership, retry key, reply check, writes; see its comment).';

COMMENT ON FUNCTION append_message_unblocked(uuid, text, text, uuid, text, text, jsonb, timestamptz, text, uuid, bigint) IS
    'The body of a send, called only by append_message (which checks blocks first): a later migration that '
    'changes the send changes this function, and never drops or recreates append_message without its block '
    'check. Mirrors chat_core::rules::append (see the comment of the 20261204 migration).';
