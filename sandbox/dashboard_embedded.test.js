// Tests of dashboard_embedded.js, the sandbox's embeddable dashboard side of
// the credential exchange (CONTRACT §2.4): run with `make test-js`.
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const source = fs.readFileSync(path.join(__dirname, "dashboard_embedded.js"), "utf8");

function element() {
  return {
    textContent: "", hidden: true, attrs: {}, children: [],
    setAttribute(k, v) { this.attrs[k] = v; },
    appendChild(c) { this.children.push(c); },
  };
}

// load runs the script in a fake framed page; framed=false runs it on top.
function load({ framed = true, fetchStatus = 200, env = { B: "secret-b", A: "secret-a" } } = {}) {
  const els = {};
  for (const id of ["sandbox-embed-status", "sandbox-embed-deployment", "sandbox-embed-deployment-url", "sandbox-embed-env", "sandbox-embed-no-env", "sandbox-embed-signed-in"]) {
    els[id] = element();
  }
  const requests = [];
  const fetched = [];
  const parent = { postMessage: (msg, target) => requests.push({ msg, target }) };
  let onMessage = null;
  const window = { addEventListener: (type, fn) => { if (type === "message") onMessage = fn; } };
  window.parent = framed ? parent : window;
  const context = {
    window,
    document: {
      querySelector: (sel) => els[(/data-testid=([\w-]+)/.exec(sel) || [])[1]] || null,
      createElement: () => element(),
    },
    fetch: (url, opts) => {
      fetched.push({ url, opts });
      return Promise.resolve({ ok: fetchStatus === 200, status: fetchStatus, json: () => Promise.resolve({ environmentVariables: env }) });
    },
  };
  vm.runInNewContext(source, context);
  const send = async (event) => {
    onMessage(event);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  return { els, requests, fetched, parent, send };
}

const creds = { type: "dashboard-credentials", adminKey: "dev:d|key", deploymentUrl: "https://d.example/", deploymentName: "d" };

test("asks the parent once, to *", () => {
  const page = load();
  assert.deepStrictEqual(page.requests.map((r) => [r.msg.type, r.target]), [["dashboard-credentials-request", "*"]]);
  assert.strictEqual(Object.keys(page.requests[0].msg).length, 1);
});

test("asks nothing when not framed", () => {
  const page = load({ framed: false });
  assert.strictEqual(page.requests.length, 0);
});

test("signs in with the parent's credentials and lists names, never values", async () => {
  const page = load();
  await page.send({ source: page.parent, data: creds });
  assert.strictEqual(page.fetched.length, 1);
  assert.strictEqual(page.fetched[0].url, "https://d.example/api/v1/list_environment_variables");
  assert.strictEqual(page.fetched[0].opts.headers.Authorization, "Convex dev:d|key");
  assert.strictEqual(page.els["sandbox-embed-status"].attrs["data-signed-in"], "true");
  assert.strictEqual(page.els["sandbox-embed-deployment"].textContent, "d");
  assert.deepStrictEqual(page.els["sandbox-embed-env"].children.map((c) => c.textContent), ["A", "B"]);
  assert.ok(!JSON.stringify(page.els).includes("secret-"), "a value is shown");
  assert.ok(!JSON.stringify(page.els).includes("dev:d|key"), "the key is shown");
  // A second message changes nothing.
  await page.send({ source: page.parent, data: { ...creds, deploymentName: "other" } });
  assert.strictEqual(page.fetched.length, 1);
});

test("refuses messages not from its parent, of another type or malformed", async () => {
  const cases = [
    (p) => ({ source: {}, data: creds }),
    (p) => ({ source: null, data: creds }),
    (p) => ({ source: p.parent, data: { ...creds, type: "dashboard-credentials-request" } }),
    (p) => ({ source: p.parent, data: null }),
    (p) => ({ source: p.parent, data: { ...creds, deploymentUrl: "javascript:alert(1)" } }),
    (p) => ({ source: p.parent, data: { ...creds, adminKey: 42 } }),
  ];
  for (const make of cases) {
    const page = load();
    await page.send(make(page));
    assert.strictEqual(page.fetched.length, 0);
    assert.notStrictEqual(page.els["sandbox-embed-status"].attrs["data-signed-in"], "true");
  }
});

test("says so when the deployment refuses the key", async () => {
  const page = load({ fetchStatus: 401 });
  await page.send({ source: page.parent, data: creds });
  assert.strictEqual(page.els["sandbox-embed-status"].attrs["data-signed-in"], "false");
  assert.strictEqual(page.els["sandbox-embed-status"].textContent, "The credentials were refused.");
  assert.strictEqual(page.els["sandbox-embed-signed-in"].hidden, true);
});
