#!/usr/bin/env node
// Benchmark of whole runs, not single requests: the executor emulator of the conformance
// suite dispatches every call after a fixed delay (standing for the server's queue), and
// the time from a run's start to its end is measured for the C host and for the official
// JS SDK (the conformance reference app), each with checkpointing on (the JS SDK's
// default) and off. Not part of CI.
//
//   node tests/bench/run_runs.mjs --host build/src/host/inngest-host
//       [--delay-ms 50] [--runs 10] [--apps c,js] [--out FILE]
//
// Scenarios: bench-many-steps with n=10 (ten step.run) and process-data (two), both apps;
// handle-chat (CHAT_GENERATE_MODE=run: retrieve-context then generate-response against a
// local fake model), the host alone (the reference app has no handle-chat). Prints, per
// scenario, app and checkpointing: the median, min and max run time over --runs runs, the
// executor calls per run and the checkpoint requests per run.
//
// Then time to first token through the host's chat routes, with a fake model that streams
// 20 tokens 15 ms apart: direct mode (POST /api/chat, Server-Sent Events: the first
// "delta") against Inngest mode (POST /api/chat/inngest, then GET
// /api/chat/inngest/stream: the "result" event, the first text the page can show), with
// CHAT_GENERATE_MODE=run. Needs npm ci in tests/conformance. Binds 127.0.0.1 only.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { Emulator } from "../conformance/lib/emulator.mjs";
import { listen, readBody, request, tryJson } from "../conformance/lib/http.mjs";
import { startFakeOpenAI } from "../conformance/lib/fake-openai.mjs";
import { startApp } from "../conformance/lib/proc.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const conf = path.join(here, "..", "conformance");
const APP_ID = "inngest-c-ai-chat";

function parseArgs(argv) {
    const a = { host: null, delay: 50, runs: 10, apps: ["c", "js"], out: null };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => argv[++i];
        if (k === "--host") a.host = v();
        else if (k === "--delay-ms") a.delay = Number(v());
        else if (k === "--runs") a.runs = Number(v());
        else if (k === "--apps") a.apps = v().split(",");
        else if (k === "--out") a.out = v();
        else throw new Error(`unknown argument ${k}`);
    }
    if (a.apps.includes("c") && !a.host) throw new Error("--host <inngest-host> is required");
    return a;
}

function env(emuUrl, aiUrl, checkpointing, extra = {}) {
    const e = { ...process.env };
    for (const k of Object.keys(e)) if (k.startsWith("INNGEST_") || k.startsWith("OPENAI_")) delete e[k];
    return {
        ...e,
        INNGEST_APP_ID: APP_ID,
        INNGEST_DEV: emuUrl,
        INNGEST_LOG_LEVEL: "warn",
        INNGEST_CHECKPOINTING: checkpointing ? "true" : "false",
        OPENAI_BASE_URL: `${aiUrl}/v1`,
        OPENAI_API_KEY: "sk-bench",
        HOST: "127.0.0.1",
        ...extra,
    };
}

const median = (xs) => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Starts an app against a fresh emulator, runs `event` `runs` times one after another
// (after one warm-up run) and returns the measurements.
async function measure({ which, checkpointing, event, runs, delay, host, ai, tmp, chat = false }) {
    const emu = await new Emulator({ dispatchDelayMs: delay, retryDelayMs: 20 }).start();
    const dir = fs.mkdtempSync(path.join(tmp, "run-"));
    const extra = chat ? { RAG_STORE_PATH: path.join(dir, "rag.db"), RAG_EMBEDDER: "hash", CHAT_GENERATE_MODE: "run" } : {};
    const cmd = which === "js"
        ? { cmd: process.execPath, args: [path.join(conf, "ref-app", "app.mjs"), "--port", "0"] }
        : { cmd: host, args: ["--host", "127.0.0.1", "--port", "0", ...(chat ? [] : ["--fixtures"])] };
    const app = await startApp({ ...cmd, env: env(emu.url, ai.url, checkpointing, extra), logFile: path.join(dir, "app.log") });
    try {
        const s = await emu.syncApp(app.url);
        if (s.response?.status !== 200) throw new Error(`sync answered ${s.response?.status}`);
        const times = [], calls = [], checkpoints = [];
        for (let i = 0; i <= runs; i++) {
            const before = emu.checkpointCalls;
            const id = emu.sendEvents(event)[0];
            const run = await emu.waitForRun(id, { timeoutMs: 60000 });
            if (run.status !== "Completed") throw new Error(`${which} run ${run.id} ended ${run.status}: ${JSON.stringify(run.output)}`);
            if (i === 0) continue; // warm-up
            times.push(run.endedAt - run.startedAt);
            calls.push(run.transcript.length);
            checkpoints.push(emu.checkpointCalls - before);
        }
        return { times, calls: median(calls), checkpoints: median(checkpoints) };
    } finally {
        await app.stop();
        await emu.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

// An OpenAI-compatible model that streams `n` tokens `gapMs` apart (or answers at once
// when not asked to stream), and embeds nothing (the host uses its hashing embedder).
async function startStreamingModel({ n = 20, gapMs = 15 } = {}) {
    return listen(async (req, res) => {
        const json = tryJson(await readBody(req)) || {};
        const words = Array.from({ length: n }, (_, i) => `w${i} `);
        if (!json.stream) {
            res.writeHead(200, { "Content-Type": "application/json" });
            return res.end(JSON.stringify({
                id: "c1", object: "chat.completion", model: "fake-model",
                choices: [{ index: 0, message: { role: "assistant", content: words.join("") }, finish_reason: "stop" }],
                usage: { prompt_tokens: 3, completion_tokens: n, total_tokens: n + 3 },
            }));
        }
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        for (const w of words) {
            res.write(`data: ${JSON.stringify({ id: "c1", model: "fake-model", choices: [{ index: 0, delta: { content: w } }] })}\n\n`);
            await new Promise((r) => setTimeout(r, gapMs));
        }
        res.write(`data: ${JSON.stringify({ id: "c1", model: "fake-model", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
        res.end("data: [DONE]\n\n");
    });
}

// POSTs `body` to `url` and reads the Server-Sent Events answer (GET when body is null),
// resolving {first: ms to the first event named `want`, end: ms to the end}.
function sseTimes(url, body, want, t0) {
    return new Promise((resolve, reject) => {
        const u = new URL(url);
        const data = body ? JSON.stringify(body) : null;
        const req = http.request({
            host: u.hostname, port: u.port, path: u.pathname + u.search, method: data ? "POST" : "GET",
            headers: { Accept: "text/event-stream", ...(data ? { "Content-Type": "application/json" } : {}) },
        }, (res) => {
            let first = null, buf = "";
            res.setEncoding("utf8");
            res.on("data", (c) => {
                buf += c;
                if (first === null && buf.includes(`event: ${want}\n`)) first = performance.now() - t0;
            });
            res.on("end", () => resolve({ first, end: performance.now() - t0, status: res.statusCode, tail: buf.slice(-300) }));
            res.on("error", reject);
        });
        req.on("error", reject);
        if (data) req.write(data);
        req.end();
    });
}

async function measureTtft({ host, delay, runs, checkpointing, tmp }) {
    const model = await startStreamingModel();
    const emu = await new Emulator({ dispatchDelayMs: delay, retryDelayMs: 20 }).start();
    const dir = fs.mkdtempSync(path.join(tmp, "ttft-"));
    const app = await startApp({
        cmd: host, args: ["--host", "127.0.0.1", "--port", "0"],
        env: env(emu.url, model.url, checkpointing, {
            RAG_STORE_PATH: path.join(dir, "rag.db"), RAG_EMBEDDER: "hash", CHAT_GENERATE_MODE: "run",
        }),
        logFile: path.join(dir, "app.log"),
    });
    const base = app.url.replace(/\/api\/inngest.*$/, "");
    try {
        const s = await emu.syncApp(app.url);
        if (s.response?.status !== 200) throw new Error(`sync answered ${s.response?.status}`);
        const direct = [], inngest = [];
        for (let i = 0; i <= runs; i++) {
            const messages = [{ role: "user", content: `what is a step? (${i})` }];
            let t0 = performance.now();
            const d = await sseTimes(`${base}/api/chat`, { messages, sessionId: "bench" }, "delta", t0);
            if (d.first === null) throw new Error(`direct mode sent no delta: ${d.status} ${d.tail}`);
            t0 = performance.now();
            const sent = await request("POST", `${base}/api/chat/inngest`, {
                headers: { "Content-Type": "application/json" }, body: JSON.stringify({ messages, sessionId: "bench" }),
            });
            const eventId = tryJson(sent.body)?.eventId;
            if (!eventId) throw new Error(`POST /api/chat/inngest answered ${sent.status} ${sent.body}`);
            const n = await sseTimes(`${base}/api/chat/inngest/stream?eventId=${encodeURIComponent(eventId)}`, null, "result", t0);
            if (n.first === null) throw new Error(`Inngest mode sent no result: ${n.status} ${n.tail}`);
            if (i === 0) continue; // warm-up
            direct.push(d.first);
            inngest.push(n.first);
        }
        return { direct, inngest };
    } finally {
        await app.stop();
        await emu.stop();
        await model.close();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    if (!fs.existsSync(path.join(conf, "node_modules", "inngest"))) throw new Error(`run npm ci in ${conf} first`);
    const ai = await startFakeOpenAI();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "inngest-bench-runs-"));
    const scenarios = [
        { name: "10 × step.run (bench-many-steps n=10)", event: { name: "bench/many-steps", data: { n: 10 } }, apps: ["c", "js"] },
        { name: "process-data (2 steps)", event: { name: "data/process", data: { order: 1, items: ["a"] } }, apps: ["c", "js"] },
        { name: "handle-chat, CHAT_GENERATE_MODE=run", event: { name: "chat/message", data: { messages: [{ role: "user", content: "what is a step?" }], sessionId: "bench" } }, apps: ["c"], chat: true },
    ];
    const rows = [], ttft = [];
    try {
        for (const sc of scenarios) {
            for (const which of sc.apps.filter((x) => a.apps.includes(x))) {
                for (const checkpointing of [true, false]) {
                    const r = await measure({ which, checkpointing, event: sc.event, runs: a.runs, delay: a.delay, host: a.host, ai, tmp, chat: sc.chat });
                    const row = {
                        scenario: sc.name, app: which === "c" ? "inngest-c host" : "official JS SDK 4.24",
                        checkpointing: checkpointing ? "on" : "off", median: median(r.times),
                        min: Math.min(...r.times), max: Math.max(...r.times), calls: r.calls, checkpoints: r.checkpoints,
                    };
                    rows.push(row);
                    console.log(`${row.scenario} | ${row.app} | checkpointing ${row.checkpointing} | median ${row.median} ms (min ${row.min}, max ${row.max}) | ${row.calls} calls, ${row.checkpoints} checkpoints`);
                }
            }
        }
        if (a.apps.includes("c")) {
            for (const checkpointing of [true, false]) {
                const r = await measureTtft({ host: a.host, delay: a.delay, runs: a.runs, checkpointing, tmp });
                const fmt = (xs) => `${Math.round(median(xs))} (min ${Math.round(Math.min(...xs))}, max ${Math.round(Math.max(...xs))})`;
                ttft.push({ checkpointing: checkpointing ? "on" : "off", direct: fmt(r.direct), inngest: fmt(r.inngest) });
                console.log(`time to first token, checkpointing ${checkpointing ? "on" : "off"}: direct ${fmt(r.direct)} ms, Inngest mode ${fmt(r.inngest)} ms`);
            }
        }
    } finally {
        await ai.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    const table = [
        `Whole runs through the executor emulator, ${a.delay} ms before every dispatch, ${a.runs} runs each (after one warm-up), one run at a time.`,
        "",
        "| run | app | checkpointing | median ms | min | max | executor calls | checkpoint requests |",
        "|---|---|---|---|---|---|---|---|",
        ...rows.map((r) => `| ${r.scenario} | ${r.app} | ${r.checkpointing} | ${r.median} | ${r.min} | ${r.max} | ${r.calls} | ${r.checkpoints} |`),
        ...(ttft.length ? [
            "",
            "Time to first token (ms, median (min, max)), host, CHAT_GENERATE_MODE=run, model streaming 20 tokens 15 ms apart:",
            "",
            "| checkpointing | direct mode: first delta | Inngest mode: result on the stream |",
            "|---|---|---|",
            ...ttft.map((r) => `| ${r.checkpointing} | ${r.direct} | ${r.inngest} |`),
        ] : []),
    ].join("\n");
    console.log("\n" + table);
    if (a.out) fs.writeFileSync(a.out, table + "\n");
    return 0;
}

main().then((c) => process.exit(c), (err) => {
    console.error(`run_runs: ${err.stack || err}`);
    process.exit(1);
});
