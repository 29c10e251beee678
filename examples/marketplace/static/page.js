// The demo page's shared pieces: its state, DOM helpers, the API call, the labels of a
// conversation, and `actions`, through which one part of the page calls another (app.js
// fills it), so the page's modules never import each other in a cycle.

export const API = "/api/v1/chat";

export const ORDER_TYPE = "App\\Models\\Order";

export const state = {
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
  files: new Map(), // attachment uuid -> promise of the object URL of its downloaded bytes
  notificationTimer: null,
  blocked: new Set(), // the user ids the signed-in user has blocked
  editing: null, // the caller's own message the composer is editing
  contactTimer: null,
  groupDraft: new Map(), // user id -> name: the members of a group being made
  watermarks: new Map(), // in the open group: user id -> {read, delivered} seqs, kept live
  searching: false, // the inbox shows search results
  searchTimer: null,
};

export const TITLE = "Marketplace chat demo";

export const NOTIFICATION_POLL_MS = 3000;

export const QUICK_REACTIONS = ["👍", "❤️", "😂"];

export const REPORT_REASONS = [
  ["spam", "Spam"],
  ["scam", "Scam or payment outside the platform"],
  ["abuse", "Abuse or harassment"],
  ["inappropriate", "Inappropriate content"],
  ["other", "Something else"],
];

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, children = []) {
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
export async function api(method, path, body) {
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

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleDateString();
}

export function displayOf(conversation) {
  if (conversation.kind === "direct" && conversation.counterpart) {
    return { name: conversation.counterpart.name, avatar: conversation.counterpart.avatar_url };
  }
  return { name: conversation.title || "Group", avatar: "/demo/avatars/group.svg" };
}

export function tagLabel(conversation) {
  if (conversation.kind === "group" && conversation.participants) {
    const names = conversation.participants.map((p) => (p.uuid === state.me ? "you" : p.name));
    return `${names.length} members: ${names.join(", ")}`;
  }
  if (!conversation.taggable_type) return "";
  const kind = conversation.taggable_type.split("\\").pop();
  return `About ${kind} #${conversation.taggable_id}`;
}

export function setStatus(text) {
  $("status").textContent = text;
}

/// Makes `item` (focusable) open conversation `uuid` on a click or on Enter.
export function opensConversation(item, uuid) {
  const open = () => actions.openConversation(uuid).catch((e) => setStatus(e.message));
  item.addEventListener("click", open);
  item.addEventListener("keydown", (event) => {
    if (event.key === "Enter") open();
  });
}

/// What one part of the page calls in another (openConversation, loadInbox, …): filled by
/// app.js once every module is loaded.
export const actions = {};
