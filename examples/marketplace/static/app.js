// Marketplace chat demo page. Plain JavaScript, no build step.
// Every piece of user text is put on the page with textContent, never as HTML.
// Everything it sends to the chat goes through the client module a host could copy.
import { ChatClient } from "./chat-client.js";

const API = "/api/v1/chat";
const ORDER_TYPE = "App\\Models\\Order";
const state = {
  client: null, // the ChatClient of the signed-in user: token, platform key, socket, send queue
  users: [],
  me: null,
  inbox: [],
  open: null, // the open conversation resource
  messages: [], // ascending by seq
  typingTimer: null,
  lastTypingSent: 0,
  replyTo: null, // the message the composer replies to
  pending: [], // uploads the next message carries (attachment resources)
  files: new Map(), // attachment uuid -> object URL of its downloaded bytes
  notificationTimer: null,
  blocked: new Set(), // the user ids the signed-in user has blocked
  editing: null, // the caller's own message the composer is editing
  contactTimer: null,
  groupDraft: new Map(), // user id -> name: the members of a group being made
  watermarks: new Map(), // in the open group: user id -> {read, delivered} seqs, kept live
  searching: false, // the inbox shows search results
  searchTimer: null,
};

const TITLE = "Marketplace chat demo";

const REPORT_REASONS = [
  ["spam", "Spam"],
  ["scam", "Scam or payment outside the platform"],
  ["abuse", "Abuse or harassment"],
  ["inappropriate", "Inappropriate content"],
  ["other", "Something else"],
];

const NOTIFICATION_POLL_MS = 3000;

const QUICK_REACTIONS = ["👍", "❤️", "😂"];

const $ = (id) => document.getElementById(id);

/// Makes `item` (focusable) open conversation `uuid` on a click or on Enter.
function opensConversation(item, uuid) {
  const open = () => openConversation(uuid).catch((e) => setStatus(e.message));
  item.addEventListener("click", open);
  item.addEventListener("keydown", (event) => {
    if (event.key === "Enter") open();
  });
}

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/// A call of the chat API (through the client: a 401 signs in again), or of the demo's own
/// routes under /demo.
async function api(method, path, body) {
  if (!path.startsWith("/demo")) return state.client.request(method, path, body);
  const response = await fetch(path, {
    method,
    headers: {
      "Content-Type": "application/json",
      ...(state.client && state.client.token ? { Authorization: `Bearer ${state.client.token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Error(`${response.status}: ${json.message || text}`);
  return json;
}

function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleDateString();
}

function displayOf(conversation) {
  if (conversation.kind === "direct" && conversation.counterpart) {
    return { name: conversation.counterpart.name, avatar: conversation.counterpart.avatar_url };
  }
  return { name: conversation.title || "Group", avatar: "/demo/avatars/group.svg" };
}

function tagLabel(conversation) {
  if (conversation.kind === "group" && conversation.participants) {
    const names = conversation.participants.map((p) => (p.uuid === state.me ? "you" : p.name));
    return `${names.length} members: ${names.join(", ")}`;
  }
  if (!conversation.taggable_type) return "";
  const kind = conversation.taggable_type.split("\\").pop();
  return `About ${kind} #${conversation.taggable_id}`;
}

// ---- who am I ----

async function loadUsers() {
  const { data } = await api("GET", "/demo/users");
  state.users = data;
  // One group per platform: users of different platforms never see each other.
  const groups = new Map();
  for (const user of data) {
    if (!groups.has(user.platform)) {
      const group = el("optgroup", { label: user.platform });
      groups.set(user.platform, group);
      $("who").append(group);
    }
    groups.get(user.platform).append(el("option", { value: user.id, text: `${user.name} (${user.role})` }));
  }
  const remembered = sessionStorage.getItem("demo-user");
  if (remembered && data.some((user) => user.id === remembered)) {
    $("who").value = remembered;
    await login(remembered);
  }
}

async function login(userId) {
  clearInterval(state.notificationTimer);
  state.notificationTimer = null;
  if (state.client) state.client.close();
  state.client = null;
  state.open = null;
  $("chat-window").hidden = true;
  $("chat-empty").hidden = false;
  $("app").classList.remove("chat-open");
  $("welcome").hidden = Boolean(userId);
  if (!userId) {
    $("app").hidden = true;
    $("platform").textContent = "";
    return;
  }
  const client = new ChatClient({
    apiBase: API,
    login: async () => {
      const { token, platform_key: platformKey } = await api("POST", "/demo/login", { user_id: userId });
      return { token, platformKey };
    },
    onEvent: (event) => handleEvent(event).catch((error) => setStatus(`event error: ${error.message}`)),
    onStatus: setStatus,
    onReconnect: resync,
  });
  state.client = client;
  await client.signIn();
  const user = state.users.find((u) => u.id === userId);
  $("platform").textContent = user ? `on ${user.platform}` : "";
  state.me = userId;
  sessionStorage.setItem("demo-user", userId);
  $("app").hidden = false;
  await Promise.all([loadOrders(), loadInbox(), loadNotifications(), loadBlocks()]);
  client.connect();
  state.notificationTimer = setInterval(
    () => loadNotifications().catch((e) => setStatus(e.message)),
    NOTIFICATION_POLL_MS,
  );
}

// ---- notifications (the demo's stand-in for e-mail) ----

async function loadNotifications() {
  if (!state.client) return;
  const { data } = await api("GET", "/demo/notifications");
  const list = $("notifications");
  list.replaceChildren(
    ...data.map((mail) => {
      const lines = mail.lines.map((line) =>
        el("div", { class: "line", text: line.from ? `${line.from}: ${line.text}` : line.text }),
      );
      const item = el("li", { tabindex: "0", dataset: { conversation: mail.conversation_uuid } }, [
        el("div", { class: "subject", text: `${mail.subject} (${mail.unread_count} unread)` }),
        ...lines,
        el("small", { text: formatTime(mail.received_at) }),
      ]);
      opensConversation(item, mail.conversation_uuid);
      return item;
    }),
  );
  if (data.length === 0) list.append(el("li", { class: "hint", text: "No notifications yet." }));
  const count = $("notification-count");
  count.hidden = data.length === 0;
  count.textContent = String(data.length);
}

// ---- orders ----

async function loadOrders() {
  const { data } = await api("GET", "/demo/orders");
  const list = $("orders");
  list.replaceChildren();
  for (const order of data) {
    // A buyer sees the seller and contacts them; a seller sees the buyer and contacts them.
    const selling = order.seller_id === state.me;
    const buyer = state.users.find((user) => user.id === order.buyer_id);
    const other = selling ? `Buyer: ${buyer ? buyer.name : order.buyer_id}` : `Seller: ${order.seller_name}`;
    const info = el("div", {}, [el("span", { text: order.title }), el("small", { text: `${other} · ${order.status}` })]);
    const children = [info];
    const contact = el("button", {
      type: "button",
      text: selling ? "Contact the buyer" : "Contact the seller",
      dataset: { order: String(order.id) },
    });
    contact.addEventListener("click", () =>
      contactAbout(order, selling ? order.buyer_id : order.seller_id).catch((e) => setStatus(e.message)),
    );
    children.push(contact);
    if (selling && order.status !== "delivered") {
      // The host posts the update into the chat as a system message.
      const next = order.status === "placed" ? "Mark shipped" : "Mark delivered";
      const button = el("button", { type: "button", text: next, dataset: { advance: String(order.id) } });
      button.addEventListener("click", () => advanceOrder(order).catch((e) => setStatus(e.message)));
      children.push(button);
    }
    list.append(el("li", {}, children));
  }
}

async function advanceOrder(order) {
  await api("POST", `/demo/orders/${order.id}/advance`);
  await loadOrders();
}

/// Opens the conversation with `userId` about `order` (the same one from either side).
async function contactAbout(order, userId) {
  const { data } = await api("POST", "/conversations", {
    participant_uuid: userId,
    taggable_type: ORDER_TYPE,
    taggable_id: order.id,
  });
  await loadInbox();
  await openConversation(data.uuid);
}

// ---- inbox ----

async function loadInbox() {
  if (state.searching) return searchInbox();
  const archived = $("show-archived").checked ? "true" : "false";
  const { data } = await api("GET", `/conversations?archived=${archived}&limit=50`);
  state.inbox = data;
  renderInbox();
}

function onInboxSearch() {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(() => {
    state.searching = Boolean($("inbox-search").value.trim());
    loadInbox().catch((e) => setStatus(e.message));
  }, 250);
}

/// The caller's conversations whose title or other participant's name matches.
async function searchInbox() {
  const query = $("inbox-search").value.trim();
  const { data } = await api("GET", `/conversations/search?q=${encodeURIComponent(query)}`);
  if ($("inbox-search").value.trim() !== query) return; // a newer search is on its way
  state.inbox = data;
  renderInbox();
}

/// A conversation resource from a live event (the recipient's own view) put in its place:
/// the inbox is updated from the event itself, not fetched again.
function upsertInboxRow(conversation) {
  const rows = state.inbox.filter((row) => row.uuid !== conversation.uuid);
  if (state.open && state.open.uuid === conversation.uuid && conversation.unread_count > 0) {
    // Open on screen: what arrived is read (the read receipt follows).
    conversation.unread_count = 0;
    markRead().catch((e) => setStatus(e.message));
  }
  const mine = conversation.participants.some((p) => p.uuid === state.me);
  const listed = state.searching ? rows.length < state.inbox.length : conversation.is_archived === $("show-archived").checked;
  if (mine && listed) rows.push(conversation);
  const key = (row) => [row.last_activity_at, row.uuid];
  rows.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0] === y[0] ? (x[1] < y[1] ? 1 : -1) : x[0] < y[0] ? 1 : -1;
  });
  state.inbox = rows;
  renderInbox();
}

function renderInbox() {
  // The tab says how many messages wait, as chat apps do.
  const unread = state.inbox.reduce((sum, conversation) => sum + conversation.unread_count, 0);
  document.title = unread > 0 ? `(${unread}) ${TITLE}` : TITLE;
  const list = $("inbox");
  list.replaceChildren();
  for (const conversation of state.inbox) {
    const { name, avatar } = displayOf(conversation);
    const meta = el("div", { class: "meta" }, [el("div", { text: formatTime(conversation.last_message_at) })]);
    if (conversation.unread_count > 0) {
      meta.append(el("span", { class: "badge", text: String(conversation.unread_count), "data-testid": "unread" }));
    }
    const row = el("li", { dataset: { conversation: conversation.uuid }, "data-testid": "inbox-row" }, [
      el("img", { class: "avatar", src: avatar || "/demo/avatars/unknown.svg", alt: name }),
      el("div", {}, [
        el("div", { class: "name", text: name }),
        el("div", { class: "preview", text: conversation.last_message_text || (conversation.last_message_at ? "📎 Attachment" : tagLabel(conversation)) }),
        // What it is about stays visible once there are messages: two conversations with
        // the same person about two orders never look alike.
        ...(conversation.last_message_at && tagLabel(conversation)
          ? [el("div", { class: "row-tag", text: tagLabel(conversation), "data-testid": "row-tag" })]
          : []),
      ]),
      meta,
    ]);
    if (state.open && state.open.uuid === conversation.uuid) row.classList.add("active");
    row.tabIndex = 0;
    opensConversation(row, conversation.uuid);
    list.append(row);
  }
  if (state.inbox.length === 0) {
    list.append(el("li", { class: "hint", text: "No conversations yet: contact a seller from an order." }));
  }
}

// On a narrow screen the inbox and the conversation are two views; this goes back to the inbox.
function backToInbox() {
  $("app").classList.remove("chat-open");
  const row = document.querySelector(`#inbox li[data-conversation="${state.open ? state.open.uuid : ""}"]`);
  if (row) row.focus();
}

// ---- chat window ----

async function openConversation(uuid) {
  state.pending = []; // uploads belong to the conversation they were made in
  renderPending();
  cancelReply();
  const { data } = await api("GET", `/conversations/${uuid}`);
  state.open = data;
  state.watermarks = new Map(
    data.participants.map((p) => [p.uuid, { read: p.pivot.last_read_seq, delivered: p.pivot.last_read_seq }]),
  );
  const { name, avatar } = displayOf(data);
  $("chat-title").textContent = name;
  $("chat-tag").textContent = tagLabel(data);
  $("chat-avatar").src = avatar || "/demo/avatars/unknown.svg";
  $("archive").textContent = data.is_archived ? "Unarchive" : "Archive";
  renderBlock();
  $("chat-empty").hidden = true;
  $("chat-window").hidden = false;
  $("app").classList.add("chat-open");
  $("typing").textContent = "";
  const page = await api("GET", `/conversations/${uuid}/messages?limit=30`);
  state.messages = page.data;
  $("load-earlier").hidden = page.data.length < 30;
  renderMessages(true);
  await markRead();
  renderInbox();
}

async function loadEarlier() {
  if (!state.open || state.messages.length === 0) return;
  const before = state.messages[0].seq;
  const page = await api("GET", `/conversations/${state.open.uuid}/messages?before=${before}&limit=30`);
  state.messages = page.data.concat(state.messages);
  $("load-earlier").hidden = page.data.length < 30;
  renderMessages(false);
}

function counterpartReadSeq() {
  if (!state.open) return 0;
  const others = state.open.participants.filter((p) => p.uuid !== state.me);
  return others.length ? Math.min(...others.map((p) => p.pivot.last_read_seq)) : 0;
}

function isMine(message) {
  return Boolean(message.sender) && message.sender.uuid === state.me;
}

function tickOf(message) {
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

function quoteOf(reply) {
  const text = reply.is_deleted ? "Deleted message" : `${reply.sender ? reply.sender.name : "Update"}: ${reply.body}`;
  return el("blockquote", { class: "quote", text, "data-testid": "quote" });
}

function reactionsOf(message) {
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

function renderMessages(scrollToEnd) {
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
        report.addEventListener("click", () => showReportForm(item, message, report));
        item.append(report);
      }
    }
    list.append(item);
  }
  if (scrollToEnd) list.scrollTop = list.scrollHeight;
}

/// The bytes of an attachment as an object URL: downloads need the Authorization header,
/// which an <img src> cannot send, so the page fetches them once and keeps the blob.
async function attachmentUrl(attachment) {
  const known = state.files.get(attachment.uuid);
  if (known) return known;
  const response = await fetch(attachment.url, {
    headers: { Authorization: `Bearer ${state.client.token}`, "X-PUBLIC-KEY": state.client.platformKey },
  });
  if (!response.ok) throw new Error(`${response.status}: download failed`);
  const url = URL.createObjectURL(await response.blob());
  state.files.set(attachment.uuid, url);
  return url;
}

function attachmentsOf(message) {
  const box = el("div", { class: "attachments" });
  for (const attachment of message.attachments || []) {
    if (attachment.content_type.startsWith("image/")) {
      const image = el("img", { class: "thumb", alt: attachment.name, "data-testid": "thumbnail" });
      if (attachment.width && attachment.height) {
        image.width = Math.min(240, attachment.width);
        image.height = Math.round(image.width * attachment.height / attachment.width);
      }
      attachmentUrl(attachment).then((url) => { image.src = url; }).catch((e) => setStatus(e.message));
      box.append(image);
    } else {
      const link = el("a", { href: "#", class: "file", "data-testid": "file-link", text: `📄 ${attachment.name} (${Math.ceil(attachment.size / 1024)} KB)` });
      link.addEventListener("click", (event) => {
        event.preventDefault();
        attachmentUrl(attachment).then((url) => {
          const save = el("a", { href: url, download: attachment.name });
          save.click();
        }).catch((e) => setStatus(e.message));
      });
      box.append(link);
    }
  }
  return box;
}

/// Uploads the chosen file with a progress bar; it rides on the next message sent.
function uploadFile(file) {
  if (!state.open || !file) return;
  const progress = $("upload-progress");
  progress.hidden = false;
  progress.value = 0;
  const request = new XMLHttpRequest();
  request.open("POST", `${API}/conversations/${state.open.uuid}/attachments?name=${encodeURIComponent(file.name)}`);
  request.setRequestHeader("Authorization", `Bearer ${state.client.token}`);
  request.setRequestHeader("X-PUBLIC-KEY", state.client.platformKey);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
  });
  request.addEventListener("loadend", () => {
    progress.hidden = true;
    $("file").value = "";
    let answer = {};
    try { answer = JSON.parse(request.responseText || "{}"); } catch { answer = {}; }
    if (request.status !== 201) {
      setStatus(`upload failed: ${request.status} ${answer.message || ""}`.trim());
      return;
    }
    state.pending.push(answer.data);
    renderPending();
  });
  request.send(file);
}

function renderPending() {
  const box = $("pending");
  box.replaceChildren();
  for (const attachment of state.pending) {
    const chip = el("span", { class: "chip", text: attachment.name });
    const remove = el("button", { type: "button", "aria-label": `Remove ${attachment.name}`, text: "×" });
    remove.addEventListener("click", () => {
      state.pending = state.pending.filter((a) => a.uuid !== attachment.uuid);
      renderPending();
    });
    chip.append(remove);
    box.append(chip);
  }
}

function startReply(message) {
  state.editing = null;
  state.replyTo = message;
  $("replying").hidden = false;
  $("replying-text").textContent = `Replying to ${message.sender ? message.sender.name : "update"}: ${message.body}`;
  $("body").focus();
}

function cancelReply() {
  state.replyTo = null;
  state.editing = null;
  $("replying").hidden = true;
}

/// The composer edits one of the caller's messages until sent or cancelled.
function startEdit(message) {
  state.replyTo = null;
  state.editing = message;
  $("replying").hidden = false;
  $("replying-text").textContent = "Editing your message";
  $("body").value = message.body;
  $("body").focus();
}

async function saveEdit(body) {
  const message = state.editing;
  const { data } = await api("PATCH", `/conversations/${message.conversation_uuid}/messages/${message.uuid}`, { body });
  cancelReply();
  replaceMessage(data);
}

async function deleteMessage(message) {
  const { data } = await api("DELETE", `/conversations/${message.conversation_uuid}/messages/${message.uuid}`);
  if (state.editing && state.editing.uuid === message.uuid) cancelReply();
  replaceMessage(data);
}

async function clearHistory() {
  if (!state.open) return;
  await api("POST", `/conversations/${state.open.uuid}/clear`);
  await openConversation(state.open.uuid);
}

// ---- contacts: anyone of the platform, found by name ----

function searchContacts() {
  clearTimeout(state.contactTimer);
  state.contactTimer = setTimeout(() => loadContacts().catch((e) => setStatus(e.message)), 250);
}

async function loadContacts() {
  const query = $("contact-search").value.trim();
  const list = $("contacts");
  if (!query) {
    list.replaceChildren();
    return;
  }
  const { data } = await api("GET", `/users?q=${encodeURIComponent(query)}&limit=10`);
  if ($("contact-search").value.trim() !== query) return; // a newer search is on its way
  list.replaceChildren();
  for (const user of data) {
    const start = el("button", { type: "button", text: "Message", "data-testid": "message-contact" });
    start.addEventListener("click", () => startConversationWith(user.uuid).catch((e) => setStatus(e.message)));
    const add = el("button", { type: "button", text: "+ Group", "data-testid": "add-to-group", title: `Add ${user.name} to a new group` });
    add.addEventListener("click", () => addToGroupDraft(user));
    const actions = [start, add];
    const group = state.open && state.open.kind === "group" ? state.open : null;
    if (group && !group.participants.some((p) => p.uuid === user.uuid)) {
      const here = el("button", { type: "button", text: "Add here", "data-testid": "add-here", title: `Add ${user.name} to ${group.title}` });
      here.addEventListener("click", () => addToOpenGroup(user.uuid).catch((e) => setStatus(e.message)));
      actions.push(here);
    }
    list.append(
      el("li", { "data-testid": "contact" }, [
        el("img", { class: "avatar", src: user.avatar_url || "/demo/avatars/unknown.svg", alt: "" }),
        el("span", { class: "name", text: user.name }),
        el("span", { class: "actions" }, actions),
      ]),
    );
  }
  if (data.length === 0) list.append(el("li", { class: "hint", text: "Nobody by that name." }));
}

function addToGroupDraft(user) {
  state.groupDraft.set(user.uuid, user.name);
  renderGroupDraft();
  $("group-title").focus();
}

function renderGroupDraft() {
  const members = $("group-members");
  members.replaceChildren();
  for (const [uuid, name] of state.groupDraft) {
    const remove = el("button", { type: "button", text: "×", "aria-label": `Remove ${name}` });
    remove.addEventListener("click", () => {
      state.groupDraft.delete(uuid);
      renderGroupDraft();
    });
    members.append(el("span", { class: "chip", "data-testid": "group-member" }, [name, remove]));
  }
  $("group-builder").hidden = state.groupDraft.size === 0;
}

async function createGroup(event) {
  event.preventDefault();
  const title = $("group-title").value.trim();
  if (!title || state.groupDraft.size === 0) return;
  const { data } = await api("POST", "/conversations/groups", { participant_uuids: [...state.groupDraft.keys()], title });
  state.groupDraft.clear();
  renderGroupDraft();
  $("group-title").value = "";
  $("contact-search").value = "";
  $("contacts").replaceChildren();
  await loadInbox();
  await openConversation(data.uuid);
}

async function addToOpenGroup(userId) {
  const { data } = await api("POST", `/conversations/${state.open.uuid}/participants`, { participant_uuids: [userId] });
  state.open = data;
  $("chat-tag").textContent = tagLabel(data);
  renderMembers();
  $("contact-search").value = "";
  $("contacts").replaceChildren();
}

async function leaveGroup() {
  if (!state.open || state.open.kind !== "group") return;
  await api("DELETE", `/conversations/${state.open.uuid}/participants/${encodeURIComponent(state.me)}`);
  state.open = null;
  $("chat-window").hidden = true;
  $("chat-empty").hidden = false;
  $("app").classList.remove("chat-open");
  await loadInbox();
}

async function startConversationWith(userId) {
  const { data } = await api("POST", "/conversations", { participant_uuid: userId });
  $("contact-search").value = "";
  $("contacts").replaceChildren();
  await loadInbox();
  await openConversation(data.uuid);
}

async function toggleReaction(message, emoji, held) {
  const path = `/conversations/${state.open.uuid}/messages/${message.uuid}/reactions/${encodeURIComponent(emoji)}`;
  const { data } = await api(held ? "DELETE" : "PUT", path);
  replaceMessage(data);
}

/// Own messages up to `seq` moved on: delivered or read by the other side.
/// A receipt in the open group: `user` has read or received up to `seq`.
function advanceWatermark(user, seq, read) {
  const mark = state.watermarks.get(user) || { read: 0, delivered: 0 };
  if (read) mark.read = Math.max(mark.read, seq);
  mark.delivered = Math.max(mark.delivered, seq);
  state.watermarks.set(user, mark);
}

function advanceTicks(seq, status) {
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

async function markRead() {
  if (!state.open) return;
  const last = state.messages[state.messages.length - 1];
  if (!last) return;
  await api("POST", `/conversations/${state.open.uuid}/read`, { up_to_seq: last.seq });
  const row = state.inbox.find((c) => c.uuid === state.open.uuid);
  if (row && row.unread_count > 0) {
    row.unread_count = 0;
    renderInbox();
  }
}

async function send(event) {
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
  cancelReply();
  state.pending = [];
  renderPending();
  try {
    addMessage(await state.client.send(conversation, payload));
  } catch (error) {
    // Refused (not retried): the text comes back so that nothing typed is lost.
    if (!input.value) input.value = body;
    setStatus(`send failed: ${error.message}`);
  }
}

function addMessage(message) {
  if (!state.open || message.conversation_uuid !== state.open.uuid) return;
  if (state.messages.some((m) => m.uuid === message.uuid)) return;
  state.messages.push(message);
  state.messages.sort((a, b) => a.seq - b.seq);
  renderMessages(true);
}

function replaceMessage(message) {
  const index = state.messages.findIndex((m) => m.uuid === message.uuid);
  if (index >= 0) {
    state.messages[index] = message;
    renderMessages(false);
  }
}

async function toggleArchive() {
  if (!state.open) return;
  const method = state.open.is_archived ? "DELETE" : "POST";
  const { data } = await api(method, `/conversations/${state.open.uuid}/archive`);
  state.open = data;
  $("archive").textContent = data.is_archived ? "Unarchive" : "Archive";
  await loadInbox();
}

// ---- blocking and reports ----

async function loadBlocks() {
  const { data } = await api("GET", "/blocks");
  state.blocked = new Set(data.map((block) => block.user.uuid));
}

/// The other participant of the open direct conversation, if it is one.
function openCounterpart() {
  if (!state.open || state.open.kind !== "direct" || !state.open.counterpart) return null;
  return state.open.counterpart;
}

/// A group's owner sees its other members with a button to remove each.
function renderMembers() {
  const list = $("members");
  list.replaceChildren();
  const group = state.open && state.open.kind === "group" ? state.open : null;
  const me = group && group.participants.find((p) => p.uuid === state.me);
  const owner = Boolean(me && me.pivot.role === "owner");
  list.hidden = !owner || group.participants.length < 2;
  if (!owner) return;
  for (const member of group.participants.filter((p) => p.uuid !== state.me)) {
    const remove = el("button", { type: "button", text: "Remove", "data-testid": "remove-member", "aria-label": `Remove ${member.name}` });
    remove.addEventListener("click", () => removeMember(member.uuid).catch((e) => setStatus(e.message)));
    list.append(el("li", { "data-testid": "member" }, [el("span", { text: member.name }), remove]));
  }
}

async function removeMember(userId) {
  const { data } = await api("DELETE", `/conversations/${state.open.uuid}/participants/${encodeURIComponent(userId)}`);
  state.open = data;
  $("chat-tag").textContent = tagLabel(data);
  renderMembers();
}

function renderBlock() {
  renderMembers();
  $("leave").hidden = !state.open || state.open.kind !== "group";
  const other = openCounterpart();
  $("block").hidden = !other;
  const blocked = Boolean(other && state.blocked.has(other.uuid));
  $("block").textContent = blocked ? "Unblock" : "Block";
  $("block").setAttribute("aria-pressed", String(blocked));
  $("blocked-note").hidden = !blocked;
  $("blocked-note").textContent = blocked ? `You blocked ${other.name}. They cannot send you messages here.` : "";
}

async function toggleBlock() {
  const other = openCounterpart();
  if (!other) return;
  if (state.blocked.has(other.uuid)) {
    await api("DELETE", `/blocks/${encodeURIComponent(other.uuid)}`);
    state.blocked.delete(other.uuid);
  } else {
    await api("POST", "/blocks", { user: other.uuid });
    state.blocked.add(other.uuid);
  }
  renderBlock();
}

/// An inline form under a message: pick a reason, send the report, then say it was sent.
function showReportForm(item, message, button) {
  if (item.querySelector("form.report")) return;
  const reason = el("select", { "aria-label": "Why are you reporting this message?", "data-testid": "report-reason" });
  for (const [value, label] of REPORT_REASONS) reason.append(el("option", { value, text: label }));
  const submit = el("button", { type: "submit", text: "Send report", "data-testid": "send-report" });
  const form = el("form", { class: "report" }, [reason, submit]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `/conversations/${message.conversation_uuid}/messages/${message.uuid}/report`, { reason: reason.value });
      form.replaceWith(el("span", { class: "reported", text: "Reported. Thank you.", "data-testid": "reported" }));
      button.remove();
    } catch (error) {
      setStatus(error.message);
    }
  });
  item.append(form);
  reason.focus();
}

function sendTyping() {
  const now = Date.now();
  if (!state.open || now - state.lastTypingSent < 2500) return;
  state.lastTypingSent = now;
  api("POST", `/conversations/${state.open.uuid}/typing`).catch(() => {});
}

function showTyping(conversationUuid, data) {
  if (!state.open || conversationUuid !== state.open.uuid || data.user === state.me) return;
  const who = state.open.participants.find((p) => p.uuid === data.user);
  $("typing").textContent = `${who ? who.name : "Someone"} is typing…`;
  clearTimeout(state.typingTimer);
  const ms = Math.max(1000, new Date(data.expires_at) - Date.now());
  state.typingTimer = setTimeout(() => ($("typing").textContent = ""), Math.min(ms, 6000));
}

// ---- live events ----

function setStatus(text) {
  $("status").textContent = text;
}

/// After a reconnect or a `resync`: the inbox again, and every message of the open
/// conversation after the newest one shown (all pages).
async function resync() {
  await loadInbox();
  if (state.open) {
    const conversation = state.open.uuid;
    const last = state.messages[state.messages.length - 1];
    const missed = await state.client.messagesAfter(conversation, last ? last.seq : 0);
    if (state.open && state.open.uuid === conversation) {
      missed.forEach(addMessage);
      await markRead();
    }
  }
}

async function handleEvent(event) {
  switch (event.type) {
    case "message.created":
      addMessage(event.data);
      if (event.data.kind === "system") loadOrders().catch(() => {}); // an order update
      if (state.open && event.conversation_uuid === state.open.uuid && !isMine(event.data)) {
        $("typing").textContent = "";
        await markRead();
      }
      break;
    case "message.updated":
    case "message.deleted":
      replaceMessage(event.data);
      break;
    case "conversation.created":
    case "conversation.updated":
      if (state.open && event.conversation_uuid === state.open.uuid && event.data && event.data.participants) {
        state.open = event.data;
        $("chat-tag").textContent = tagLabel(state.open);
        renderMembers();
        renderMessages(false);
      }
      if (event.data && event.data.participants) upsertInboxRow(event.data);
      else await loadInbox();
      break;
    case "conversation.read":
      if (state.open && event.conversation_uuid === state.open.uuid) {
        const reader = state.open.participants.find((p) => p.uuid === event.data.user);
        if (reader) reader.pivot.last_read_seq = Math.max(reader.pivot.last_read_seq, event.data.seq);
        advanceWatermark(event.data.user, event.data.seq, true);
        if (event.data.user !== state.me && state.open.kind === "direct") advanceTicks(event.data.seq, "read");
        renderMessages(false);
      }
      break;
    case "conversation.delivered":
      if (state.open && event.conversation_uuid === state.open.uuid) {
        for (const receipt of event.data.receipts) {
          if (receipt.user === state.me) continue;
          if (state.open.kind === "direct") advanceTicks(receipt.seq, "delivered");
          else advanceWatermark(receipt.user, receipt.seq, false);
        }
        if (state.open.kind === "group") renderMessages(false);
      }
      break;
    case "message.reactions":
      if (state.open && event.conversation_uuid === state.open.uuid) {
        const message = state.messages.find((m) => m.uuid === event.data.message_uuid);
        if (message) {
          message.reactions = event.data.reactions;
          renderMessages(false);
        }
      }
      break;
    case "typing":
      showTyping(event.conversation_uuid, event.data);
      break;
    case "resync":
      await resync();
      break;
    default:
      break;
  }
}

// ---- wiring ----

document.addEventListener("DOMContentLoaded", () => {
  $("who").addEventListener("change", (event) => login(event.target.value).catch((e) => setStatus(e.message)));
  $("composer").addEventListener("submit", send);
  $("file").addEventListener("change", (event) => uploadFile(event.target.files[0]));
  $("cancel-reply").addEventListener("click", cancelReply);
  $("back").addEventListener("click", backToInbox);
  $("body").addEventListener("input", sendTyping);
  $("load-earlier").addEventListener("click", () => loadEarlier().catch((e) => setStatus(e.message)));
  $("archive").addEventListener("click", () => toggleArchive().catch((e) => setStatus(e.message)));
  $("block").addEventListener("click", () => toggleBlock().catch((e) => setStatus(e.message)));
  $("clear").addEventListener("click", () => clearHistory().catch((e) => setStatus(e.message)));
  $("contact-search").addEventListener("input", searchContacts);
  $("inbox-search").addEventListener("input", onInboxSearch);
  $("group-builder").addEventListener("submit", (event) => createGroup(event).catch((e) => setStatus(e.message)));
  $("leave").addEventListener("click", () => leaveGroup().catch((e) => setStatus(e.message)));
  $("show-archived").addEventListener("change", () => loadInbox().catch((e) => setStatus(e.message)));
  loadUsers().catch((error) => setStatus(`cannot load users: ${error.message}`));
});
