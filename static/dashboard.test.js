// Tests of dashboard.js, the parent side of the embedded dashboard's
// credential handshake: run with `node --test static/` (make test-js).
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const source = fs.readFileSync(path.join(__dirname, "dashboard.js"), "utf8");
const ORIGIN = "https://dashboard-embedded.example";

// load runs dashboard.js against a fake page with one dashboard frame.
function load() {
  const posted = [];
  const fetched = [];
  let fetchOK = true;
  const frameWindow = { postMessage: (msg, target) => posted.push({ msg, target }) };
  let listening = false;
  let loadedBeforeListening = false;
  const frame = {
    contentWindow: frameWindow,
    set src(v) { this._src = v; if (!listening) loadedBeforeListening = true; },
    get src() { return this._src; },
    getAttribute: (name) => ({
      "data-dashboard-origin": ORIGIN,
      "data-credentials-url": "/apps/a1/dashboard/credentials",
      "data-src": ORIGIN + "/logs",
    })[name],
  };
  let onMessage = null;
  const context = {
    document: { getElementById: (id) => (id === "convex-dashboard" ? frame : null) },
    window: { addEventListener: (type, fn) => { if (type === "message") { onMessage = fn; listening = true; } } },
    fetch: (url, opts) => {
      fetched.push({ url, opts });
      return Promise.resolve({
        ok: fetchOK,
        json: () => Promise.resolve({ adminKey: "project:t:p|secret", deploymentUrl: "https://d.example", deploymentName: "d" }),
      });
    },
  };
  vm.runInNewContext(source, context);
  assert.ok(onMessage, "no message listener");
  assert.strictEqual(frame.src, ORIGIN + "/logs", "the frame is not loaded");
  assert.ok(!loadedBeforeListening, "the frame was loaded before the listener was in place");
  const send = async (event) => {
    onMessage(event);
    await new Promise((r) => setImmediate(r));
  };
  return { send, posted, fetched, frameWindow, frame, failFetch: () => { fetchOK = false; } };
}

test("answers the frame's request, to the dashboard origin only", async () => {
  const page = load();
  await page.send({ origin: ORIGIN, source: page.frameWindow, data: { type: "dashboard-credentials-request" } });
  assert.strictEqual(page.fetched.length, 1);
  assert.strictEqual(page.fetched[0].opts.method, "POST");
  assert.strictEqual(page.posted.length, 1);
  assert.strictEqual(page.posted[0].target, ORIGIN);
  assert.strictEqual(page.posted[0].msg.type, "dashboard-credentials");
  assert.strictEqual(page.posted[0].msg.adminKey, "project:t:p|secret");
  assert.strictEqual(page.posted[0].msg.deploymentUrl, "https://d.example");
  assert.strictEqual(page.posted[0].msg.deploymentName, "d");
});

test("the answer goes to the embed origin, never to the requester's claimed or a wildcard target", async () => {
  const page = load();
  for (let i = 0; i < 3; i++) {
    await page.send({ origin: ORIGIN, source: page.frameWindow, data: { type: "dashboard-credentials-request" } });
  }
  assert.strictEqual(page.posted.length, 3);
  for (const p of page.posted) assert.strictEqual(p.target, ORIGIN);
});

test("a refused credentials fetch posts nothing", async () => {
  const page = load();
  page.failFetch();
  await page.send({ origin: ORIGIN, source: page.frameWindow, data: { type: "dashboard-credentials-request" } });
  assert.strictEqual(page.fetched.length, 1);
  assert.strictEqual(page.posted.length, 0);
});

test("ignores requests from another origin, another window or of another type", async () => {
  const cases = [
    (p) => ({ origin: "https://evil.example", source: p.frameWindow, data: { type: "dashboard-credentials-request" } }),
    (p) => ({ origin: "https://dashboard-embedded.example.evil", source: p.frameWindow, data: { type: "dashboard-credentials-request" } }),
    (p) => ({ origin: ORIGIN, source: null, data: { type: "dashboard-credentials-request" } }),
    (p) => ({ origin: ORIGIN, source: p.frameWindow, data: "dashboard-credentials-request" }),
    (p) => ({ origin: ORIGIN, source: p.frameWindow, data: { type: "dashboard-credentials" } }),
    (p) => ({ origin: ORIGIN, source: {}, data: { type: "dashboard-credentials-request" } }),
    (p) => ({ origin: ORIGIN, source: p.frameWindow, data: { type: "something-else" } }),
    (p) => ({ origin: ORIGIN, source: p.frameWindow, data: null }),
  ];
  for (const make of cases) {
    const page = load();
    await page.send(make(page));
    assert.strictEqual(page.fetched.length, 0);
    assert.strictEqual(page.posted.length, 0);
  }
});

test("never posts to a wildcard origin", () => {
  assert.ok(!/postMessage\([^)]*["']\*["']/.test(source), "dashboard.js posts to '*'");
});

test("a request with no source is refused even while the frame has no window", async () => {
  const page = load();
  page.frame.contentWindow = null;
  await page.send({ origin: ORIGIN, source: null, data: { type: "dashboard-credentials-request" } });
  assert.strictEqual(page.fetched.length, 0);
});
