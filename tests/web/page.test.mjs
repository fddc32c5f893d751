// End-to-end test of the page of `antwort serve` in headless Chromium, driven by playwright-core.
//
//   node --test tests/web/page.test.mjs        (scripts/test-web installs what it needs first)
//
// Environment:
//   ANTWORT_BIN        the binary (default target/release/antwort)
//   ANTWORT_INDEX      the index directory; built with `antwort index` when it holds no index
//                      (default target/web-test/index)
//   CHROMIUM           the browser (default /usr/bin/chromium, Debian's package)
//   UPDATE_SCREENSHOT  1: copy answers.png to docs/page.png
//
// Screenshots go to target/web-screenshots/. The server is started on port 0 and always stopped
// (SIGTERM), the browser always closed, also when a check fails; the whole run has a time limit.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = resolve(ROOT, process.env.ANTWORT_BIN || "target/release/antwort");
const INDEX = resolve(ROOT, process.env.ANTWORT_INDEX || "target/web-test/index");
const SHOTS = join(ROOT, "target", "web-screenshots");
const LIMIT_MS = 120_000;
const STEP_MS = 20_000;

// Questions the bundled corpus (generative-AI interview questions) does and does not answer;
// the off-topic one was checked against /v1/ask to come back with `confident: false`.
const ON_TOPIC = "Was ist LoRA?";
const OFF_TOPIC = "Wie hoch ist der Eiffelturm?";
const PAIRS = 36;

let server; // the child process
let serverLog = "";
let origin; // http://127.0.0.1:PORT
let browser;
let page;
const requests = []; // every URL the page asked for
const consoleErrors = []; // console errors and uncaught exceptions

function stopServer() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill("SIGTERM");
}
// Last resort: whatever happens to this process, the server does not outlive it.
process.on("exit", stopServer);
// The suite has LIMIT_MS; should its hooks hang past that, this stops everything and fails.
const watchdog = setTimeout(() => {
  console.error(`page.test: over ${LIMIT_MS / 1000} s, stopping`);
  stopServer();
  if (browser) browser.close().catch(() => {});
  process.exit(1);
}, LIMIT_MS + 15_000);
watchdog.unref();

function buildIndexIfNeeded() {
  if (existsSync(join(INDEX, "CURRENT"))) return;
  mkdirSync(dirname(INDEX), { recursive: true });
  const run = spawnSync(BIN, ["--index", INDEX, "index"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(run.status, 0, `antwort index failed:\n${run.stderr}`);
}

// Starts `antwort serve` on port 0 and resolves with the address it prints once it listens.
function startServer() {
  return new Promise((resolveAddress, reject) => {
    server = spawn(BIN, ["--index", INDEX, "serve", "--addr", "127.0.0.1:0", "--reload-ms", "100"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const timer = setTimeout(() => reject(new Error(`server did not listen in 30 s:\n${serverLog}`)), 30_000);
    server.stderr.setEncoding("utf8");
    server.stderr.on("data", (chunk) => {
      serverLog += chunk;
      const found = serverLog.match(/ at (http:\/\/127\.0\.0\.1:\d+)\//);
      if (found) {
        clearTimeout(timer);
        resolveAddress(found[1]);
      }
    });
    server.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    server.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${serverLog}`));
    });
  });
}

async function api(path) {
  const response = await fetch(origin + path);
  assert.equal(response.status, 200, `GET ${path}`);
  return response.json();
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

// Focuses the search box with `/`, types `query` with the keyboard and presses Enter.
async function askByKeyboard(query) {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.id), "query", "`/` focuses the search box");
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(query);
  assert.equal(await page.inputValue("#query"), query, "the `/` is not typed into the box");
  await page.keyboard.press("Enter");
}

async function visible(selector) {
  await page.locator(selector).waitFor({ state: "visible", timeout: STEP_MS });
}

async function hidden(selector) {
  await page.locator(selector).waitFor({ state: "hidden", timeout: STEP_MS });
}

function foreignRequests() {
  return requests.filter((url) => !url.startsWith(origin + "/") && !/^(data|blob|about):/.test(url));
}

describe("antwort serve: the page", { timeout: LIMIT_MS }, () => {
  before(async () => {
    assert.ok(existsSync(BIN), `no binary at ${BIN} (cargo build --release)`);
    mkdirSync(SHOTS, { recursive: true });
    buildIndexIfNeeded();
    origin = await startServer();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      // No sandbox (root); and nothing of Chromium's own traffic to the outside (closed network).
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, locale: "de-DE" });
    context.setDefaultTimeout(STEP_MS);
    context.on("request", (request) => requests.push(request.url()));
    page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(`console: ${message.text()} (${message.location().url})`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`exception: ${error.message}`));
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((done) => server.once("exit", done));
      server.kill("SIGTERM");
      const late = setTimeout(() => server.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(late);
    }
    clearTimeout(watchdog);
  });

  it("answers a question typed with the keyboard, with highlights", async () => {
    const response = await page.goto(origin + "/");
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), "antwort");
    await askByKeyboard(ON_TOPIC);
    await page.locator("#results li.hit").first().waitFor();
    const first = (await page.locator("#results li.hit .question a[data-pair]").first().textContent()).trim();
    assert.match(first, /LoRA/, "the best answer is about LoRA");
    assert.ok((await page.locator("#results li.hit").count()) >= 1);
    assert.ok((await page.locator("#results .excerpt mark").count()) > 0, "an excerpt has a <mark>");
    assert.notEqual((await page.locator("#results li.hit .meta").first().textContent()).trim(), "");
    assert.match(await page.textContent("#status"), /Antworten/);
    assert.equal(new URL(page.url()).searchParams.get("q"), ON_TOPIC, "the question is in the address");
    await shot("answers.png");
    if (process.env.UPDATE_SCREENSHOT === "1") copyFileSync(join(SHOTS, "answers.png"), join(ROOT, "docs", "page.png"));
    assert.deepEqual(consoleErrors, [], "no console errors");
    assert.deepEqual(foreignRequests(), [], "no request to another host");
    assert.ok(requests.includes(origin + "/app.js") && requests.includes(origin + "/app.css"));
  });

  it("opens a 'see also' pair", async () => {
    const link = page.locator("#see-also ul a[data-pair]").first();
    await link.waitFor();
    const label = (await link.textContent()).trim();
    const id = await link.getAttribute("data-pair");
    await link.click();
    await visible("#pair");
    const question = (await page.textContent("#pair h2")).trim();
    assert.notEqual(question, "");
    assert.equal(question, label, "the panel shows the linked question");
    assert.equal(question, (await api(`/v1/pairs/${encodeURIComponent(id)}`)).question);
    assert.notEqual((await page.textContent("#pair .answer")).trim(), "", "the panel shows an answer");
    assert.ok((await page.locator("#pair .related a[data-pair]").count()) > 0, "related questions");
    await shot("pair.png");
  });

  it("closes with Escape and opens the topic map, whose points open their pair", async () => {
    await page.keyboard.press("Escape");
    await hidden("#pair");
    await page.click("#show-map");
    await visible("#map");
    await page.waitForFunction((n) => document.querySelectorAll("#map-canvas circle").length === n, PAIRS, {
      timeout: STEP_MS,
    });
    assert.equal(await page.locator("#map-canvas circle[data-pair]").count(), PAIRS);
    assert.ok((await page.locator("#map .legend span").count()) > 0, "the map has a legend");
    assert.match(await page.textContent("#status"), /Antworten/, "the map leaves the answer's status line");
    await shot("map.png");
    // A point that nothing covers at its centre, so a real click hits it.
    const target = await page.evaluate(() => {
      for (const dot of document.querySelectorAll("#map-canvas circle[data-pair]")) {
        dot.scrollIntoView({ block: "center" });
        const box = dot.getBoundingClientRect();
        const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
        if (document.elementFromPoint(x, y) === dot) {
          return { id: dot.dataset.pair, label: dot.getAttribute("aria-label"), x, y };
        }
      }
      return null;
    });
    assert.ok(target, "some point of the map can be clicked");
    const pair = await api(`/v1/pairs/${encodeURIComponent(target.id)}`);
    assert.equal(target.label, pair.question, "a point is labelled with its question");
    await page.mouse.click(target.x, target.y);
    await visible("#pair");
    await page.waitForFunction((q) => document.querySelector("#pair h2").textContent === q, pair.question, {
      timeout: STEP_MS,
    });
    assert.equal((await page.textContent("#pair .answer")).trim(), pair.answer.trim());
  });

  it("says so when the corpus does not answer", async () => {
    await askByKeyboard(OFF_TOPIC);
    await page.waitForFunction(() => /no confident answer/.test(document.querySelector("#status").textContent), null, {
      timeout: STEP_MS,
    });
    assert.ok(await page.locator("#status").evaluate((e) => e.classList.contains("weak")));
    assert.ok((await page.locator("#results li.hit").count()) > 0, "the nearest hits are still shown");
    assert.ok(await page.locator("#see-also").isHidden(), "no 'see also' for a question without answer");
  });

  it("explains the ranking and shows timings", async () => {
    await page.check("#explain");
    await askByKeyboard(ON_TOPIC);
    await visible("#timings");
    assert.match(await page.textContent("#timings"), /^Zeiten \(ms\): \S/);
    const hits = await page.locator("#results li.hit").count();
    assert.ok(hits > 0);
    assert.equal(await page.locator("#results li.hit .explain").count(), hits, "an explain line per hit");
    assert.match(await page.locator("#results li.hit .explain").first().textContent(), /fused \d/);
  });

  it("fits a narrow screen without horizontal scrolling", async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    // Wide content on screen: results with explain lines, timings, the pair and the map.
    await page.click("#show-map");
    await visible("#map");
    await page.evaluate(() => window.scrollTo(0, 0));
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.scrollingElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    assert.ok(scrollWidth <= innerWidth + 1, `page is ${scrollWidth} px wide on a ${innerWidth} px screen`);
    await shot("narrow.png");
  });

  it("made no console error and no request to another host", () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(foreignRequests(), []);
    assert.ok(requests.some((url) => url.startsWith(origin + "/v1/ask")), "the page asked the API");
  });
});
