// The sidebar's lists: orders, the demo's notifications, and the inbox (loaded, searched,
// and updated from live events).
import { $, actions, api, displayOf, el, formatTime, opensConversation, ORDER_TYPE, setStatus, state, tagLabel, TITLE } from "./page.js";

export async function loadNotifications() {
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

export async function loadOrders() {
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

export async function advanceOrder(order) {
  await api("POST", `/demo/orders/${order.id}/advance`);
  await loadOrders();
}

/// Opens the conversation with `userId` about `order` (the same one from either side).
export async function contactAbout(order, userId) {
  const { data } = await api("POST", "/conversations", {
    participant_uuid: userId,
    taggable_type: ORDER_TYPE,
    taggable_id: order.id,
  });
  await loadInbox();
  await actions.openConversation(data.uuid);
}

export async function loadInbox() {
  if (state.searching) return searchInbox();
  const archived = $("show-archived").checked ? "true" : "false";
  const { data } = await api("GET", `/conversations?archived=${archived}&limit=50`);
  state.inbox = data;
  renderInbox();
}

export function onInboxSearch() {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(() => {
    state.searching = Boolean($("inbox-search").value.trim());
    loadInbox().catch((e) => setStatus(e.message));
  }, 250);
}

/// The caller's conversations whose title or other participant's name matches.
export async function searchInbox() {
  const query = $("inbox-search").value.trim();
  const { data } = await api("GET", `/conversations/search?q=${encodeURIComponent(query)}`);
  if ($("inbox-search").value.trim() !== query) return; // a newer search is on its way
  state.inbox = data;
  renderInbox();
}

/// A conversation resource from a live event (the recipient's own view) put in its place:
/// the inbox is updated from the event itself, not fetched again.
export function upsertInboxRow(conversation) {
  const rows = state.inbox.filter((row) => row.uuid !== conversation.uuid);
  if (state.open && state.open.uuid === conversation.uuid && conversation.unread_count > 0) {
    // Open on screen: what arrived is read (the read receipt follows).
    conversation.unread_count = 0;
    actions.markRead().catch((e) => setStatus(e.message));
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

export function renderInbox() {
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
export function backToInbox() {
  $("app").classList.remove("chat-open");
  const row = document.querySelector(`#inbox li[data-conversation="${state.open ? state.open.uuid : ""}"]`);
  if (row) row.focus();
}
