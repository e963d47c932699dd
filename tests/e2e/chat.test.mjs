// SPDX-License-Identifier: MIT
// Browser test of the chat page: headless Debian chromium driven by playwright-core.
//
//   node chat.test.mjs <path to inngest-host> <screenshot dir>
//
// Starts the host on a free loopback port, opens the page, and checks what a user sees.
// Exit code 0 = pass, 77 = skipped (no chromium), anything else = failure.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

const [hostBin, shotDir = "."] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) {
  console.log(`skipped: no chromium at ${CHROMIUM}`);
  process.exit(77);
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

/** Starts the host on port 0 and resolves with its base URL once it listens. */
function startHost(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(hostBin, ["--host", "127.0.0.1", "--port", "0"], {
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

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

let host, browser;
try {
  host = await startHost({ INNGEST_DEV: `http://127.0.0.1:${await closedPort()}` });
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
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  if (host) host.child.kill("SIGTERM");
}
