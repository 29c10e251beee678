// The open conversation: its messages and their rendering, sending, replies, edits,
// deletes, reactions, receipts, typing, archive and clear.
import { $, actions, api, displayOf, el, formatTime, QUICK_REACTIONS, setStatus, state, tagLabel } from "./page.js";
import { attachmentsOf, renderPending } from "./attachments.js";

export async function openConversation(uuid) {
  state.pending = []; // uploads belong to the conversation they were made in
  renderPending();
  cancelReply();
  const { data } = await api("GET", `/conversations/${uuid}`);
  // Another conversation may have been opened meanwhile: the newest choice wins.
  state.open = data;
  state.messages = []; // never the previous conversation's, while this one's load
  state.watermarks = new Map(
    data.participants.map((p) => [p.uuid, { read: p.pivot.last_read_seq, delivered: p.pivot.last_read_seq }]),
  );
  const { name, avatar } = displayOf(data);
  $("chat-title").textContent = name;
  $("chat-tag").textContent = tagLabel(data);
  $("chat-avatar").src = avatar || "/demo/avatars/unknown.svg";
  $("archive").textContent = data.is_archived ? "Unarchive" : "Archive";
  actions.renderBlock();
  $("chat-empty").hidden = true;
  $("chat-window").hidden = false;
  $("app").classList.add("chat-open");
  $("typing").textContent = "";
  const page = await api("GET", `/conversations/${uuid}/messages?limit=30`);
  if (!state.open || state.open.uuid !== uuid) return;
  // Live messages that arrived during the load are kept.
  const loaded = new Set(page.data.map((m) => m.uuid));
  state.messages = page.data.concat(state.messages.filter((m) => !loaded.has(m.uuid))).sort((a, b) => a.seq - b.seq);
  $("load-earlier").hidden = page.data.length < 30;
  renderMessages(true);
  await markRead();
  actions.renderInbox();
}

export async function loadEarlier() {
  if (!state.open || state.messages.length === 0) return;
  const uuid = state.open.uuid;
  const before = state.messages[0].seq;
  const page = await api("GET", `/conversations/${uuid}/messages?before=${before}&limit=30`);
  if (!state.open || state.open.uuid !== uuid) return;
  state.messages = page.data.concat(state.messages);
  $("load-earlier").hidden = page.data.length < 30;
  renderMessages(false);
}

export function counterpartReadSeq() {
  if (!state.open) return 0;
  const others = state.open.participants.filter((p) => p.uuid !== state.me);
  return others.length ? Math.min(...others.map((p) => p.pivot.last_read_seq)) : 0;
}

export function isMine(message) {
  return Boolean(message.sender) && message.sender.uuid === state.me;
}

export function tickOf(message) {
  if (message.status === "read") return "✓✓ read";
  if (message.status === "delivered") return "✓✓";
  if (message.status === "sent") return "✓";
  if (message.delivered_count !== undefined) {
    // The counts the message came with, moved on by the receipts heard since.
    const others = [...state.watermarks.entries()].filter(([user]) => user !== state.me).map(([, mark]) => mark);
    const read = Math.max(message.read_count, others.filter((mark) => mark.read >= message.seq).length);
    const delivered = Math.max(message.delivered_count, others.filter((mark) => mark.delivered >= message.seq).length);
    return `✓ ${Math.max(delivered, read)} · read ${read}`;
  }
  return "";
}

export function quoteOf(reply) {
  const text = reply.is_deleted ? "Deleted message" : `${reply.sender ? reply.sender.name : "Update"}: ${reply.body}`;
  return el("blockquote", { class: "quote", text, "data-testid": "quote" });
}

export function reactionsOf(message) {
  const row = el("div", { class: "reactions" });
  const shown = new Map(message.reactions.map((r) => [r.emoji, r]));
  for (const emoji of new Set([...message.reactions.map((r) => r.emoji), ...QUICK_REACTIONS])) {
    const reaction = shown.get(emoji);
    const label = reaction ? `${emoji} ${reaction.count}` : emoji;
    const button = el("button", {
      type: "button",
      class: reaction ? (reaction.me ? "reaction me" : "reaction") : "reaction add",
      text: label,
      "aria-pressed": String(Boolean(reaction && reaction.me)),
      dataset: { emoji },
    });
    button.addEventListener("click", () => toggleReaction(message, emoji, Boolean(reaction && reaction.me)).catch((e) => setStatus(e.message)));
    row.append(button);
  }
  return row;
}

export function renderMessages(scrollToEnd) {
  const list = $("messages");
  list.replaceChildren();
  const readSeq = counterpartReadSeq();
  const lastMine = [...state.messages].reverse().find(isMine);
  for (const message of state.messages) {
    const mine = isMine(message);
    const item = el("li", { class: mine ? "mine" : "", dataset: { seq: String(message.seq) } });
    if (message.kind === "system") {
      item.className = "system";
      item.append(el("span", { class: "body", text: message.body, "data-testid": "system" }));
      list.append(item);
      continue;
    }
    if (message.reply_to) item.append(quoteOf(message.reply_to));
    if (message.is_deleted) {
      item.classList.add("deleted");
      item.append(el("span", { text: "This message was deleted." }));
    } else {
      if (message.body) item.append(el("span", { class: "body", text: message.body }));
      if (message.attachments && message.attachments.length) item.append(attachmentsOf(message));
    }
    const when = formatTime(message.created_at) + (message.is_edited ? " · edited" : "");
    const tick = mine ? tickOf(message) : "";
    item.append(el("span", { class: "time", text: mine ? `${when} ${tick}`.trim() : `${message.sender.name} · ${when}` }));
    if (mine && lastMine && message.seq === lastMine.seq && readSeq >= message.seq) {
      item.append(el("span", { class: "receipt", text: "Seen", "data-testid": "seen" }));
    }
    if (!message.is_deleted) {
      item.append(reactionsOf(message));
      const reply = el("button", { type: "button", class: "reply", text: "Reply", "data-testid": "reply" });
      reply.addEventListener("click", () => startReply(message));
      item.append(reply);
      if (mine) {
        const change = el("button", { type: "button", class: "reply", text: "Edit", "data-testid": "edit" });
        change.addEventListener("click", () => startEdit(message));
        const remove = el("button", { type: "button", class: "reply", text: "Delete", "data-testid": "delete" });
        remove.addEventListener("click", () => deleteMessage(message).catch((e) => setStatus(e.message)));
        item.append(change, remove);
      } else {
        const report = el("button", { type: "button", class: "reply", text: "Report", "data-testid": "report" });
        report.addEventListener("click", () => actions.showReportForm(item, message, report));
        item.append(report);
      }
    }
    list.append(item);
  }
  if (scrollToEnd) list.scrollTop = list.scrollHeight;
}

export function startReply(message) {
  state.editing = null;
  state.replyTo = message;
  $("replying").hidden = false;
  $("replying-text").textContent = `Replying to ${message.sender ? message.sender.name : "update"}: ${message.body}`;
  $("body").focus();
}

export function cancelReply() {
  state.replyTo = null;
  state.editing = null;
  $("replying").hidden = true;
}

/// The composer edits one of the caller's messages until sent or cancelled.
export function startEdit(message) {
  state.replyTo = null;
  state.editing = message;
  $("replying").hidden = false;
  $("replying-text").textContent = "Editing your message";
  $("body").value = message.body;
  $("body").focus();
}

export async function saveEdit(body) {
  const message = state.editing;
  const { data } = await api("PATCH", `/conversations/${message.conversation_uuid}/messages/${message.uuid}`, { body });
  cancelReply();
  replaceMessage(data);
}

export async function deleteMessage(message) {
  const { data } = await api("DELETE", `/conversations/${message.conversation_uuid}/messages/${message.uuid}`);
  if (state.editing && state.editing.uuid === message.uuid) cancelReply();
  replaceMessage(data);
}

export async function clearHistory() {
  if (!state.open) return;
  await api("POST", `/conversations/${state.open.uuid}/clear`);
  await openConversation(state.open.uuid);
}

export async function toggleReaction(message, emoji, held) {
  const path = `/conversations/${state.open.uuid}/messages/${message.uuid}/reactions/${encodeURIComponent(emoji)}`;
  const { data } = await api(held ? "DELETE" : "PUT", path);
  replaceMessage(data);
}

/// Own messages up to `seq` moved on: delivered or read by the other side.
/// A receipt in the open group: `user` has read or received up to `seq`.
export function advanceWatermark(user, seq, read) {
  const mark = state.watermarks.get(user) || { read: 0, delivered: 0 };
  if (read) mark.read = Math.max(mark.read, seq);
  mark.delivered = Math.max(mark.delivered, seq);
  state.watermarks.set(user, mark);
}

export function advanceTicks(seq, status) {
  const rank = { sent: 0, delivered: 1, read: 2 };
  let changed = false;
  for (const message of state.messages) {
    if (isMine(message) && message.status && message.seq <= seq && rank[message.status] < rank[status]) {
      message.status = status;
      changed = true;
    }
  }
  if (changed) renderMessages(false);
}

export async function markRead() {
  if (!state.open) return;
  const uuid = state.open.uuid;
  const last = state.messages[state.messages.length - 1];
  if (!last || last.conversation_uuid !== uuid) return;
  await api("POST", `/conversations/${uuid}/read`, { up_to_seq: last.seq });
  const row = state.inbox.find((c) => c.uuid === uuid);
  if (row && row.unread_count > 0) {
    row.unread_count = 0;
    actions.renderInbox();
  }
}

export async function send(event) {
  event.preventDefault();
  const input = $("body");
  const body = input.value;
  const attachments = state.pending;
  if (!state.open || (!body.trim() && !attachments.length)) return;
  if (state.editing) {
    try {
      await saveEdit(body);
      input.value = "";
    } catch (error) {
      setStatus(`edit failed: ${error.message}`);
    }
    return;
  }
  input.value = "";
  // The client's queue keeps the message's client_message_id and retries it until the server
  // acknowledges it (offline, a restart, a lost answer): it is stored once, whatever happens.
  const conversation = state.open.uuid;
  const payload = {
    body,
    ...(state.replyTo ? { reply_to: state.replyTo.uuid } : {}),
    ...(attachments.length ? { attachment_ids: attachments.map((a) => a.uuid) } : {}),
  };
  const replyTo = state.replyTo;
  cancelReply();
  state.pending = [];
  renderPending();
  try {
    addMessage(await state.client.send(conversation, payload));
  } catch (error) {
    // Refused (not retried): what was typed, attached and quoted comes back, if the same
    // conversation is still open and nothing new was started.
    if (state.open && state.open.uuid === conversation && !input.value && !state.pending.length) {
      input.value = body;
      state.pending = attachments;
      renderPending();
      if (replyTo) startReply(replyTo);
    }
    setStatus(`send failed: ${error.message}`);
  }
}

export function addMessage(message) {
  if (!state.open || message.conversation_uuid !== state.open.uuid) return;
  if (state.messages.some((m) => m.uuid === message.uuid)) return;
  state.messages.push(message);
  state.messages.sort((a, b) => a.seq - b.seq);
  renderMessages(true);
}

export function replaceMessage(message) {
  const index = state.messages.findIndex((m) => m.uuid === message.uuid);
  if (index >= 0) {
    state.messages[index] = message;
    renderMessages(false);
  }
}

export async function toggleArchive() {
  if (!state.open) return;
  const method = state.open.is_archived ? "DELETE" : "POST";
  const { data } = await api(method, `/conversations/${state.open.uuid}/archive`);
  state.open = data;
  $("archive").textContent = data.is_archived ? "Unarchive" : "Archive";
  await actions.loadInbox();
}

export function sendTyping() {
  const now = Date.now();
  if (!state.open || now - state.lastTypingSent < 2500) return;
  state.lastTypingSent = now;
  api("POST", `/conversations/${state.open.uuid}/typing`).catch(() => {});
}

export function showTyping(conversationUuid, data) {
  if (!state.open || conversationUuid !== state.open.uuid || data.user === state.me) return;
  const who = state.open.participants.find((p) => p.uuid === data.user);
  $("typing").textContent = `${who ? who.name : "Someone"} is typing…`;
  clearTimeout(state.typingTimer);
  const ms = Math.max(1000, new Date(data.expires_at) - Date.now());
  state.typingTimer = setTimeout(() => ($("typing").textContent = ""), Math.min(ms, 6000));
}
