// SPDX-License-Identifier: MIT
// A durable chat answer across host processes, with the executor emulator of
// tests/conformance standing in for Inngest and handle-chat in CHAT_GENERATE_MODE=run.
//
//   node chat_hosts.test.mjs <inngest-host> restart [--checkpointing on|off] [--out DIR]
//   node chat_hosts.test.mjs <inngest-host> replicas --pg-url URL|--pg-url-file FILE [--out DIR]
//
// restart: the answer survives a host restart mid-run. The fake model stops after the
// first piece of its answer and holds the rest; once that piece has reached the page's
// stream on host A, host A is killed (SIGKILL). The emulator sees the call fail and
// schedules its retry, which it holds until host B, a new process on the same port and the
// same RAG store, is up and a stream on B follows the run. Then the retry goes to B, which
// resumes from the saved steps (retrieve-context is not run again) and generates the
// answer again; the stream on B carries it as deltas, then the result, and B's poll route
// answers it too.
//
// replicas: two hosts on one PostgreSQL database (a database of its own on the server of
// URL, dropped at the end). The run goes to host A; a stream on host B gets the answer's
// deltas while A generates it (the first one while the model still holds the rest), then
// the result.
//
// Every wait is bounded, and a watchdog ends the test (and with it every child process:
// lib/proc.mjs kills them on exit) before CTest's timeout would.
// Exit code 0 = pass, anything else = failure.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { Emulator } from "../conformance/lib/emulator.mjs";
import { startFakeOpenAI } from "../conformance/lib/fake-openai.mjs";
import { request, tryJson } from "../conformance/lib/http.mjs";
import { startApp } from "../conformance/lib/proc.mjs";

const argv = process.argv.slice(2);
const [hostBin, scenario] = argv;
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const checkpointing = opt("--checkpointing", "on");
const pgUrlFile = opt("--pg-url-file", null);
const pgUrl = opt("--pg-url", null) ?? (pgUrlFile && fs.readFileSync(pgUrlFile, "utf8").trim());
if (!hostBin || !["restart", "replicas"].includes(scenario) || !["on", "off"].includes(checkpointing) ||
    (scenario === "replicas" && !pgUrl)) {
    console.error("usage: chat_hosts.test.mjs <inngest-host> restart [--checkpointing on|off] [--out DIR]\n" +
                  "       chat_hosts.test.mjs <inngest-host> replicas --pg-url URL|--pg-url-file FILE [--out DIR]");
    process.exit(2);
}
const WATCHDOG_MS = 100000; // below the CTest TIMEOUT (120 s)
const WAIT_MS = 30000; // the longest any single wait may take
const watchdog = setTimeout(() => {
    console.error(`chat_hosts ${scenario}: FAILED: still running after ${WATCHDOG_MS} ms`);
    process.exit(1); // lib/proc.mjs kills the hosts on exit
}, WATCHDOG_MS);

const sha1 = (s) => crypto.createHash("sha1").update(s).digest("hex");
const RETRIEVE = sha1("retrieve-context");
const GENERATE = sha1("generate-response");

function check(cond, what) {
    if (!cond) throw new Error("check failed: " + what);
    console.log("ok - " + what);
}

/** `promise`, or a rejection naming `what` after `ms`. */
function within(promise, what, ms = WAIT_MS) {
    let timer;
    const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Follows a Server-Sent Events URL; every event is kept in `events` ({event, data}). */
function openEvents(url) {
    const s = { events: [], status: null, ended: null, waiters: new Set() };
    const wake = () => s.waiters.forEach((w) => w());
    const u = new URL(url);
    s.req = http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false,
                       headers: { Accept: "text/event-stream" } }, (res) => {
        s.status = res.statusCode;
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
            buf += d;
            for (let i; (i = buf.indexOf("\n\n")) >= 0;) {
                const block = buf.slice(0, i);
                buf = buf.slice(i + 2);
                const ev = /^event: (.*)$/m.exec(block)?.[1];
                const data = /^data: (.*)$/m.exec(block)?.[1];
                if (ev) s.events.push({ event: ev, data: tryJson(data) });
            }
            wake();
        });
        res.on("end", () => {
            s.ended ??= "end";
            wake();
        });
        res.on("error", (e) => {
            s.ended ??= e.message;
            wake();
        });
    });
    s.req.on("error", (e) => {
        s.ended ??= e.message;
        wake();
    });
    /** Resolves with the first event for which pred holds; rejects when the stream ends
     * without one or after WAIT_MS. */
    s.waitFor = (pred, what) => within(new Promise((resolve, reject) => {
        const look = () => {
            const hit = s.events.find(pred);
            if (hit || s.ended) {
                s.waiters.delete(look);
                if (hit) resolve(hit);
                else reject(new Error(`the stream ended (${s.ended}) without ${what}`));
            }
        };
        s.waiters.add(look);
        look();
    }), what);
    /** Resolves once the stream has ended (the server closed it or went away). */
    s.waitEnd = (what) => within(new Promise((resolve) => {
        const look = () => s.ended && (s.waiters.delete(look), resolve(s.ended));
        s.waiters.add(look);
        look();
    }), what);
    s.close = () => s.req.destroy();
    return s;
}

/** Resolves once `child` has exited (at once when it has). */
function exited(child) {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once("exit", resolve));
}

const out = opt("--out", null);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inngest-hosts-"));
const logDir = out || tmp;
if (out) fs.rmSync(out, { recursive: true, force: true }); // the logs of this run only
fs.mkdirSync(logDir, { recursive: true });
const tag = scenario === "restart" ? `restart-${checkpointing}` : "replicas";
const logFile = path.join(logDir, `${tag}.host.log`);
// The question starts with "hold:<token>": the fake model holds its first answer.
const token = tag;
const question = `hold:${token} what happens when the host restarts?`;
const answer = `echo: ${question}`;
let model, emu, hostA, hostB, streamA, streamB, database;
let releaseRetry = () => {};
const retryHeld = new Promise((r) => (releaseRetry = r));

/** Runs SQL on the maintenance database of the PostgreSQL server of --pg-url. */
function psql(sql) {
    const u = new URL(pgUrl);
    u.pathname = "/postgres";
    const r = spawnSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", u.toString(), "-c", sql],
                        { encoding: "utf8", timeout: WAIT_MS });
    if (r.status !== 0) throw new Error(`psql ${sql}: ${r.error?.message || r.stderr}`);
}

/** Sends the question through `base`'s chat route; resolves with the event id. */
async function ask(base) {
    const sent = await request("POST", `${base}/api/chat/inngest`, {
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: question }], sessionId: "hosts" }),
        timeoutMs: WAIT_MS,
    });
    const eventId = tryJson(sent.body)?.eventId;
    check(sent.status === 202 && typeof eventId === "string", `the host sent the chat event: ${sent.body}`);
    return eventId;
}

const streamUrl = (base, eventId) => `${base}/api/chat/inngest/stream?eventId=${encodeURIComponent(eventId)}`;
const baseOf = (h) => new URL(h.url).origin.replace("localhost", "127.0.0.1");

/** The deltas of a stream before `result`, and the text they make since the last restart. */
function previewOf(stream, result) {
    const upTo = result ? stream.events.indexOf(result) : stream.events.length;
    const deltas = stream.events.slice(0, upTo).filter((e) => e.event === "delta");
    const lastRestart = deltas.map((d) => !!d.data?.restart).lastIndexOf(true);
    return { deltas, text: deltas.slice(Math.max(lastRestart, 0)).map((d) => d.data?.text ?? "").join("") };
}

async function restart(env) {
    hostA = await startApp({ cmd: hostBin, args: ["--host", "127.0.0.1", "--port", "0"], env, logFile });
    const port = new URL(hostA.url).port;
    const base = baseOf(hostA);
    const sync = await emu.syncApp(hostA.url);
    check(sync.response?.status === 200, `the emulator synced host A (checkpointing ${checkpointing})`);
    const eventId = await ask(base);
    streamA = openEvents(streamUrl(base, eventId));

    await within(model.held(token), "the model to start its answer");
    const first = await streamA.waitFor((e) => e.event === "delta", "a delta on host A");
    check(first.data?.text === "echo: ", `host A streamed the first piece of the answer: ${JSON.stringify(first.data)}`);
    const run = emu.runsForEvent(eventId)[0];
    check(run && run.steps[RETRIEVE] && !run.steps[GENERATE],
          "retrieve-context is saved and generate-response is not, while the answer is being generated");

    // Kill host A in the middle of generate-response.
    hostA.child.kill("SIGKILL");
    await within(exited(hostA.child), "host A to exit after SIGKILL");
    await hostA.stop(); // already gone: just forgets the child
    hostA = null;
    const retry = await emu.when(run, "retry", (e) => e.attempt === 1, WAIT_MS);
    check(retry.stepId === "step", "the executor saw the call fail and scheduled a retry (held back)");
    await streamA.waitEnd("host A's stream to end");
    check(!streamA.events.some((e) => e.event === "result"), "host A's stream ended without a result");

    // Host B: a new process on the same port and store. Its stream follows the run before
    // the retry is let go, so it sees the answer generated again.
    hostB = await startApp({ cmd: hostBin, args: ["--host", "127.0.0.1", "--port", port], env, logFile });
    check(new URL(hostB.url).port === port, `host B listens on the same port ${port}`);
    streamB = openEvents(streamUrl(base, eventId));
    const st = await streamB.waitFor((e) => e.event === "status", "a status event on host B");
    check(st.data?.status === "Running", `host B's stream follows the run: ${JSON.stringify(st.data)}`);
    releaseRetry();

    const result = await streamB.waitFor((e) => e.event === "result", "the result on host B");
    const { deltas, text: preview } = previewOf(streamB, result);
    check(deltas.length > 0 && preview === answer,
          `host B streamed the whole answer as deltas before the result: ${JSON.stringify(preview)}`);
    check(result.data?.completed === true && result.data?.status === "Completed" && result.data?.response === answer,
          `host B's stream delivered the saved answer: ${JSON.stringify(result.data).slice(0, 300)}`);

    const done = await emu.waitForRun(eventId, { timeoutMs: WAIT_MS });
    check(done.status === "Completed" && done.output?.response === answer, "the run completed with the full answer");
    const calls = done.transcript;
    const cut = calls.filter((c) => c.error);
    check(cut.length === 1 && cut[0].attempt === 0 && /Unable to reach SDK URL/.test(cut[0].error),
          `exactly one call was cut off by the kill: ${JSON.stringify(cut.map((c) => c.error))}`);
    const after = calls.slice(calls.indexOf(cut[0]) + 1);
    const resumed = after[0] && JSON.parse(after[0].request.body);
    check(resumed && after[0].attempt === 1 && resumed.steps?.[RETRIEVE] !== undefined,
          "the retried call (attempt 1) carries the saved retrieve-context result");
    // Every place a step result reaches the executor: 206 answers and checkpoints.
    const saves = (c, id) => {
        const ops = c.response?.status === 206 ? tryJson(c.response.body) || [] : [];
        const cps = (c.checkpoints || []).flatMap((k) => k.steps);
        return [...ops, ...cps].filter((o) => o?.id === id && (o.op === "StepRun" || o.op === "Step")).length;
    };
    check(after.every((c) => saves(c, RETRIEVE) === 0) &&
          calls.reduce((n, c) => n + saves(c, RETRIEVE), 0) === 1,
          "retrieve-context ran once: before the kill, never after it");
    const asked = model.requests.filter((r) => r.body?.stream === true && JSON.stringify(r.body).includes(question));
    check(asked.length === 2 && asked[0].held === true && !asked[1].held,
          `the model was asked twice: the answer cut off by the kill, then the whole one (${asked.length})`);

    const polled = await request("GET", `${base}/api/chat/inngest/poll?eventId=${encodeURIComponent(eventId)}`,
                                 { timeoutMs: WAIT_MS });
    const p = tryJson(polled.body);
    check(polled.status === 200 && p?.completed === true && p?.response === answer,
          `host B's poll route answers the saved answer: ${polled.body.slice(0, 200)}`);

    streamB.close();
    const end = await hostB.stop();
    hostB = null;
    check(end.clean, `host B stopped cleanly on SIGTERM${end.why ? ": " + end.why : ""}`);
}

async function replicas(env) {
    hostA = await startApp({ cmd: hostBin, args: ["--host", "127.0.0.1", "--port", "0"], env, logFile });
    hostB = await startApp({ cmd: hostBin, args: ["--host", "127.0.0.1", "--port", "0"], env, logFile });
    const sync = await emu.syncApp(hostA.url); // every call of the run goes to A
    check(sync.response?.status === 200, "the emulator synced host A; host B shares its database");
    const eventId = await ask(baseOf(hostB)); // the page talks to B, say
    streamB = openEvents(streamUrl(baseOf(hostB), eventId));
    await within(model.held(token), "the model to start its answer on host A");
    const first = await streamB.waitFor((e) => e.event === "delta", "a delta on host B");
    check(first.data?.text === "echo: ",
          `host B streamed the first piece of the answer host A is generating: ${JSON.stringify(first.data)}`);
    const run = emu.runsForEvent(eventId)[0];
    check(run && run.status === "Running" && run.transcript.every((c) => c.request.url.includes(`:${new URL(hostA.url).port}/`)),
          "the run is still going, and on host A only");
    model.release(token);
    const result = await streamB.waitFor((e) => e.event === "result", "the result on host B");
    const { deltas, text } = previewOf(streamB, result);
    // The last pieces may reach B's relay after B saw the run end; the result has them all.
    check(deltas.length > 0 && answer.startsWith(text) && text.length > 0,
          `host B's deltas are the answer so far: ${JSON.stringify(text)}`);
    check(result.data?.completed === true && result.data?.response === answer,
          `host B's stream delivered the saved answer: ${JSON.stringify(result.data).slice(0, 300)}`);
    const done = await emu.waitForRun(eventId, { timeoutMs: WAIT_MS });
    check(done.status === "Completed" && done.output?.response === answer, "the run completed with the full answer");
    streamB.close();
    for (const h of ["A", "B"]) {
        const end = await (h === "A" ? hostA : hostB).stop();
        if (h === "A") hostA = null;
        else hostB = null;
        check(end.clean, `host ${h} stopped cleanly on SIGTERM${end.why ? ": " + end.why : ""}`);
    }
}

try {
    model = await startFakeOpenAI();
    emu = await new Emulator({
        timeScale: 0.1,
        retryDelayMs: 0,
        // A retry (after the kill) waits until the new host is up and followed.
        holdCall: (run, item) => (item.attempt > 0 ? retryHeld : undefined),
        log: (m) => fs.appendFileSync(path.join(logDir, `${tag}.emulator.log`), m + "\n"),
    }).start();
    const env = { ...process.env };
    for (const k of Object.keys(env)) {
        if (/^(INNGEST_|OPENAI_|CHAT_|RAG_|HOST_)/.test(k)) delete env[k];
    }
    Object.assign(env, {
        INNGEST_DEV: emu.url,
        INNGEST_APP_ID: "inngest-c-ai-chat",
        INNGEST_LOG_LEVEL: "warn",
        INNGEST_CHECKPOINTING: checkpointing === "on" ? "true" : "false",
        OPENAI_BASE_URL: `${model.url}/v1`,
        OPENAI_API_KEY: "sk-test-hosts",
        OPENAI_MAX_RETRIES: "0",
        CHAT_GENERATE_MODE: "run",
        RAG_EMBEDDER: "hash",
    });
    if (scenario === "restart") {
        env.RAG_STORE_PATH = path.join(tmp, "rag.db");
        await restart(env);
    } else {
        database = `chat_replicas_${process.pid}`;
        psql(`CREATE DATABASE ${database}`);
        const u = new URL(pgUrl);
        u.pathname = `/${database}`;
        env.RAG_STORE_URL = u.toString();
        await replicas(env);
    }
    check(emu.unexpected.length === 0, `no calls to routes the emulator does not serve: ${JSON.stringify(emu.unexpected.map((u) => u.path))}`);
} catch (e) {
    console.error(e.stack || String(e));
    process.exitCode = 1;
} finally {
    // Let go of everything held, so that a host stops at once on SIGTERM.
    releaseRetry();
    model?.release(token);
    streamA?.close();
    streamB?.close();
    for (const h of [hostA, hostB]) if (h) await h.stop();
    if (emu) await emu.stop();
    if (model) await model.close();
    if (database) {
        try {
            psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        } catch (e) {
            console.error(String(e));
            process.exitCode = 1;
        }
    }
    if (process.exitCode) {
        // A failure shows the end of each log (the temp dir goes away).
        for (const f of fs.readdirSync(logDir).filter((f) => f.endsWith(".log"))) {
            console.error(`---- ${f}\n${fs.readFileSync(path.join(logDir, f), "utf8").slice(-4000)}`);
        }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    clearTimeout(watchdog);
}
