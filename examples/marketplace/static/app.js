// Marketplace chat demo page. Plain JavaScript, no build step.
// Every piece of user text is put on the page with textContent, never as HTML.
// Everything it sends to the chat goes through the client module a host could copy.
import { ChatClient } from "./chat-client.js";
import { $, actions, API, api, el, NOTIFICATION_POLL_MS, setStatus, state } from "./page.js";
import { forgetFiles, uploadFile } from "./attachments.js";
import { backToInbox, loadInbox, loadNotifications, loadOrders, onInboxSearch, renderInbox, upsertInboxRow } from "./inbox.js";
import { addMessage, advanceTicks, advanceWatermark, cancelReply, clearHistory, isMine, loadEarlier, markRead, openConversation, renderMessages, replaceMessage, send, sendTyping, showTyping, toggleArchive } from "./conversation.js";
import { createGroup, leaveGroup, loadBlocks, renderBlock, renderMembers, searchContacts, showReportForm, toggleBlock } from "./people.js";
import { handleEvent, resync } from "./events.js";

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
  forgetFiles();
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
  // Another user chosen meanwhile: this sign-in is abandoned.
  const superseded = () => {
    if (state.client === client) return false;
    client.close();
    return true;
  };
  await client.signIn();
  if (superseded()) return;
  const user = state.users.find((u) => u.id === userId);
  $("platform").textContent = user ? `on ${user.platform}` : "";
  state.me = userId;
  sessionStorage.setItem("demo-user", userId);
  $("app").hidden = false;
  await Promise.all([loadOrders(), loadInbox(), loadNotifications(), loadBlocks()]);
  if (superseded()) return;
  client.connect();
  state.notificationTimer = setInterval(
    () => loadNotifications().catch((e) => setStatus(e.message)),
    NOTIFICATION_POLL_MS,
  );
}

// ---- wiring ----

Object.assign(actions, {
  addMessage,
  advanceTicks,
  advanceWatermark,
  isMine,
  loadInbox,
  loadOrders,
  markRead,
  openConversation,
  renderBlock,
  renderInbox,
  renderMembers,
  renderMessages,
  replaceMessage,
  send,
  showReportForm,
  showTyping,
  upsertInboxRow,
});

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
