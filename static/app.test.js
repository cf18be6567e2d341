// Tests of app.js's Copy button on the env setup panel: run with
// `node --test static/` (make test-js).
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const source = fs.readFileSync(path.join(__dirname, "app.js"), "utf8");
const KEY = "project:acme:tic-tac-toe|secret";
const MESSAGE = "Copied, including your deploy key.";

// element is a fake DOM element with attributes.
function element(attrs, props) {
  return Object.assign({
    textContent: "",
    getAttribute: (name) => (name in attrs ? attrs[name] : null),
    hasAttribute: (name) => name in attrs,
    closest(selector) {
      const m = /^\[([a-z-]+)\]$/.exec(selector);
      return m && m[1] in attrs ? this : null;
    },
  }, props);
}

// envLines is the <pre> of .env.local lines, one text node and a <br> each.
function envLines(key) {
  const lines = ["CONVEX_DEPLOYMENT=dev:d", "VITE_CONVEX_URL=https://d.example", "CONVEX_DEPLOY_KEY=" + key];
  const childNodes = [];
  for (const l of lines) {
    childNodes.push({ nodeName: "#text", textContent: "\n\t\t\t\t" + l + "\n\t\t\t\t" });
    childNodes.push({ nodeName: "BR", textContent: "" });
  }
  return element({}, { childNodes });
}

// panel is the env setup as EnvPanel renders it: masked or revealed.
function panel(dom, revealed) {
  const buttonAttrs = {
    "data-copy-target": "#env-lines-a1",
    "data-copy-status": "#copy-status-a1",
    "data-copy-message": MESSAGE,
  };
  if (!revealed) {
    buttonAttrs["data-copy-reveal-url"] = "/apps/a1/deploy-key";
    buttonAttrs["data-copy-reveal-target"] = "#env-a1";
  }
  dom["#env-lines-a1"] = envLines(revealed ? KEY : "••••••••••••••••••••");
  dom["#copy-status-a1"] = element({});
  dom.button = element(buttonAttrs, { textContent: "Copy" });
  return dom.button;
}

// load runs app.js against a fake page; reveal says whether the reveal call
// succeeds (its answer, the revealed panel, is swapped in).
function load({ revealed = false, reveal = true } = {}) {
  const dom = {};
  const button = panel(dom, revealed);
  const ajax = [];
  const copied = [];
  const handlers = {};
  const context = {
    document: {
      addEventListener: (type, fn) => { handlers[type] = fn; },
      querySelector: (selector) => dom[selector] || null,
    },
    navigator: { clipboard: { writeText: (text) => { copied.push(text); return Promise.resolve(); } } },
    htmx: {
      ajax: (verb, url, ctx) => {
        ajax.push({ verb, url, ctx });
        if (reveal) panel(dom, true);
        return Promise.resolve();
      },
    },
    setTimeout: () => 0,
  };
  context.window = context;
  vm.runInNewContext(source, context);
  const click = async () => {
    handlers.click({ target: button });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { click, ajax, copied, dom };
}

test("copying a masked panel reveals the key through the audited reveal call, then copies it", async () => {
  const page = load();
  await page.click();
  assert.deepStrictEqual(page.ajax.map((a) => [a.verb, a.url, a.ctx && a.ctx.target, a.ctx && a.ctx.swap]),
    [["POST", "/apps/a1/deploy-key", "#env-a1", "outerHTML"]]);
  assert.strictEqual(page.copied.length, 1);
  assert.ok(!page.copied[0].includes("•"), "masked bullets were copied: " + page.copied[0]);
  assert.ok(page.copied[0].includes("CONVEX_DEPLOY_KEY=" + KEY + "\n"), page.copied[0]);
  assert.strictEqual(page.dom["#copy-status-a1"].textContent, MESSAGE);
});

test("never copies the masked bullets, even when the reveal fails", async () => {
  const page = load({ reveal: false });
  await page.click();
  assert.strictEqual(page.copied.length, 0, "copied: " + page.copied.join());
  assert.notStrictEqual(page.dom["#copy-status-a1"].textContent, MESSAGE);
});

test("a revealed panel copies at once, saying the key is included", async () => {
  const page = load({ revealed: true });
  await page.click();
  assert.strictEqual(page.ajax.length, 0);
  assert.strictEqual(page.copied.length, 1);
  assert.ok(page.copied[0].includes("CONVEX_DEPLOY_KEY=" + KEY), page.copied[0]);
  assert.strictEqual(page.dom["#copy-status-a1"].textContent, MESSAGE);
});
