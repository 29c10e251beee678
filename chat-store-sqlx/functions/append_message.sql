-- The current definition of append_message: a send in one statement. This file, not a
-- migration, is where the function is changed: PgStore::migrate installs it after the
-- migrations whenever its text differs from the definition recorded in
-- function_definitions (src/functions.rs). Mirrors chat_core::rules::append (the comment
-- at the end says how); the model-based property test keeps the two equal.
DROP FUNCTION IF EXISTS append_message(uuid, text, text, uuid, text, text, jsonb, timestamptz, text, uuid, bigint);

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
    p_notify_seq bigint[], p_notify_due_at timestamptz[], p_notify_attempts integer[], p_muted boolean[],
    m_id uuid, m_conversation_id uuid, m_seq bigint, m_sender text, m_body text,
    m_client_message_id text, m_metadata jsonb, m_created_at timestamptz, m_edited_at timestamptz,
    m_deleted_at timestamptz, m_kind text, m_reply_to_id uuid, m_reply_to_seq bigint, m_reactions jsonb,
    m_attachments jsonb)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_at timestamptz;
    v_created boolean := true;
    v_stored bigint;
    v_cleared bigint := 0;
    v_reply_seq bigint;
    v_kind text;
BEGIN
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION 'append_message runs in READ COMMITTED only' USING ERRCODE = 'invalid_transaction_state';
    END IF;
    SELECT c.last_seq + 1, greatest(p_now, c.last_activity_at), c.kind INTO v_seq, v_at, v_kind
    FROM conversations c WHERE c.id = p_conversation AND c.tenant = p_tenant
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_sender IS NOT NULL THEN
        SELECT p.cleared_through_seq INTO v_cleared FROM participants p
        WHERE p.conversation_id = p_conversation AND p.user_id = p_sender;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        -- rules::block_that_stops and rules::send_refused_by_block, after the membership
        -- check and before the retry key, under the conversation's row lock (which
        -- PgStore's set_block takes too).
        IF v_kind = 'direct' AND EXISTS (
            SELECT 1 FROM participants other
            JOIN blocks b ON b.tenant = p_tenant AND b.blocker = other.user_id AND b.blocked = p_sender
            WHERE other.conversation_id = p_conversation AND other.user_id <> p_sender)
        THEN
            RAISE EXCEPTION 'send refused' USING ERRCODE = 'CH403';
        END IF;
    END IF;
    IF p_client_message_id IS NOT NULL THEN
        -- A repeated retry key: no write, the stored message is returned.
        SELECT m.seq INTO v_stored FROM messages m
        WHERE m.conversation_id = p_conversation AND m.sender = p_sender
          AND m.client_message_id = p_client_message_id;
        IF FOUND THEN
            v_created := false;
            v_seq := v_stored;
        END IF;
    END IF;
    IF v_created AND p_reply_to IS NOT NULL THEN
        SELECT m.seq INTO v_reply_seq FROM messages m
        WHERE m.conversation_id = p_conversation AND m.id = p_reply_to
          AND m.deleted_at IS NULL AND m.seq > v_cleared;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reply_to names no visible message of this conversation' USING ERRCODE = 'CH422';
        END IF;
    END IF;
    IF v_created THEN
        INSERT INTO messages (conversation_id, seq, id, kind, sender, body, client_message_id, metadata,
            created_at, reply_to_id, reply_to_seq)
        VALUES (p_conversation, v_seq, p_id, CASE WHEN p_sender IS NULL THEN 'system' ELSE 'user' END,
            p_sender, p_body, p_client_message_id, p_metadata, v_at,
            CASE WHEN v_reply_seq IS NULL THEN NULL ELSE p_reply_to END, v_reply_seq);
        UPDATE conversations c SET last_seq = v_seq, last_message_id = p_id, last_message_seq = v_seq,
            last_message_sender = p_sender, last_message_text = p_preview, last_message_at = v_at,
            last_activity_at = v_at, updated_at = v_at, version = c.version + 1
        WHERE c.id = p_conversation;
        -- One narrow member_state row per member (issue 31): activity, archive flag,
        -- unread count, and the sender's watermarks; participants rows are not written.
        UPDATE member_state s SET
            unread_count = CASE WHEN s.user_id = p_sender THEN 0 ELSE s.unread_count + 1 END,
            last_read_seq = CASE WHEN s.user_id = p_sender THEN v_seq ELSE s.last_read_seq END,
            last_read_at = CASE WHEN s.user_id = p_sender THEN v_at ELSE s.last_read_at END,
            last_delivered_seq = CASE WHEN s.user_id = p_sender THEN v_seq ELSE s.last_delivered_seq END,
            last_delivered_at = CASE WHEN s.user_id = p_sender THEN v_at ELSE s.last_delivered_at END,
            is_archived = false, last_activity_at = v_at
        WHERE s.conversation_id = p_conversation;
        -- The sender's pending notification goes; with p_notify_after_us every other member
        -- without one who has not muted the conversation gets one from this message.
        IF p_sender IS NOT NULL THEN
            DELETE FROM pending_notifications n
            WHERE n.conversation_id = p_conversation AND n.user_id = p_sender;
        END IF;
        IF p_notify_after_us IS NOT NULL THEN
            INSERT INTO pending_notifications AS n (conversation_id, user_id, tenant, first_seq, due_at, attempts)
            SELECT p.conversation_id, p.user_id, p.tenant, v_seq,
                v_at + p_notify_after_us * interval '1 microsecond', 0
            FROM participants p
            WHERE p.conversation_id = p_conversation AND p.user_id IS DISTINCT FROM p_sender AND NOT p.muted
            ON CONFLICT (conversation_id, user_id) DO NOTHING;
        END IF;
    END IF;
    RETURN QUERY SELECT v_created, c.id, c.tenant, c.kind, c.title, c.tag_type, c.tag_id, c.tag_id_is_int,
        c.created_by, c.created_at, c.updated_at, c.last_seq, c.last_activity_at, c.last_message_id,
        c.last_message_seq, c.last_message_sender, c.last_message_text, c.last_message_at, c.metadata, c.version,
        pa.p_users, pa.p_roles, pa.p_joined_at, pa.p_last_read_seq, pa.p_last_read_at, pa.p_unread,
        pa.p_archived, pa.p_cleared, pa.p_delivered_seq, pa.p_delivered_at,
        pa.p_notify_seq, pa.p_notify_due_at, pa.p_notify_attempts, pa.p_muted,
        m.id, m.conversation_id, m.seq, m.sender, m.body, m.client_message_id, m.metadata, m.created_at,
        m.edited_at, m.deleted_at, m.kind, m.reply_to_id, m.reply_to_seq, m.reactions, m.attachments
    FROM conversations c
    CROSS JOIN LATERAL (SELECT array_agg(p.user_id) AS p_users, array_agg(p.role) AS p_roles,
        array_agg(p.joined_at) AS p_joined_at, array_agg(s.last_read_seq) AS p_last_read_seq,
        array_agg(s.last_read_at) AS p_last_read_at, array_agg(s.unread_count) AS p_unread,
        array_agg(s.is_archived) AS p_archived, array_agg(p.cleared_through_seq) AS p_cleared,
        array_agg(s.last_delivered_seq) AS p_delivered_seq, array_agg(s.last_delivered_at) AS p_delivered_at,
        array_agg(n.first_seq) AS p_notify_seq, array_agg(n.due_at) AS p_notify_due_at,
        array_agg(coalesce(n.attempts, 0)) AS p_notify_attempts, array_agg(p.muted) AS p_muted
        FROM participants p
        JOIN member_state s ON s.conversation_id = p.conversation_id AND s.user_id = p.user_id
        LEFT JOIN pending_notifications n ON n.conversation_id = p.conversation_id AND n.user_id = p.user_id
        WHERE p.conversation_id = c.id) pa
    JOIN messages m ON m.conversation_id = c.id AND m.seq = v_seq
    WHERE c.id = p_conversation;
END $$;

COMMENT ON FUNCTION append_message(uuid, text, text, uuid, text, text, jsonb, timestamptz, text, uuid, bigint) IS
    'A send in one statement (lock, membership, block check, retry key, reply check, writes). Mirrors '
    'chat_core::rules::append, rules::send_refused_by_block and rules::reply_target: a member of a direct '
    'conversation whom the other participant has blocked is refused with SQLSTATE CH403; seq = last_seq + 1; '
    'created_at = now clamped to last_activity_at; the preview, last_seq and last_activity_at describe the new '
    'message; the sender (none for a system message) is read and delivered up to it; every other member gets '
    'one more unread; the conversation comes out of everyone''s archive; with p_notify_after_us every other '
    'member without a pending notification who has not muted the conversation gets one from this message, '
    'due that long after it, and the '
    'sender''s goes (invariant 14); a reply quotes a visible message of the same conversation or fails with '
    'SQLSTATE CH422. The model-based property test runs on PgStore and keeps the two equal.';
