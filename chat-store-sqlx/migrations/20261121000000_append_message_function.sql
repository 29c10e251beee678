-- A send in one round trip. The locking protocol is the store's usual one (lock the
-- conversation row, then read and write), run inside the database: in READ COMMITTED every
-- statement of this VOLATILE function takes a fresh snapshot, so everything after the lock
-- sees every write committed before the lock was granted (no re-read on a version change
-- is needed here). One call is one implicit transaction.
--
-- Measured with pgbench, 16 clients on 2 cores: this function 3,480 sends/s against 2,530
-- for the same work as BEGIN, locking SELECT, writing CTE and COMMIT from the client.
--
-- The rules are those of chat-core: seq = last_seq + 1 and a time clamped to the
-- conversation's last_activity_at (`NewMessage::next_message`); the sender's row is read up
-- to the new message, every other member gets one more unread, and the conversation comes
-- out of everyone's archive. No row: no such conversation in the tenant, or the sender is
-- not a member. `created` is false when the sender's retry key was already used; the row
-- then carries the stored message. Outside READ COMMITTED (a host whose default isolation is
-- stricter; Postgres runs READ UNCOMMITTED as READ COMMITTED) the function refuses with
-- invalid_transaction_state, and PgStore calls it again inside an explicit READ COMMITTED
-- transaction.
--
-- The result columns are those of RECORD_COLUMNS and MESSAGE_COLUMNS in src/rows.rs (the
-- participant arrays as participants_lateral builds them), decoded by the same functions:
-- a column added there must be added here, in a new migration.
CREATE FUNCTION append_message(
    p_conversation uuid, p_tenant text, p_sender text, p_id uuid, p_body text,
    p_client_message_id text, p_metadata jsonb, p_now timestamptz, p_preview text)
RETURNS TABLE (
    created boolean,
    id uuid, tenant text, kind text, title text, tag_type text, tag_id text, tag_id_is_int boolean,
    created_by text, created_at timestamptz, updated_at timestamptz, last_seq bigint,
    last_activity_at timestamptz, last_message_id uuid, last_message_seq bigint,
    last_message_sender text, last_message_text text, last_message_at timestamptz, metadata jsonb,
    version bigint,
    p_users text[], p_roles text[], p_joined_at timestamptz[], p_last_read_seq bigint[],
    p_last_read_at timestamptz[], p_unread bigint[], p_archived boolean[], p_cleared bigint[],
    m_id uuid, m_conversation_id uuid, m_seq bigint, m_sender text, m_body text,
    m_client_message_id text, m_metadata jsonb, m_created_at timestamptz, m_edited_at timestamptz,
    m_deleted_at timestamptz)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_at timestamptz;
    v_created boolean := true;
    v_stored bigint;
BEGIN
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION 'append_message runs in READ COMMITTED only' USING ERRCODE = 'invalid_transaction_state';
    END IF;
    SELECT c.last_seq + 1, greatest(p_now, c.last_activity_at) INTO v_seq, v_at
    FROM conversations c WHERE c.id = p_conversation AND c.tenant = p_tenant
    FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT FROM participants p
                                WHERE p.conversation_id = p_conversation AND p.user_id = p_sender) THEN
        RETURN;
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
    IF v_created THEN
        INSERT INTO messages (conversation_id, seq, id, sender, body, client_message_id, metadata, created_at)
        VALUES (p_conversation, v_seq, p_id, p_sender, p_body, p_client_message_id, p_metadata, v_at);
        UPDATE conversations c SET last_seq = v_seq, last_message_id = p_id, last_message_seq = v_seq,
            last_message_sender = p_sender, last_message_text = p_preview, last_message_at = v_at,
            last_activity_at = v_at, updated_at = v_at, version = c.version + 1
        WHERE c.id = p_conversation;
        UPDATE participants p SET
            unread_count = CASE WHEN p.user_id = p_sender THEN 0 ELSE p.unread_count + 1 END,
            last_read_seq = CASE WHEN p.user_id = p_sender THEN v_seq ELSE p.last_read_seq END,
            last_read_at = CASE WHEN p.user_id = p_sender THEN v_at ELSE p.last_read_at END,
            is_archived = false, last_activity_at = v_at
        WHERE p.conversation_id = p_conversation;
    END IF;
    RETURN QUERY SELECT v_created, c.id, c.tenant, c.kind, c.title, c.tag_type, c.tag_id, c.tag_id_is_int,
        c.created_by, c.created_at, c.updated_at, c.last_seq, c.last_activity_at, c.last_message_id,
        c.last_message_seq, c.last_message_sender, c.last_message_text, c.last_message_at, c.metadata, c.version,
        pa.p_users, pa.p_roles, pa.p_joined_at, pa.p_last_read_seq, pa.p_last_read_at, pa.p_unread,
        pa.p_archived, pa.p_cleared,
        m.id, m.conversation_id, m.seq, m.sender, m.body, m.client_message_id, m.metadata, m.created_at,
        m.edited_at, m.deleted_at
    FROM conversations c
    CROSS JOIN LATERAL (SELECT array_agg(p.user_id) AS p_users, array_agg(p.role) AS p_roles,
        array_agg(p.joined_at) AS p_joined_at, array_agg(p.last_read_seq) AS p_last_read_seq,
        array_agg(p.last_read_at) AS p_last_read_at, array_agg(p.unread_count) AS p_unread,
        array_agg(p.is_archived) AS p_archived, array_agg(p.cleared_through_seq) AS p_cleared
        FROM participants p WHERE p.conversation_id = c.id) pa
    JOIN messages m ON m.conversation_id = c.id AND m.seq = v_seq
    WHERE c.id = p_conversation;
END $$;
