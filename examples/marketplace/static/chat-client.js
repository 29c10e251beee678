// A small client for the chat API that a host page can copy: a plain ES module, no build
// step, no dependencies. The demo page (app.js) uses it for everything it sends.
//
//   import { ChatClient } from "/static/chat-client.js";
//   const client = new ChatClient({
//     apiBase: "/api/v1/chat",
//     login: async () => ({ token, platformKey }),  // the host's own sign-in; called again on a 401
//     onEvent: (event) => {},                       // every live event frame, parsed
//     onStatus: (text) => {},                       // "live", "reconnecting…", "sending…"
//     onReconnect: async () => {},                  // on every open and `resync`: catch up
//   });
//   await client.signIn();
//   client.connect();
//   const message = await client.send(conversationUuid, { body: "Hello" });
//
// What it guarantees:
// - request(): JSON with the bearer token and the platform key (X-PUBLIC-KEY); a 401 signs in
//   again once and repeats the call (a restarted server forgets the demo's tokens).
// - connect(): the WebSocket, reconnecting with backoff (1 s doubling to 30 s) and signing in
//   again after a failed attempt; every open of the socket (the first one too) and every
//   `resync` frame runs onReconnect, where the page fetches what it missed (messagesAfter
//   for each open conversation). close() stops the socket and the send queue.
// - send(): a queue, in order: each message keeps its client_message_id and is retried until
//   the server acknowledges it (a network failure, a restart, a 5xx, 408 or 429), so a message
//   sent while offline is delivered once when the server is back; a refusal (another 4xx) is
//   not retried and rejects with a RequestError.
// - messagesAfter(): every message after a seq, all pages, oldest first.

const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const SEND_RETRY_MIN_MS = 500;
const SEND_RETRY_MAX_MS = 10000;
const PAGE = 100;
const REQUEST_TIMEOUT_MS = 15000;

/// An answer of the API that is not a success: `status` is the HTTP status (0: no answer).
export class RequestError extends Error {
  constructor(status, message) {
    super(status ? `${status}: ${message}` : message);
    this.status = status;
  }

  /// True when trying again later may succeed: no answer, a server error, a timeout or a rate limit.
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// A client message id: random, so that a retry of the same send is recognised as one.
function newClientMessageId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export class ChatClient {
  constructor({ apiBase, login, onEvent = () => {}, onStatus = () => {}, onReconnect = async () => {} }) {
    this.apiBase = apiBase;
    this.login = login;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onReconnect = onReconnect;
    this.token = null;
    this.platformKey = null;
    this.socket = null;
    this.closed = true;
    this.reconnectDelay = RECONNECT_MIN_MS;
    this.queue = []; // {conversation, payload, resolve, reject}
    this.sending = false;
  }

  /// Signs in through the host's `login` (again after a restart made the token unknown).
  async signIn() {
    const { token, platformKey } = await this.login();
    this.token = token;
    this.platformKey = platformKey;
  }

  /// `method path` of the chat API with a JSON body; the parsed answer, or a RequestError.
  async request(method, path, body, retried = false) {
    let response;
    try {
      response = await fetch(this.apiBase + path, {
        method,
        // A request that hangs would hold the send queue: give up and retry instead.
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        headers: {
          "Content-Type": "application/json",
          ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
          ...(this.platformKey ? { "X-PUBLIC-KEY": this.platformKey } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new RequestError(0, `no answer (${error.message})`);
    }
    if (response.status === 401 && !retried) {
      try {
        await this.signIn();
      } catch (error) {
        // The sign-in itself found no server (it went away again): worth another try later.
        throw new RequestError(0, `cannot sign in again (${error.message})`);
      }
      return this.request(method, path, body, true);
    }
    let text;
    try {
      text = await response.text();
    } catch (error) {
      // The answer was cut off: the server may have done it, so this is retried (a send
      // keeps its client_message_id and is stored once).
      throw new RequestError(0, `answer cut off (${error.message})`);
    }
    let json = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { message: text };
    }
    if (!response.ok) throw new RequestError(response.status, json.message || text);
    return json;
  }

  /// Every message of `conversation` after seq `after`, oldest first, page by page.
  async messagesAfter(conversation, after) {
    const messages = [];
    for (;;) {
      const page = await this.request("GET", `/conversations/${conversation}/messages?after=${after}&limit=${PAGE}`);
      messages.push(...page.data);
      if (page.data.length < PAGE) return messages;
      after = page.data[page.data.length - 1].seq;
    }
  }

  /// Sends `payload` (`{body, reply_to?, attachment_ids?}`) into `conversation` through the
  /// queue; resolves with the stored message once the server acknowledged it.
  send(conversation, payload) {
    return new Promise((resolve, reject) => {
      this.queue.push({ conversation, payload: { ...payload, client_message_id: newClientMessageId() }, resolve, reject });
      this.drain();
    });
  }

  /// True while the live socket is open.
  get live() {
    return Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  /// Messages waiting for the server's acknowledgement.
  get queued() {
    return this.queue.length;
  }

  async drain() {
    if (this.sending) return;
    this.sending = true;
    let delay = SEND_RETRY_MIN_MS;
    // A closed client (signed out) sends nothing more; connect() starts the queue again.
    while (this.queue.length && !this.closed) {
      const next = this.queue[0];
      try {
        const { data } = await this.request("POST", `/conversations/${next.conversation}/messages`, next.payload);
        this.queue.shift();
        if (delay !== SEND_RETRY_MIN_MS) this.onStatus(this.live ? "live" : "reconnecting…");
        delay = SEND_RETRY_MIN_MS;
        next.resolve(data);
      } catch (error) {
        if (!(error instanceof RequestError) || !error.retryable) {
          this.queue.shift();
          next.reject(error);
          continue;
        }
        this.onStatus(`sending… (retrying: ${error.message})`);
        await sleep(delay);
        delay = Math.min(delay * 2, SEND_RETRY_MAX_MS);
      }
    }
    this.sending = false;
  }

  /// Opens the live socket and keeps it open until close().
  connect() {
    this.closed = false;
    this.open();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // Browsers cannot set headers on a WebSocket: the token and the platform key go in the query.
    const query = `token=${encodeURIComponent(this.token)}&public_key=${encodeURIComponent(this.platformKey)}`;
    const socket = new WebSocket(`${scheme}://${location.host}${this.apiBase}/ws?${query}`);
    let opened = false;
    this.socket = socket;
    socket.addEventListener("open", () => {
      opened = true;
      this.reconnectDelay = RECONNECT_MIN_MS;
      this.onStatus("live");
      // Also on the first open: what happened between the page's first reads and now.
      this.catchUp();
      if (this.queue.length) this.drain();
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket || this.closed) return;
      this.onStatus("reconnecting…");
      const delay = this.reconnectDelay;
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
      setTimeout(async () => {
        if (this.closed || this.socket !== socket) return;
        // A socket that never opened was likely refused: the server may have restarted and
        // forgotten the token, so sign in again first.
        if (!opened) await this.signIn().catch(() => {});
        if (!this.closed && this.socket === socket) this.open();
      }, delay);
    });
    socket.addEventListener("message", (frame) => {
      let event;
      try {
        event = JSON.parse(frame.data);
      } catch {
        return;
      }
      if (event.type === "resync") {
        this.catchUp();
        return;
      }
      this.onEvent(event);
    });
  }

  catchUp() {
    Promise.resolve(this.onReconnect()).catch((error) => this.onStatus(`catch-up failed: ${error.message}`));
  }

  /// Closes the socket for good (signing out) and stops the send queue; what is queued
  /// waits, unsent, until connect() is called again.
  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
    this.socket = null;
    this.reconnectDelay = RECONNECT_MIN_MS;
  }
}
