// SPDX-License-Identifier: MIT
// Browser test of the chat page: headless Debian chromium driven by playwright-core.
//
//   node chat.test.mjs <path to inngest-host> <screenshot dir>
//
// Starts the host on a free loopback port, opens the page, and checks what a user sees:
// Inngest mode with no Inngest server; then, against a fake OpenAI-compatible model server
// and the executor emulator of tests/conformance (standing in for `inngest dev`), a
// question in direct mode (streamed) and one in Inngest mode, each with numbered sources,
// and a document added from the Knowledge base section. Screenshots go to <screenshot dir>.
// Exit code 0 = pass, 77 = skipped (no chromium or no node_modules; under CI=true that is a
// failure, exit 1), anything else = failure.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";

import { Emulator } from "../conformance/lib/emulator.mjs";

const [hostBin, shotDir = "."] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// A missing prerequisite skips the test on a developer machine; in CI it must be there.
function missing(what) {
  if (process.env.CI === "true") {
    console.log(`e2e: FAILED: ${what} (CI=true: .ci/setup --test installs it)`);
    process.exit(1);
  }
  console.log(`e2e: SKIPPED: ${what}`);
  process.exit(77);
}
if (!existsSync(CHROMIUM)) missing(`no chromium at ${CHROMIUM}`);
const here = path.dirname(new URL(import.meta.url).pathname);
if (!existsSync(path.join(here, "node_modules", "playwright-core", "package.json"))) {
  missing(`npm dependencies are missing; run "npm ci" in ${here}`);
}
const { chromium } = await import("playwright-core");

/** A TCP port nobody listens on right now (used for "Inngest is down"). */
function closedPort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts the host on `port` (0: a free one) and resolves with its base URL once it listens. */
function startHost(env, port = 0) {
  return new Promise((resolve, reject) => {
    const child = spawn(hostBin, ["--host", "127.0.0.1", "--port", String(port)], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    const timer = setTimeout(() => reject(new Error("host did not start:\n" + log)), 10000);
    child.stderr.on("data", (d) => {
      log += d;
      const m = /listening on (http:\/\/[^/\s]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: m[1] });
      }
    });
    child.on("exit", (code) => reject(new Error(`host exited with ${code}:\n${log}`)));
  });
}

/** A fake OpenAI-compatible server: chat completions (plain and streamed) and embeddings.
 * The first streamed answer (and the first after each holdNext()) stops after its first
 * part until release() is called (the test calls it once the page showed that part), so
 * "shown while streaming" is checked on an event, not within a time window. */
function startFakeModel() {
  const ANSWER = ["inngest-c is ", "an Inngest SDK ", "written in C [1]."];
  let release, gate, gated;
  const arm = () => {
    gate = new Promise((r) => (release = r));
    gated = false;
  };
  arm();
  const srv = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", async () => {
      const json = JSON.parse(body || "{}");
      if (req.url.endsWith("/embeddings")) {
        const dim = json.dimensions || 16;
        const data = json.input.map((text, index) => {
          const v = new Array(dim).fill(0);
          v[0] = 1;
          for (const w of text.toLowerCase().split(/\W+/)) if (w) v[[...w].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % dim] += 1;
          return { index, embedding: v };
        });
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({ data, model: json.model }));
      }
      const usage = { prompt_tokens: 120, completion_tokens: 9, total_tokens: 129 };
      if (!json.stream) {
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({
          id: "c1", object: "chat.completion", model: "fake-model",
          choices: [{ index: 0, message: { role: "assistant", content: ANSWER.join("") }, finish_reason: "stop" }], usage,
        }));
      }
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      const hold = !gated;
      gated = true;
      for (const [i, part] of ANSWER.entries()) {
        res.write(`data: ${JSON.stringify({ id: "c1", model: "fake-model", choices: [{ index: 0, delta: { content: part } }] })}\n\n`);
        if (i === 0 && hold) await gate;
        else await new Promise((r) => setTimeout(r, 20));
      }
      res.write(`data: ${JSON.stringify({ id: "c1", model: "fake-model", choices: [], usage })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  return new Promise((resolve) => srv.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${srv.address().port}`,
    release: () => release(),
    holdNext: arm,
    close: () => {
      release();
      return new Promise((r) => srv.close(r));
    },
  })));
}

/** Asks `question` in the current mode and waits for the answer bubble to get its meta line. */
async function ask(page, question) {
  const before = await page.locator(".msg.assistant").count();
  await page.fill("#question", question);
  await page.click("#send");
  const box = page.locator(".msg.assistant").nth(before);
  await box.locator(".meta").waitFor({ timeout: 20000 });
  return box;
}

/** SIGTERM, then wait until the host has exited (it closes its store on the way out). It
 * must end with status 0: a crash or a sanitizer abort at shutdown fails the test. */
function stopHost(h) {
  const fail = (why) => {
    console.error(`host ${h.base}: ${why}`);
    process.exitCode = 1;
  };
  if (h.child.exitCode !== null || h.child.signalCode !== null) {
    fail(`had already exited (${h.child.exitCode ?? h.child.signalCode}) before it was stopped`);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    h.child.removeAllListeners("exit");
    const t = setTimeout(() => {
      fail("did not stop within 10 s of SIGTERM");
      h.child.kill("SIGKILL");
    }, 10000);
    h.child.on("exit", (code, sig) => {
      clearTimeout(t);
      if (sig || code !== 0) fail(`ended with ${sig ? `signal ${sig}` : `status ${code}`}`);
      else console.log(`ok - host ${h.base} stopped cleanly`);
      resolve();
    });
    h.child.kill("SIGTERM");
  });
}

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "inngest-e2e-"));
let host, host2, host3, host4, browser, model, emu;
let releaseRetry = () => {};
try {
  host = await startHost({ INNGEST_DEV: `http://127.0.0.1:${await closedPort()}`,
                           RAG_STORE_PATH: path.join(tmp, "down.db"), OPENAI_API_KEY: "" });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  await page.goto(host.base + "/");
  check((await page.title()) === "inngest-c chat", "the chat page loads");
  await page.waitForFunction(() => document.getElementById("version").textContent.startsWith("v"));
  check(true, "the page shows the host version from /healthz");

  // Inngest mode with no Inngest server: the user is told how to start it.
  await page.check("#use-inngest");
  await page.fill("#question", "What is inngest-c?");
  await page.click("#send");
  const err = page.locator(".msg.error").last();
  await err.waitFor({ timeout: 10000 });
  const text = await err.textContent();
  check(/npx inngest-cli@latest dev/.test(text), "Inngest mode explains how to start the dev server");

  mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: path.join(shotDir, "chat-inngest-down.png"), fullPage: true });
  console.log("screenshot: " + path.join(shotDir, "chat-inngest-down.png"));

  // A host with a model (the fake) and Inngest (the emulator), guarded by HOST_AUTH_TOKEN:
  // everything below (fetches, the answer stream, the run's EventSource, documents) runs
  // on the cookie the sign-in form sets.
  model = await startFakeModel();
  emu = await new Emulator({ timeScale: 0.1, retryDelayMs: 50 }).start();
  const token = "e2e-token-0123456789abcdef";
  host2 = await startHost({
    INNGEST_DEV: emu.url, OPENAI_API_KEY: "sk-e2e", OPENAI_BASE_URL: model.url + "/v1",
    OPENAI_EMBEDDING_DIMENSIONS: "16", RAG_STORE_PATH: path.join(tmp, "chat.db"),
    HOST_AUTH_TOKEN: token,
  });
  const sync = await emu.syncApp(host2.base + "/api/inngest");
  check(sync.response?.status === 200 && emu.functions.has("inngest-c-ai-chat-handle-chat"),
        "the emulator synced the host and sees handle-chat");
  const page2 = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await page2.goto(host2.base + "/");
  check((await page2.locator("form[action='/login'] input[name=token]").count()) === 1,
        "with HOST_AUTH_TOKEN the page asks for the token");
  await page2.fill("input[name=token]", "not-the-token-0123456789");
  await Promise.all([page2.waitForLoadState(), page2.click("button[type=submit]")]);
  check(/not the token/.test(await page2.content()), "a wrong token is refused");
  await page2.fill("input[name=token]", token);
  await Promise.all([page2.waitForURL(host2.base + "/"), page2.click("button[type=submit]")]);
  await page2.locator("#question").waitFor({ timeout: 10000 });
  const cookies = await page2.context().cookies();
  const c = cookies.find((x) => x.name === "inngest_host_token");
  check(c && c.httpOnly && c.sameSite === "Strict", "signing in sets an HttpOnly, SameSite=Strict cookie");

  // Direct mode: tokens arrive one by one, then the sources and the meta line.
  await page2.fill("#question", "What is inngest-c?");
  await page2.click("#send");
  const first = page2.locator(".msg.assistant").first();
  // The model holds the rest of its answer until the page has shown the first part.
  await page2.waitForFunction(() => {
    const t = document.querySelector(".msg.assistant .text");
    return t && t.textContent === "inngest-c is ";
  }, null, { timeout: 30000 });
  check((await first.locator(".meta").count()) === 0, "direct mode shows the answer while it streams");
  model.release();
  await first.locator(".meta").waitFor({ timeout: 10000 });
  check((await first.locator(".text").textContent()) === "inngest-c is an Inngest SDK written in C [1].",
        "direct mode shows the whole answer");
  const srcs = await first.locator(".sources li").allTextContents();
  check(srcs.length > 0 && srcs[0].startsWith("[1]"), "direct mode shows numbered sources: " + srcs[0]);
  const meta1 = await first.locator(".meta").textContent();
  check(/^direct · fake-model · \d+\.\d\d s/.test(meta1), "direct mode shows mode, model and latency: " + meta1);

  // Inngest mode: handle-chat runs on the emulator, which calls the fake model (ai.infer).
  await page2.check("#use-inngest");
  const second = await ask(page2, "How does the host stream results?");
  const cls = await second.getAttribute("class");
  check(!/error/.test(cls), "Inngest mode answers without an error: " + (await second.textContent()).slice(0, 200));
  check((await second.locator(".text").textContent()).includes("written in C [1]."), "Inngest mode shows the answer");
  const srcs2 = await second.locator(".sources li").allTextContents();
  check(srcs2.length > 0 && srcs2[0].startsWith("[1]"), "Inngest mode shows numbered sources: " + srcs2[0]);
  const meta2 = await second.locator(".meta").textContent();
  check(/^inngest · .*\d+\.\d\d s · run /.test(meta2), "Inngest mode shows mode, latency and run: " + meta2);

  // The knowledge base: paste a document, see it listed.
  await page2.click("#docs summary");
  await page2.fill("#doc-title", "Tea notes");
  await page2.fill("#doc-text", "# Tea notes\n\nGreen tea is brewed at 80 degrees.");
  await page2.click("#doc-add");
  await page2.locator("#doc-jobs .ok").waitFor({ timeout: 10000 });
  check(/added \(1 chunks\)/.test(await page2.locator("#doc-jobs").textContent()), "a pasted document is added");
  await page2.locator("#doc-list td", { hasText: "pasted:Tea notes" }).waitFor({ timeout: 5000 });
  check(true, "the document list shows it");
  await page2.click("#docs summary"); // closed again, so the chat fills the screenshot
  await page2.screenshot({ path: path.join(shotDir, "chat-answers.png"), fullPage: true });
  console.log("screenshot: " + path.join(shotDir, "chat-answers.png"));
  await page2.click("#docs summary");
  await page2.screenshot({ path: path.join(shotDir, "chat-documents.png"), fullPage: true });
  console.log("screenshot: " + path.join(shotDir, "chat-documents.png"));

  // Inngest mode with CHAT_GENERATE_MODE=run: the host generates the answer in a durable
  // step and the page shows its tokens as they come, then the saved result.
  host3 = await startHost({
    INNGEST_DEV: emu.url, OPENAI_API_KEY: "sk-e2e", OPENAI_BASE_URL: model.url + "/v1",
    OPENAI_EMBEDDING_DIMENSIONS: "16", RAG_STORE_PATH: path.join(tmp, "chat-run.db"),
    CHAT_GENERATE_MODE: "run",
  });
  const sync3 = await emu.syncApp(host3.base + "/api/inngest");
  check(sync3.response?.status === 200, "the emulator synced the run-mode host");
  const page3 = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await page3.goto(host3.base + "/");
  await page3.check("#use-inngest");
  model.holdNext();
  await page3.fill("#question", "What is inngest-c?");
  await page3.click("#send");
  const third = page3.locator(".msg.assistant").first();
  await page3.waitForFunction(() => {
    const t = document.querySelector(".msg.assistant .text");
    return t && t.textContent === "inngest-c is ";
  }, null, { timeout: 30000 });
  check((await third.locator(".meta").count()) === 0, "Inngest run mode shows the answer while it is generated");
  model.release();
  await third.locator(".meta").waitFor({ timeout: 20000 });
  check((await third.locator(".text").textContent()) === "inngest-c is an Inngest SDK written in C [1].",
        "Inngest run mode ends with the saved answer");
  const meta3 = await third.locator(".meta").textContent();
  check(/^inngest · .*run /.test(meta3), "Inngest run mode shows mode and run: " + meta3);

  // The host dies in the middle of an answer. The executor's retry waits (held by the
  // emulator) until a new host is up on the same port and store; the page reconnects to
  // it by itself and shows the answer the new host generates, then the saved result.
  const retryHeld = new Promise((r) => (releaseRetry = r));
  emu.holdCall = (run, item) => (item.attempt > 0 ? retryHeld : undefined);
  model.holdNext();
  await page3.fill("#question", "What happens when the host restarts?");
  await page3.click("#send");
  // The second answer box ("msg assistant", or "msg error" once it failed).
  const fourth = page3.locator("#log > .msg:not(.user)").nth(1);
  await page3.waitForFunction(() => {
    const t = document.querySelectorAll("#log > .msg:not(.user)")[1]?.querySelector(".text");
    return t && t.textContent === "inngest-c is ";
  }, null, { timeout: 30000 });
  const port = new URL(host3.base).port;
  host3.child.removeAllListeners("exit");
  const killed = new Promise((r) => host3.child.once("exit", r));
  host3.child.kill("SIGKILL");
  await Promise.race([killed, new Promise((_, rej) => setTimeout(() => rej(new Error("host did not die")), 10000))]);
  host3 = null;
  host4 = await startHost({
    INNGEST_DEV: emu.url, OPENAI_API_KEY: "sk-e2e", OPENAI_BASE_URL: model.url + "/v1",
    OPENAI_EMBEDDING_DIMENSIONS: "16", RAG_STORE_PATH: path.join(tmp, "chat-run.db"),
    CHAT_GENERATE_MODE: "run",
  }, port);
  check(host4.base.endsWith(":" + port), "a new host listens on the killed host's port");
  releaseRetry();
  await page3.waitForFunction(() => {  // the answer's meta line, or an error
    const b = document.querySelectorAll("#log > .msg:not(.user)")[1];
    return b && (b.querySelector(".meta") || b.classList.contains("error"));
  }, null, { timeout: 30000 });
  check(!/error/.test(await fourth.getAttribute("class")) &&
        (await fourth.locator(".text").textContent()) === "inngest-c is an Inngest SDK written in C [1].",
        "after a host restart mid-answer the page reconnects and shows the whole answer: " +
        (await fourth.textContent()).slice(0, 200));
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  releaseRetry();
  if (browser) await browser.close();
  await Promise.all([host, host2, host3, host4].filter(Boolean).map(stopHost));
  if (emu) await emu.stop();
  if (model) await model.close();
  rmSync(tmp, { recursive: true, force: true });
}
