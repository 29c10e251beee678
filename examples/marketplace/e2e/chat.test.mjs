// End-to-end: two users in two browser contexts chat through the example server.
// Run with: MARKETPLACE_BIN=target/debug/marketplace node --test examples/marketplace/e2e
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import net from "node:net";
import { crc32, deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const BIN = resolve(process.env.MARKETPLACE_BIN || "target/debug/marketplace");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR || mkdtempSync(join(tmpdir(), "marketplace-shots-"));
mkdirSync(SHOTS, { recursive: true });

let server;
let browser;
let base;
let serverArgs; // [port, data directory]: a restart reuses both

function freePort() {
  return new Promise((ok, fail) => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
    probe.on("error", fail);
  });
}

async function waitForServer(url) {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server at ${url} did not start`);
}

/// Starts the example server on the run's port and data directory.
async function startServer() {
  const [port, dataDir] = serverArgs;
  const env = { ...process.env };
  delete env.DATABASE_URL; // the browser test runs on the default store (sled)
  env.MARKETPLACE_NOTIFY_AFTER = "1"; // notifications after a second unread, not 30
  server = spawn(BIN, ["--addr", `127.0.0.1:${port}`, "--data-dir", dataDir], { env, stdio: ["ignore", "inherit", "inherit"] });
  await waitForServer(`${base}/demo/users`);
}

/// Stops the server (SIGINT, as an operator would) and waits until the process is gone.
async function stopServer() {
  const exited = new Promise((ok) => server.once("exit", ok));
  server.kill("SIGINT");
  await exited;
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  serverArgs = [port, mkdtempSync(join(tmpdir(), "marketplace-data-"))];
  await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  console.log(`screenshots: ${SHOTS}`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill("SIGINT");
});

/// A real PNG of `width` × `height` red pixels (signature, IHDR, IDAT, IEND).
function redPng(width, height) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(width).fill([255, 0, 0, 255]).flat())]);
  const pixels = Buffer.concat(Array(height).fill(row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function signIn(context, userId) {
  const page = await context.newPage();
  const errors = [];
  const consoleErrors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("response", (response) => {
    if (response.status() === 404) errors.push(`404 ${response.url()}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await page.goto(base + "/");
  await page.locator('[data-testid="welcome"]').waitFor(); // what a newcomer sees first
  await page.selectOption("#who", userId);
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#status").textContent === "live");
  return { page, errors, consoleErrors };
}

/// Asserts that every console error is one that `allowed` (patterns) explains: what the
/// browser itself logs for a request the test made fail on purpose.
function assertOnlyExpectedConsoleErrors(consoleErrors, allowed) {
  const unexpected = consoleErrors.filter((text) => !allowed.some((pattern) => pattern.test(text)));
  assert.deepEqual(unexpected, []);
}

/// A phone's screen for browser contexts.
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/// True when the page scrolls sideways: something is wider than the screen.
function scrollsSideways(page) {
  return page.evaluate(() => {
    const root = document.documentElement;
    return root.scrollWidth > root.clientWidth || document.body.scrollWidth > document.body.clientWidth;
  });
}

const CHAT_CASES = [
  { label: "at 1280 px", view: { viewport: { width: 1280, height: 800 } }, buyer: "buyer-ana", buyerName: "Ana Souza", seller: "seller-ines", sellerName: "Inés Ramírez", order: "1001", item: "Handmade ceramic mug", shots: "" },
  { label: "on a 390 px phone", view: PHONE, buyer: "buyer-zoe", buyerName: "Zoë Müller", seller: "seller-renee", sellerName: "Renée Côté", order: "1004", item: "Oak bookshelf", shots: "phone-" },
];

/// On a phone, shows the sidebar (the back button) if the conversation covers it.
async function showSidebar(page) {
  if (await page.locator("#back").isVisible()) await page.click("#back");
}

for (const c of CHAT_CASES) test(`${c.label}: a buyer contacts a seller and both chat live; text stays text`, async () => {
  const buyerContext = await browser.newContext(c.view);
  const sellerContext = await browser.newContext(c.view);
  const buyer = await signIn(buyerContext, c.buyer);
  const seller = await signIn(sellerContext, c.seller);

  // Both are on the marketplace platform, and the page says so.
  assert.equal(await buyer.page.textContent("#platform"), "on Marketplace");
  assert.equal(await seller.page.textContent("#platform"), "on Marketplace");

  const response = await buyer.page.request.get(base + "/");
  assert.match(response.headers()["content-security-policy"] || "", /script-src 'self'/);

  // The buyer opens order 1001 and contacts its seller.
  await buyer.page.click(`button[data-order="${c.order}"]`);
  await buyer.page.waitForSelector("#chat-window:not([hidden])");
  assert.equal(await buyer.page.textContent("#chat-title"), c.sellerName);
  await buyer.page.fill("#body", "Olá! Is the mug still available? ¿Sí?");
  await buyer.page.click("#composer button[type=submit]");
  await buyer.page.waitForSelector('#messages li[data-seq="1"]');

  // The seller's sidebar shows the buyer, photo, preview and unread badge, without a reload.
  const row = seller.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.buyerName });
  await row.waitFor();
  await assert.doesNotReject(row.locator('[data-testid="unread"]').filter({ hasText: "1" }).waitFor());
  assert.match(await row.textContent(), /Is the mug still available\? ¿Sí\?/);
  assert.equal(await row.locator("img").getAttribute("src"), `/demo/avatars/${c.buyer}.svg`);
  await seller.page.screenshot({ path: join(SHOTS, `${c.shots}1-seller-inbox.png`) });

  // What it is about stays on the row once it has messages; the seller can contact the
  // buyer from the order too, which opens the same conversation.
  assert.equal(await row.locator('[data-testid="row-tag"]').textContent(), `About Order #${c.order}`);
  assert.equal(await seller.page.textContent(`button[data-order="${c.order}"]`), "Contact the buyer");
  assert.match(await seller.page.locator("#orders li").filter({ hasText: c.item }).textContent(), new RegExp(`Buyer: ${c.buyerName}`));
  assert.equal(await seller.page.locator('[data-testid="welcome"]').isVisible(), false);

  // The seller answers; the buyer sees it live.
  await row.click();
  await seller.page.waitForSelector('#messages li[data-seq="1"]');
  // Reading it sends a receipt: the buyer's message shows "Seen".
  await buyer.page.locator('#messages li[data-seq="1"] [data-testid="seen"]').waitFor();
  // Typing shows on the other side.
  await seller.page.type("#body", "Sí");
  await buyer.page.locator("#typing").filter({ hasText: `${c.sellerName} is typing` }).waitFor();
  await seller.page.fill("#body", "Sí, está disponible. Envío mañana.");
  await seller.page.click("#composer button[type=submit]");
  await buyer.page.locator("#messages li").filter({ hasText: "Envío mañana" }).waitFor();
  await buyer.page.screenshot({ path: join(SHOTS, `${c.shots}2-buyer-chat.png`) });

  // Markup in a message is shown as text and runs nothing.
  const hostile = "<img src=x onerror=\"window.__pwned=1\"> <b>bold?</b>";
  await buyer.page.fill("#body", hostile);
  await buyer.page.click("#composer button[type=submit]");
  const shown = seller.page.locator("#messages li .body").filter({ hasText: "onerror" });
  await shown.waitFor();
  assert.equal(await shown.textContent(), hostile);
  assert.equal(await seller.page.locator("#messages img").count(), 0);
  assert.equal(await seller.page.locator("#messages b").count(), 0);
  assert.equal(await seller.page.evaluate(() => window.__pwned), undefined);
  assert.equal(await buyer.page.evaluate(() => window.__pwned), undefined);
  await seller.page.screenshot({ path: join(SHOTS, `${c.shots}3-seller-hostile-text.png`) });

  // The marketplace keeps deals on the platform: a phone number is masked before it is stored.
  await buyer.page.fill("#body", "Or call me: +34 612 34 56 78");
  await buyer.page.click("#composer button[type=submit]");
  await seller.page.locator("#messages li .body").filter({ hasText: "Or call me: [hidden]" }).waitFor();
  assert.equal(await seller.page.locator("#messages li .body").filter({ hasText: "612" }).count(), 0);

  // A send whose answer is lost (it reached the server) is retried by the client's queue
  // with the same client_message_id: one message.
  await buyer.page.route("**/api/v1/chat/conversations/*/messages", async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    await route.fetch();
    await route.abort("failed");
  });
  await buyer.page.fill("#body", "Sent once, answered never");
  await buyer.page.click("#composer button[type=submit]");
  await buyer.page.locator("#status").filter({ hasText: "retrying" }).waitFor();
  await buyer.page.unroute("**/api/v1/chat/conversations/*/messages");
  await buyer.page.locator("#messages li .body").filter({ hasText: "Sent once, answered never" }).waitFor();
  const once = seller.page.locator("#messages li .body").filter({ hasText: "Sent once, answered never" });
  await once.first().waitFor();
  await seller.page.waitForTimeout(300);
  assert.equal(await once.count(), 1, "the retry reused the client_message_id");
  assert.equal(await buyer.page.locator("#messages li .body").filter({ hasText: "Sent once, answered never" }).count(), 1);

  // The buyer's first message shows it was read (two ticks).
  await buyer.page.locator('#messages li[data-seq="1"] .time').filter({ hasText: "✓✓ read" }).waitFor();

  // The buyer reacts to the seller's answer; the seller sees the count live.
  const answer = buyer.page.locator("#messages li").filter({ hasText: "Envío mañana" });
  await answer.locator('button[data-emoji="👍"]').click();
  await answer.locator("button.reaction.me").filter({ hasText: "👍 1" }).waitFor();
  const reacted = seller.page.locator("#messages li").filter({ hasText: "Envío mañana" });
  await reacted.locator("button.reaction").filter({ hasText: "👍 1" }).waitFor();

  // The seller replies to the buyer's question; the buyer sees the quote live.
  const question = seller.page.locator('#messages li[data-seq="1"]');
  await question.locator('[data-testid="reply"]').click();
  await seller.page.fill("#body", "It ships tomorrow morning.");
  await seller.page.click("#composer button[type=submit]");
  const quoted = buyer.page.locator("#messages li").filter({ hasText: "It ships tomorrow morning." });
  await quoted.locator('[data-testid="quote"]').filter({ hasText: `${c.buyerName}: Olá! Is the mug still available?` }).waitFor();

  // The seller marks the order shipped: the host posts a system message into the chat.
  await showSidebar(seller.page);
  await seller.page.click(`button[data-advance="${c.order}"]`);
  if (!(await seller.page.locator("#chat").isVisible())) await row.click(); // back to the conversation
  await buyer.page.locator('#messages [data-testid="system"]').filter({ hasText: `Order #${c.order} (${c.item}) was shipped.` }).waitFor();
  await buyer.page.screenshot({ path: join(SHOTS, `${c.shots}3b-buyer-reply-reaction-system.png`) });

  // The buyer sends a photo of the damage; the seller sees the thumbnail appear live.
  await buyer.page.setInputFiles("#file", { name: "mug-crack.png", mimeType: "image/png", buffer: redPng(40, 30) });
  await buyer.page.locator("#pending .chip").filter({ hasText: "mug-crack.png" }).waitFor();
  await buyer.page.fill("#body", "It arrived with a crack, see the photo.");
  await buyer.page.click("#composer button[type=submit]");
  const loaded = () => {
    const image = document.querySelector('#messages [data-testid="thumbnail"]');
    return Boolean(image && image.complete && image.naturalWidth === 40 && image.naturalHeight === 30);
  };
  await seller.page.waitForFunction(loaded);
  await buyer.page.waitForFunction(loaded);
  assert.equal(await seller.page.locator('#messages [data-testid="thumbnail"]').getAttribute("alt"), "mug-crack.png");
  await seller.page.screenshot({ path: join(SHOTS, `${c.shots}3c-seller-photo-thumbnail.png`) });

  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(seller.errors, []);
  // The aborted answer is the only thing the browser complains about.
  assertOnlyExpectedConsoleErrors(buyer.consoleErrors, [/Failed to load resource: net::ERR_FAILED/]);
  assert.deepEqual(seller.consoleErrors, []);
  assert.equal(await scrollsSideways(buyer.page), false);
  assert.equal(await scrollsSideways(seller.page), false);
  await buyerContext.close();
  await sellerContext.close();
});

test("a user of the other platform sees only that platform", async () => {
  const context = await browser.newContext();
  const guest = await signIn(context, "guest-tomas");
  assert.equal(await guest.page.textContent("#platform"), "on Rentals");
  // Only the rentals platform's booking, none of the marketplace's orders.
  await guest.page.waitForSelector('button[data-order="2001"]');
  assert.equal(await guest.page.locator('button[data-order="1001"]').count(), 0);
  // The inbox holds nothing of the marketplace's conversations.
  assert.equal(await guest.page.locator('[data-testid="inbox-row"]').count(), 0);
  // The platform key is what the chat API checks: without it, a 401 naming the header.
  const status = await guest.page.evaluate(async () => {
    const login = await fetch("/demo/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: "guest-tomas" }),
    });
    const { token } = await login.json();
    const response = await fetch("/api/v1/chat/conversations", { headers: { Authorization: `Bearer ${token}` } });
    return [response.status, (await response.json()).message];
  });
  assert.equal(status[0], 401);
  assert.match(status[1], /X-PUBLIC-KEY/);
  await guest.page.click('button[data-order="2001"]');
  await guest.page.waitForSelector("#chat-window:not([hidden])");
  assert.equal(await guest.page.textContent("#chat-title"), "Lucía Fernández");
  await guest.page.screenshot({ path: join(SHOTS, "4-rentals-platform.png") });
  assert.deepEqual(guest.errors, []);
  // The request made without the key, on purpose, is the only complaint.
  assertOnlyExpectedConsoleErrors(guest.consoleErrors, [/status of 401/]);
  await context.close();
});

test("a message left unread reaches the offline recipient's notifications panel", async () => {
  const guestContext = await browser.newContext();
  const guest = await signIn(guestContext, "guest-tomas");
  await guest.page.click('button[data-order="2001"]');
  await guest.page.waitForSelector("#chat-window:not([hidden])");
  await guest.page.fill("#body", "Is the flat free the first week of May?");
  await guest.page.click("#composer button[type=submit]");
  await guest.page.waitForSelector('#messages li[data-seq="1"]');
  await guestContext.close();

  // The host was not online: after the delay the demo "e-mails" her; she signs in later.
  const hostContext = await browser.newContext();
  const host = await signIn(hostContext, "host-lucia");
  const mail = host.page.locator('[data-testid="notifications"] li').filter({ hasText: "first week of May" });
  await mail.waitFor();
  assert.match(await mail.textContent(), /New messages from Tomás/);
  assert.equal(await host.page.textContent("#notification-count"), "1");
  await host.page.screenshot({ path: join(SHOTS, "5-notifications-panel.png") });
  // It opens the conversation it is about.
  await mail.click();
  await host.page.waitForSelector("#chat-window:not([hidden])");
  await host.page.locator("#messages li").filter({ hasText: "first week of May" }).waitFor();
  assert.deepEqual(guest.errors, []);
  assert.deepEqual(host.errors, []);
  await hostContext.close();
});

test("on a 390 px phone the inbox and the conversation are two views, with no sideways scroll", async () => {
  const buyerContext = await browser.newContext(PHONE);
  const buyer = await signIn(buyerContext, "buyer-ana");
  assert.equal(await scrollsSideways(buyer.page), false, "the inbox fits 390 px");
  assert.equal(await buyer.page.locator(".sidebar").isVisible(), true);
  assert.equal(await buyer.page.locator("#chat").isVisible(), false, "no squeezed chat beside the inbox");
  await buyer.page.screenshot({ path: join(SHOTS, "6-phone-inbox.png") });

  // Opening a conversation shows it alone, full width, with a back button.
  await buyer.page.click('button[data-order="1001"]');
  await buyer.page.waitForSelector("#chat-window:not([hidden])");
  assert.equal(await buyer.page.locator(".sidebar").isVisible(), false);
  assert.equal(await buyer.page.locator("#back").isVisible(), true);
  const composer = await buyer.page.locator("#composer").boundingBox();
  assert.ok(composer.x >= 0 && composer.x + composer.width <= 390, `the composer fits: ${JSON.stringify(composer)}`);
  await buyer.page.fill("#body", "Sent from my phone, a long line without spaces: " + "x".repeat(120));
  await buyer.page.click("#composer button[type=submit]");
  await buyer.page.locator("#messages li .body").filter({ hasText: "Sent from my phone" }).waitFor();
  assert.equal(await scrollsSideways(buyer.page), false, "the conversation fits 390 px");
  await buyer.page.screenshot({ path: join(SHOTS, "7-phone-conversation.png") });

  // Back returns to the inbox, with the conversation's row focused for the keyboard.
  await buyer.page.click("#back");
  assert.equal(await buyer.page.locator(".sidebar").isVisible(), true);
  assert.equal(await buyer.page.locator("#chat").isVisible(), false);
  const focused = await buyer.page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
  assert.equal(focused, "inbox-row");
  // The keyboard opens it again: Enter on the focused row.
  await buyer.page.keyboard.press("Enter");
  await buyer.page.waitForFunction(() => document.querySelector("#app").classList.contains("chat-open"));
  assert.equal(await buyer.page.locator("#chat-window").isVisible(), true);

  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(buyer.consoleErrors, []);
  await buyerContext.close();
});

test("at 1280 px the inbox and the conversation sit side by side", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const buyer = await signIn(context, "buyer-ana");
  await buyer.page.click('button[data-order="1001"]');
  await buyer.page.waitForSelector("#chat-window:not([hidden])");
  assert.equal(await buyer.page.locator(".sidebar").isVisible(), true);
  assert.equal(await buyer.page.locator("#back").isVisible(), false, "no back button beside the inbox");
  assert.equal(await scrollsSideways(buyer.page), false);
  await buyer.page.screenshot({ path: join(SHOTS, "8-desktop-side-by-side.png") });
  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(buyer.consoleErrors, []);
  await context.close();
});

const BLOCK_CASES = [
  { label: "at 1280 px", view: { viewport: { width: 1280, height: 800 } }, buyer: "buyer-jose", buyerName: "José Núñez", seller: "seller-ines", sellerName: "Inés Ramírez", order: "1003", shot: "9-buyer-reported-and-blocked.png" },
  { label: "on a 390 px phone", view: PHONE, buyer: "guest-tomas", buyerName: "Tomás Ortega", seller: "host-lucia", sellerName: "Lucía Fernández", order: "2001", shot: "9b-phone-reported-and-blocked.png" },
];

for (const c of BLOCK_CASES) test(`${c.label}: a buyer reports a message and blocks the seller, who then cannot write to her`, async () => {
  const buyerContext = await browser.newContext(c.view);
  const sellerContext = await browser.newContext(c.view);
  const buyer = await signIn(buyerContext, c.buyer);
  const seller = await signIn(sellerContext, c.seller);

  await buyer.page.click(`button[data-order="${c.order}"]`);
  await buyer.page.waitForSelector("#chat-window:not([hidden])");
  await buyer.page.fill("#body", "Is it still available?");
  await buyer.page.click("#composer button[type=submit]");
  const row = seller.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.buyerName });
  await row.click();
  await seller.page.fill("#body", "Pay me by bank transfer outside the app and I'll give you a discount");
  await seller.page.click("#composer button[type=submit]");

  // The buyer reports the seller's message: a reason, then a thank-you in place of the form.
  const offer = buyer.page.locator("#messages li").filter({ hasText: "outside the app" });
  await offer.waitFor();
  assert.equal(await buyer.page.locator('#messages li.mine [data-testid="report"]').count(), 0, "no report button on one's own messages");
  await offer.locator('[data-testid="report"]').click();
  await offer.locator('[data-testid="report-reason"]').selectOption("scam");
  await offer.locator('[data-testid="send-report"]').click();
  await offer.locator('[data-testid="reported"]').waitFor();
  assert.equal(await offer.locator('[data-testid="report"]').count(), 0);

  // She blocks him: the header says so, and his next message is refused with a neutral reason.
  assert.equal(await buyer.page.textContent('[data-testid="block"]'), "Block");
  await buyer.page.click('[data-testid="block"]');
  await buyer.page.locator('[data-testid="blocked-note"]').filter({ hasText: `You blocked ${c.sellerName}` }).waitFor();
  assert.equal(await buyer.page.textContent('[data-testid="block"]'), "Unblock");
  await buyer.page.screenshot({ path: join(SHOTS, c.shot) });
  await seller.page.fill("#body", "Hello? Still interested?");
  await seller.page.click("#composer button[type=submit]");
  const refusal = seller.page.locator("#status").filter({ hasText: "403" });
  await refusal.waitFor();
  assert.doesNotMatch(await refusal.textContent(), /block/i, "the refusal does not say why");
  await buyer.page.waitForTimeout(300);
  assert.equal(await buyer.page.locator("#messages li").filter({ hasText: "Still interested" }).count(), 0);

  // A reload keeps the block (it is the server's), and unblocking lets him write again.
  await buyer.page.reload();
  await buyer.page.waitForFunction(() => document.querySelector("#status").textContent === "live");
  await buyer.page.click(`button[data-order="${c.order}"]`);
  await buyer.page.locator('[data-testid="blocked-note"]').waitFor();
  await buyer.page.click('[data-testid="block"]');
  await buyer.page.locator('[data-testid="blocked-note"]').waitFor({ state: "hidden" });
  await seller.page.fill("#body", "Sorry, no transfers. Still interested?");
  await seller.page.click("#composer button[type=submit]");
  await buyer.page.locator("#messages li").filter({ hasText: "Sorry, no transfers" }).waitFor();

  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(seller.errors, []);
  assert.deepEqual(buyer.consoleErrors, []);
  assert.equal(await scrollsSideways(buyer.page), false);
  await buyerContext.close();
  await sellerContext.close();
});

const CONTACT_CASES = [
  { label: "at 1280 px", view: { viewport: { width: 1280, height: 800 } }, seller: "seller-ines", query: "ines", sellerName: "Inés Ramírez", shot: "10-buyer-cleared.png" },
  { label: "on a 390 px phone", view: PHONE, seller: "seller-renee", query: "renee", sellerName: "Renée Côté", shot: "10b-phone-cleared.png" },
];

for (const c of CONTACT_CASES) test(`${c.label}: a buyer finds anyone by name, edits and deletes her message, clears the history; the tab counts unread`, async () => {
  const buyerContext = await browser.newContext(c.view);
  const sellerContext = await browser.newContext(c.view);
  const buyer = await signIn(buyerContext, "buyer-zoe");
  const seller = await signIn(sellerContext, c.seller);

  // Contacts: anyone of her platform, by name, accents folded; not the other platform's users.
  await buyer.page.fill('[data-testid="contact-search"]', c.query);
  const contact = buyer.page.locator('[data-testid="contact"]').filter({ hasText: c.sellerName });
  await contact.waitFor();
  await buyer.page.fill('[data-testid="contact-search"]', "lucia");
  await buyer.page.locator("#contacts li.hint").filter({ hasText: "Nobody by that name." }).waitFor();
  await buyer.page.fill('[data-testid="contact-search"]', c.query);
  await contact.locator('[data-testid="message-contact"]').click();
  await buyer.page.waitForSelector("#chat-window:not([hidden])");
  assert.equal(await buyer.page.textContent("#chat-title"), c.sellerName);
  assert.equal(await buyer.page.textContent("#chat-tag"), "", "not about an order");

  await buyer.page.fill("#body", "Helo, do you ship to Berlin?");
  await buyer.page.click("#composer button[type=submit]");
  const first = buyer.page.locator('#messages li[data-seq="1"]');
  await first.waitFor();
  await buyer.page.fill("#body", "wrong chat, sorry");
  await buyer.page.click("#composer button[type=submit]");
  await buyer.page.locator('#messages li[data-seq="2"]').waitFor();

  // The seller's tab counts what waits for him.
  await seller.page.waitForFunction(() => /^\(\d+\) /.test(document.title));
  // Her untagged conversation (another test may have one about an order with him too).
  const row = seller.page
    .locator('[data-testid="inbox-row"]')
    .filter({ hasText: "Zoë Müller" })
    .filter({ hasNot: seller.page.locator('[data-testid="row-tag"]') });
  await row.locator('[data-testid="unread"]').filter({ hasText: "2" }).waitFor();

  // She fixes the typo and deletes the stray message; the seller sees both live.
  await first.locator('[data-testid="edit"]').click();
  assert.equal(await buyer.page.inputValue("#body"), "Helo, do you ship to Berlin?");
  await buyer.page.fill("#body", "Hello, do you ship to Berlin?");
  await buyer.page.click("#composer button[type=submit]");
  await first.locator(".time").filter({ hasText: "edited" }).waitFor();
  await buyer.page.locator('#messages li[data-seq="2"] [data-testid="delete"]').click();
  await buyer.page.locator('#messages li[data-seq="2"].deleted').waitFor();
  await row.locator('[data-testid="unread"]').filter({ hasText: "1" }).waitFor();
  // The tab's count is every unread message (other tests may have left some for him too).
  const titleCount = () => seller.page.evaluate(() => Number((/^\((\d+)\) /.exec(document.title) || [0, 0])[1]));
  const waiting = await titleCount();
  assert.ok(waiting >= 1, `the tab counts Zoë's message: ${waiting}`);
  await row.click();
  await seller.page.locator("#messages li .body").filter({ hasText: "Hello, do you ship to Berlin?" }).waitFor();
  await seller.page.locator('#messages li[data-seq="2"].deleted').waitFor();
  await seller.page.waitForFunction(
    (expected) => Number((/^\((\d+)\) /.exec(document.title) || [0, 0])[1]) === expected,
    waiting - 1,
  );

  // Archiving moves it out of her inbox into the archived list, and back.
  const mine = buyer.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.sellerName }).filter({ hasNot: buyer.page.locator('[data-testid="row-tag"]') });
  await buyer.page.click("#archive");
  await buyer.page.locator("#archive").filter({ hasText: "Unarchive" }).waitFor();
  await showSidebar(buyer.page);
  await mine.waitFor({ state: "detached" });
  await buyer.page.check("#show-archived");
  await mine.waitFor();
  await mine.click();
  await buyer.page.click("#archive");
  await buyer.page.locator("#archive").filter({ hasText: "Archive" }).waitFor();
  await showSidebar(buyer.page);
  await buyer.page.uncheck("#show-archived");
  await mine.waitFor();
  await mine.click();

  // Clearing hides the history from her only.
  await buyer.page.click('[data-testid="clear"]');
  await buyer.page.waitForFunction(() => document.querySelectorAll("#messages li").length === 0);
  assert.equal(await seller.page.locator("#messages li").count(), 2);
  await buyer.page.screenshot({ path: join(SHOTS, c.shot) });

  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(seller.errors, []);
  assert.deepEqual(buyer.consoleErrors, []);
  assert.equal(await scrollsSideways(buyer.page), false);
  await buyerContext.close();
  await sellerContext.close();
});

const GROUP_CASES = [
  {
    label: "at 1280 px",
    view: { viewport: { width: 1280, height: 800 } },
    owner: "buyer-zoe",
    first: { id: "seller-ines", query: "ines", short: "Inés" },
    second: { id: "seller-renee", query: "renee", short: "Renée" },
    added: { id: "buyer-jose", query: "jose", name: "José Núñez" },
    title: "Scarves & mugs",
    search: "mugs",
    shot: "11-group-of-three.png",
  },
  {
    label: "on a 390 px phone",
    view: PHONE,
    owner: "buyer-ana",
    first: { id: "seller-renee", query: "renee", short: "Renée" },
    second: { id: "buyer-jose", query: "jose", short: "José" },
    added: { id: "buyer-zoe", query: "zoe", name: "Zoë Müller" },
    title: "Lamps & shelves",
    search: "lamps",
    shot: "11b-phone-group-of-three.png",
  },
];

for (const c of GROUP_CASES) test(`${c.label}: a group of three, created from contacts, seen live by its members, who leave`, async () => {
  const contexts = [];
  const open = async (user) => {
    const context = await browser.newContext(c.view);
    contexts.push(context);
    return signIn(context, user);
  };
  const owner = await open(c.owner);
  const first = await open(c.first.id);
  const second = await open(c.second.id);
  // On a phone the open group covers the sidebar: this opens it again.
  const showGroup = async (user) => {
    if (!(await user.page.locator("#chat").isVisible())) {
      await user.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.title }).click();
    }
  };

  for (const member of [c.first, c.second]) {
    await owner.page.fill('[data-testid="contact-search"]', member.query);
    const contact = owner.page.locator('[data-testid="contact"]').filter({ hasText: member.short });
    await contact.locator('[data-testid="add-to-group"]').click();
  }
  assert.equal(await owner.page.locator('[data-testid="group-member"]').count(), 2);
  await owner.page.fill("#group-title", c.title);
  await owner.page.click('[data-testid="create-group"]');
  await owner.page.locator("#chat-title").filter({ hasText: c.title }).waitFor();
  assert.match(await owner.page.textContent("#chat-tag"), /^3 members: you, /);
  await owner.page.fill("#body", "Bundle deal for both of you?");
  await owner.page.click("#composer button[type=submit]");

  // Both members see the group appear in their inbox and the message live.
  for (const member of [first, second]) {
    const row = member.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.title });
    await row.waitFor();
    await row.click();
    await member.page.locator("#messages li .body").filter({ hasText: "Bundle deal" }).waitFor();
    assert.equal(await member.page.locator('[data-testid="block"]').isVisible(), false, "no block button in a group");
  }
  await second.page.fill("#body", "Deal!");
  await second.page.click("#composer button[type=submit]");
  await first.page.locator("#messages li .body").filter({ hasText: "Deal!" }).waitFor();
  // The owner's message shows, live, that both members have it and have read it.
  await owner.page.locator("#messages li.mine .time").filter({ hasText: "✓ 2 · read 2" }).waitFor();
  await owner.page.screenshot({ path: join(SHOTS, c.shot) });

  // The second member leaves: the others see two members left, and the group leaves her inbox.
  await second.page.click('[data-testid="leave"]');
  await second.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.title }).waitFor({ state: "detached" });
  await owner.page.locator("#chat-tag").filter({ hasText: /^2 members: / }).waitFor();
  assert.doesNotMatch(await owner.page.textContent("#chat-tag"), new RegExp(c.second.short));

  // The owner adds someone from contacts while the group is open; they see it in their inbox.
  const added = await open(c.added.id);
  await showSidebar(owner.page);
  await owner.page.fill('[data-testid="contact-search"]', c.added.query);
  await owner.page.locator('[data-testid="contact"]').filter({ hasText: c.added.name }).locator('[data-testid="add-here"]').click();
  await showGroup(owner);
  await owner.page.locator("#chat-tag").filter({ hasText: new RegExp(`^3 members: .*${c.added.name}`) }).waitFor();
  await added.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.title }).waitFor();

  // The owner removes a member; a member sees no remove buttons.
  await first.page.locator("#chat-tag").filter({ hasText: new RegExp(c.added.name) }).waitFor();
  assert.equal(await first.page.locator('[data-testid="remove-member"]').count(), 0, "only the owner removes");
  await owner.page.locator('[data-testid="member"]').filter({ hasText: c.added.name }).locator('[data-testid="remove-member"]').click();
  await owner.page.locator("#chat-tag").filter({ hasText: /^2 members: / }).waitFor();
  await added.page.locator('[data-testid="inbox-row"]').filter({ hasText: c.title }).waitFor({ state: "detached" });

  // Searching the owner's conversations by title narrows the inbox; an empty search brings all back.
  await showSidebar(owner.page);
  const rows = owner.page.locator('[data-testid="inbox-row"]');
  const all = await rows.count();
  assert.ok(all >= 2, `the group and another conversation: ${all}`);
  await owner.page.fill('[data-testid="inbox-search"]', c.search);
  await owner.page.waitForFunction(() => document.querySelectorAll('[data-testid="inbox-row"]').length === 1);
  assert.match(await rows.first().textContent(), new RegExp(c.title));
  await owner.page.fill('[data-testid="inbox-search"]', "");
  await owner.page.waitForFunction((count) => document.querySelectorAll('[data-testid="inbox-row"]').length === count, all);
  assert.equal(await scrollsSideways(owner.page), false);

  for (const user of [owner, first, second]) {
    assert.deepEqual(user.errors, []);
    assert.deepEqual(user.consoleErrors, []);
  }
  for (const context of contexts) await context.close();
});

test("the page recovers from a server restart by itself, and a message sent while it was down arrives once", async () => {
  const buyerContext = await browser.newContext();
  const sellerContext = await browser.newContext();
  const buyer = await signIn(buyerContext, "buyer-ana");
  const seller = await signIn(sellerContext, "seller-renee");
  await buyer.page.click('button[data-order="1002"]');
  await buyer.page.waitForSelector("#chat-window:not([hidden])");
  await buyer.page.fill("#body", "Before the restart: is the bookshelf oak?");
  await buyer.page.click("#composer button[type=submit]");
  const row = seller.page.locator('[data-testid="inbox-row"]').filter({ hasText: "About Order #1002" });
  await row.click();
  await seller.page.locator("#messages li .body").filter({ hasText: "Before the restart" }).waitFor();

  // The server goes away (its tokens with it); the buyer writes anyway.
  await stopServer();
  await buyer.page.locator("#status").filter({ hasText: "reconnecting" }).waitFor();
  await buyer.page.fill("#body", "Sent while the server was down");
  await buyer.page.click("#composer button[type=submit]");
  await buyer.page.locator("#status").filter({ hasText: "retrying" }).waitFor();
  assert.equal(await buyer.page.inputValue("#body"), "", "the queue holds it, not the text box");

  // Back up: both tabs sign in again and reconnect without a reload; the message is stored
  // and shown once on both sides.
  await startServer();
  const offline = (page) => page.locator("#messages li .body").filter({ hasText: "Sent while the server was down" });
  await offline(seller.page).waitFor({ timeout: 60000 });
  await offline(buyer.page).waitFor({ timeout: 60000 });
  for (const page of [buyer.page, seller.page]) {
    await page.waitForFunction(() => document.querySelector("#status").textContent === "live", null, { timeout: 60000 });
  }
  await seller.page.waitForTimeout(500);
  assert.equal(await offline(seller.page).count(), 1, "stored once");
  assert.equal(await offline(buyer.page).count(), 1);
  // And the conversation goes on live.
  await seller.page.fill("#body", "Back online: yes, solid oak.");
  await seller.page.click("#composer button[type=submit]");
  await buyer.page.locator("#messages li .body").filter({ hasText: "Back online" }).waitFor();
  await buyer.page.screenshot({ path: join(SHOTS, "12-after-a-restart.png") });

  assert.deepEqual(buyer.errors, []);
  assert.deepEqual(seller.errors, []);
  // While the server was down: refused connections; right after: the forgotten token's 401
  // before signing in again. Nothing else.
  const downtime = [/ERR_CONNECTION_REFUSED/, /WebSocket connection to .* failed/, /status of 401/];
  assertOnlyExpectedConsoleErrors(buyer.consoleErrors, downtime);
  assertOnlyExpectedConsoleErrors(seller.consoleErrors, downtime);
  await buyerContext.close();
  await sellerContext.close();
});
