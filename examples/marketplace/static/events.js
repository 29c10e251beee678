// Live events from the client's socket, and the catch-up after a reconnect or a `resync`.
import { $, actions, state, tagLabel } from "./page.js";

/// After a reconnect or a `resync`: the inbox again, and every message of the open
/// conversation after the newest one shown (all pages).
export async function resync() {
  await actions.loadInbox();
  if (state.open) {
    const conversation = state.open.uuid;
    const last = state.messages[state.messages.length - 1];
    const missed = await state.client.messagesAfter(conversation, last ? last.seq : 0);
    if (state.open && state.open.uuid === conversation) {
      missed.forEach((message) => actions.addMessage(message));
      await actions.markRead();
    }
  }
}

export async function handleEvent(event) {
  switch (event.type) {
    case "message.created":
      actions.addMessage(event.data);
      if (event.data.kind === "system") actions.loadOrders().catch(() => {}); // an order update
      if (state.open && event.conversation_uuid === state.open.uuid && !actions.isMine(event.data)) {
        $("typing").textContent = "";
        await actions.markRead();
      }
      break;
    case "message.updated":
    case "message.deleted":
      actions.replaceMessage(event.data);
      break;
    case "conversation.created":
    case "conversation.updated":
      if (state.open && event.conversation_uuid === state.open.uuid && event.data && event.data.participants) {
        state.open = event.data;
        $("chat-tag").textContent = tagLabel(state.open);
        actions.renderMembers();
        actions.renderMessages(false);
      }
      if (event.data && event.data.participants) actions.upsertInboxRow(event.data);
      else await actions.loadInbox();
      break;
    case "conversation.read":
      if (state.open && event.conversation_uuid === state.open.uuid) {
        const reader = state.open.participants.find((p) => p.uuid === event.data.user);
        if (reader) reader.pivot.last_read_seq = Math.max(reader.pivot.last_read_seq, event.data.seq);
        actions.advanceWatermark(event.data.user, event.data.seq, true);
        if (event.data.user !== state.me && state.open.kind === "direct") actions.advanceTicks(event.data.seq, "read");
        actions.renderMessages(false);
      }
      break;
    case "conversation.delivered":
      if (state.open && event.conversation_uuid === state.open.uuid) {
        for (const receipt of event.data.receipts) {
          if (receipt.user === state.me) continue;
          if (state.open.kind === "direct") actions.advanceTicks(receipt.seq, "delivered");
          else actions.advanceWatermark(receipt.user, receipt.seq, false);
        }
        if (state.open.kind === "group") actions.renderMessages(false);
      }
      break;
    case "message.reactions":
      if (state.open && event.conversation_uuid === state.open.uuid) {
        const message = state.messages.find((m) => m.uuid === event.data.message_uuid);
        if (message) {
          message.reactions = event.data.reactions;
          actions.renderMessages(false);
        }
      }
      break;
    case "typing":
      actions.showTyping(event.conversation_uuid, event.data);
      break;
    // `resync` frames never get here: the client runs its onReconnect (resync) for them.
    default:
      break;
  }
}
