// People: contacts (anyone of the platform, by name), groups (create, add, remove, leave),
// blocking and reports.
import { $, actions, api, el, REPORT_REASONS, setStatus, state, tagLabel } from "./page.js";

export function searchContacts() {
  clearTimeout(state.contactTimer);
  state.contactTimer = setTimeout(() => loadContacts().catch((e) => setStatus(e.message)), 250);
}

export async function loadContacts() {
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

export function addToGroupDraft(user) {
  state.groupDraft.set(user.uuid, user.name);
  renderGroupDraft();
  $("group-title").focus();
}

export function renderGroupDraft() {
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

export async function createGroup(event) {
  event.preventDefault();
  const title = $("group-title").value.trim();
  if (!title || state.groupDraft.size === 0) return;
  const { data } = await api("POST", "/conversations/groups", { participant_uuids: [...state.groupDraft.keys()], title });
  state.groupDraft.clear();
  renderGroupDraft();
  $("group-title").value = "";
  $("contact-search").value = "";
  $("contacts").replaceChildren();
  await actions.loadInbox();
  await actions.openConversation(data.uuid);
}

export async function addToOpenGroup(userId) {
  const { data } = await api("POST", `/conversations/${state.open.uuid}/participants`, { participant_uuids: [userId] });
  state.open = data;
  $("chat-tag").textContent = tagLabel(data);
  renderMembers();
  $("contact-search").value = "";
  $("contacts").replaceChildren();
}

export async function leaveGroup() {
  if (!state.open || state.open.kind !== "group") return;
  await api("DELETE", `/conversations/${state.open.uuid}/participants/${encodeURIComponent(state.me)}`);
  state.open = null;
  $("chat-window").hidden = true;
  $("chat-empty").hidden = false;
  $("app").classList.remove("chat-open");
  await actions.loadInbox();
}

export async function startConversationWith(userId) {
  const { data } = await api("POST", "/conversations", { participant_uuid: userId });
  $("contact-search").value = "";
  $("contacts").replaceChildren();
  await actions.loadInbox();
  await actions.openConversation(data.uuid);
}

export async function loadBlocks() {
  const { data } = await api("GET", "/blocks");
  state.blocked = new Set(data.map((block) => block.user.uuid));
}

/// The other participant of the open direct conversation, if it is one.
export function openCounterpart() {
  if (!state.open || state.open.kind !== "direct" || !state.open.counterpart) return null;
  return state.open.counterpart;
}

/// A group's owner sees its other members with a button to remove each.
export function renderMembers() {
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

export async function removeMember(userId) {
  const { data } = await api("DELETE", `/conversations/${state.open.uuid}/participants/${encodeURIComponent(userId)}`);
  state.open = data;
  $("chat-tag").textContent = tagLabel(data);
  renderMembers();
}

export function renderBlock() {
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

export async function toggleBlock() {
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
export function showReportForm(item, message, button) {
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
