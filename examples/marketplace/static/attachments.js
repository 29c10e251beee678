// Attachments: uploads with a progress bar, and thumbnails fetched with the caller's token.
import { $, API, el, setStatus, state } from "./page.js";

/// The bytes of an attachment as an object URL: downloads need the Authorization header,
/// which an <img src> cannot send, so the page fetches each once (re-renders share the
/// download in flight) and keeps the blob until sign-out (forgetFiles).
export function attachmentUrl(attachment) {
  const known = state.files.get(attachment.uuid);
  if (known) return known;
  const download = (async () => {
    const response = await fetch(attachment.url, {
      headers: { Authorization: `Bearer ${state.client.token}`, "X-PUBLIC-KEY": state.client.platformKey },
    });
    if (!response.ok) throw new Error(`${response.status}: download failed`);
    return URL.createObjectURL(await response.blob());
  })();
  state.files.set(attachment.uuid, download);
  download.catch(() => state.files.delete(attachment.uuid)); // a failed download is tried again
  return download;
}

/// Releases every downloaded attachment (on sign-out or a change of user).
export function forgetFiles() {
  for (const download of state.files.values()) download.then((url) => URL.revokeObjectURL(url), () => {});
  state.files.clear();
}

export function attachmentsOf(message) {
  const box = el("div", { class: "attachments" });
  for (const attachment of message.attachments || []) {
    if (attachment.content_type.startsWith("image/")) {
      const image = el("img", { class: "thumb", alt: attachment.name, "data-testid": "thumbnail" });
      if (attachment.width && attachment.height) {
        // At most 240 x 320, the aspect kept, whatever the header claimed.
        const scale = Math.min(240 / attachment.width, 320 / attachment.height, 1);
        image.width = Math.max(1, Math.round(attachment.width * scale));
        image.height = Math.max(1, Math.round(attachment.height * scale));
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
export function uploadFile(file) {
  if (!state.open || !file) return;
  const conversation = state.open.uuid;
  const progress = $("upload-progress");
  progress.hidden = false;
  progress.value = 0;
  const request = new XMLHttpRequest();
  request.open("POST", `${API}/conversations/${conversation}/attachments?name=${encodeURIComponent(file.name)}`);
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
    // An upload belongs to the conversation it was made in: not to one opened meanwhile.
    if (!state.open || state.open.uuid !== conversation) return;
    state.pending.push(answer.data);
    renderPending();
  });
  request.send(file);
}

export function renderPending() {
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
