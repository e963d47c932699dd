#!/usr/bin/env node
// Conformance runner: starts the executor emulator, a fake model API and each app (the
// reference app on the official JS SDK, and the C host), runs every scenario against each
// app in dev mode and in cloud (signed) mode, and compares the C host's outcome with the
// reference's. Differences fail the run unless allowlist.json lists them with a reason.
//
//   node run.mjs --host <path to inngest-host> [options]
//     --apps js,c          which apps to run (default: both; "js" alone validates the
//                          emulator against the official SDK)
//     --modes dev,cloud    which modes (default: both)
//     --only <regex>       scenarios whose name matches
//     --time-scale <f>     multiply sleeps/timeouts (default 0.1: a 10 s sleep takes 1 s)
//     --out <dir>          write transcripts and app logs there (default: a temp dir)
//     --verbose            print every difference, allowed or not
//     --full               also the slow scenarios (the real 1000-step limit)
//     --checkpointing on|off  both apps run steps inline and save them through the
//                          checkpoint API (on, the official SDK's default) or speak the
//                          classic one-step-per-call protocol (off); default on
//
// A scenario with `apps: ["c"]` is host-only: it runs against the C host alone (the chat
// functions need the RAG store, which the reference app does not have), so it has its own
// checks and nothing to compare. Such scenarios start their own host through
// t.startChatHost() (see startChatHost below).
//
// Exit status: 0 all scenarios matched, 1 a mismatch or failure, 77 when the npm
// dependencies are not installed (CTest reports that as skipped; under CI=true it is 1).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { AllowList, diff, normalize, opAt } from "./lib/compare.mjs";
import { Emulator, normalizeAppUrl } from "./lib/emulator.mjs";
import { startFakeOpenAI } from "./lib/fake-openai.mjs";
import { startApp } from "./lib/proc.mjs";
import { selfTest, selfTestReplies } from "./lib/selftest.mjs";
import { makeContext, scenarios } from "./scenarios.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;
const SIGNING_KEY = "signkey-test-8ee2262a2b5f1e4c6d0b9a7c3e5f7a9b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f";
const EVENT_KEY = "conformance-event-key";
const STEP_LIMIT = 25;
let checkpointing = true; // --checkpointing

function parseArgs(argv) {
    const a = { apps: ["js", "c"], modes: ["dev", "cloud"], only: null, scale: 0.1, out: null, verbose: false, host: null };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => argv[++i];
        if (k === "--host") a.host = v();
        else if (k === "--apps") a.apps = v().split(",");
        else if (k === "--modes") a.modes = v().split(",");
        else if (k === "--only") a.only = new RegExp(v());
        else if (k === "--time-scale") a.scale = Number(v());
        else if (k === "--out") a.out = v();
        else if (k === "--verbose") a.verbose = true;
        else if (k === "--full") a.full = true;
        else if (k === "--checkpointing") {
            const c = v();
            if (c !== "on" && c !== "off") throw new Error("--checkpointing takes on or off");
            checkpointing = c === "on";
        } else throw new Error(`unknown argument ${k}`);
    }
    return a;
}

function appCommand(which, args) {
    if (which === "js") return { cmd: process.execPath, args: [path.join(here, "ref-app", "app.mjs"), "--port", "0"] };
    return { cmd: args.host, args: ["--host", "127.0.0.1", "--port", "0", "--fixtures"] };
}

function appEnv(mode, emuUrl, aiUrl) {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("INNGEST_") || k.startsWith("OPENAI_")) delete env[k];
    Object.assign(env, {
        INNGEST_APP_ID: "inngest-c-ai-chat",
        INNGEST_EVENT_KEY: EVENT_KEY,
        INNGEST_LOG_LEVEL: "warn",
        OPENAI_BASE_URL: `${aiUrl}/v1`,
        OPENAI_API_KEY: "sk-test-conformance",
        HOST: "127.0.0.1",
        // Read by the C host and the reference app alike (--checkpointing).
        INNGEST_CHECKPOINTING: checkpointing ? "true" : "false",
    });
    if (mode === "dev") env.INNGEST_DEV = emuUrl;
    else Object.assign(env, { INNGEST_SIGNING_KEY: SIGNING_KEY, INNGEST_BASE_URL: emuUrl });
    return env;
}

// A started emulator configured like the server of `mode`; it logs to <outDir>/<mode>-<tag>.
function startEmulator(mode, args, outDir, tag) {
    return new Emulator({
        signingKey: mode === "cloud" ? SIGNING_KEY : null,
        eventKey: EVENT_KEY,
        timeScale: args.scale,
        retryDelayMs: 20,
        log: (m) => fs.appendFileSync(path.join(outDir, `${mode}-${tag}.emulator.log`), m + "\n"),
    }).start();
}

// Starts a C host of its own for a host-only scenario: without --fixtures (so it serves
// handle-chat and ingest-document), against its own emulator, with a fresh RAG store in a
// temp dir and the hashing embedder (the fake model API has no embeddings). `env` entries
// override the usual environment; a null value removes the variable. The host is synced
// before this resolves. Returns {emu, app, stop()}; stop() ends both and removes the store.
async function startChatHost({ args, mode, ai, outDir, tag, env: extra = {} }) {
    const emu = await startEmulator(mode, args, outDir, `c-${tag}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "inngest-chat-"));
    const env = { ...appEnv(mode, emu.url, ai.url), RAG_STORE_PATH: path.join(dir, "rag.db"), RAG_EMBEDDER: "hash" };
    for (const [k, v] of Object.entries(extra)) {
        if (v === null) delete env[k];
        else env[k] = v;
    }
    let app = null;
    // Stops the host and its emulator; throws when the host did not end cleanly (a crash
    // or sanitizer abort at shutdown must fail the scenario).
    const stop = async () => {
        const end = app ? await app.stop() : null;
        app = null;
        await emu.stop();
        fs.rmSync(dir, { recursive: true, force: true });
        if (end && !end.clean) throw new Error(`chat host ${tag}: ${end.why} (see ${mode}-c-${tag}.app.log)`);
    };
    try {
        app = await startApp({
            cmd: args.host, args: ["--host", "127.0.0.1", "--port", "0"], env,
            logFile: path.join(outDir, `${mode}-c-${tag}.app.log`),
            signingKey: mode === "cloud" ? SIGNING_KEY : null,
        });
        const s = await emu.syncApp(app.url);
        if (s.response?.status !== 200) throw new Error(`chat host sync answered ${s.response?.status}: ${s.response?.body}`);
    } catch (err) {
        await stop().catch(() => {});
        throw err;
    }
    return { emu, app, stop };
}

// Runs every selected scenario against one app in one mode. Returns {results, unexpected}.
async function runApp(which, mode, args, list, outDir) {
    list = list.filter((s) => !s.apps || s.apps.includes(which));
    const ai = await startFakeOpenAI();
    const emu = await startEmulator(mode, args, outDir, which);
    emu.stepLimits.set("inngest-c-ai-chat-bench-many-steps", STEP_LIMIT);
    const results = new Map();
    let app = null;
    try {
        const { cmd, args: cargs } = appCommand(which, args);
        app = await startApp({
            cmd, args: cargs, env: appEnv(mode, emu.url, ai.url),
            logFile: path.join(outDir, `${mode}-${which}.app.log`),
            signingKey: mode === "cloud" ? SIGNING_KEY : null,
        });
        const subst = [
            [app.url.replace(/\/api\/inngest.*$/, ""), "<app>"],
            [new URL(normalizeAppUrl(app.url)).origin, "<app>"],
            [emu.url, "<emulator>"],
            [ai.url, "<ai>"],
        ];
        const one = async (sc) => {
            const t = makeContext({
                emu, app, mode, ai, scale: args.scale, signingKey: SIGNING_KEY,
                startChatHost: (opts) => startChatHost({ args, mode, ai, outDir, ...opts }),
            });
            const started = Date.now();
            let outcome;
            try {
                outcome = await sc.run(t);
            } catch (err) {
                t.failures.push(`scenario threw: ${err.message}`);
            }
            results.set(sc.name, {
                outcome: outcome === undefined ? null : normalize(outcome, subst),
                raw: outcome,
                failures: t.failures,
                ms: Date.now() - started,
            });
        };
        // Syncs first, in order; the rest concurrently (their runs are independent).
        for (const sc of list.filter((s) => s.setup)) await one(sc);
        const rest = list.filter((s) => !s.setup);
        let next = 0;
        const workers = Array.from({ length: 6 }, async () => {
            while (next < rest.length) await one(rest[next++]);
        });
        await Promise.all(workers);
        // JS v4 checkpoints unless told not to; the C host never should. Any call to a route
        // the emulator does not serve is a failure.
        results.set("no-unexpected-api-calls", {
            outcome: emu.unexpected.map((u) => `${u.method} ${u.path}`),
            failures: emu.unexpected.map((u) => `unexpected call ${u.method} ${u.path}${u.query}`),
            ms: 0,
        });
        // Answers the server would refuse (a bad signature in cloud mode, a missing or
        // non-integer X-Inngest-Req-Version) failed their attempt; even when a retry then
        // recovered, each one is a failure of the app.
        results.set("every-answer-accepted", {
            outcome: emu.protocolErrors.map((e) => e.reason),
            failures: emu.protocolErrors.map((e) => `${e.function} stepId=${e.stepId} attempt ${e.attempt}: ${e.reason}`),
            ms: 0,
        });
        // The app must stop cleanly on SIGTERM: status 0, no signal (the reference app, on
        // Node, exits 0 from its SIGTERM handler too).
        const end = await app.stop();
        app = null;
        results.set("clean-shutdown", {
            outcome: end.clean,
            failures: end.clean ? [] : [`${which} app: ${end.why} (see ${mode}-${which}.app.log)`],
            ms: 0,
        });
        const dump = {};
        for (const [name, r] of results) dump[name] = r.raw ?? r.outcome;
        dump.runs = [...emu.runs.values()].map((r) => ({
            id: r.id, function: r.fn.slug, status: r.status, output: r.output, timeline: r.timeline, transcript: r.transcript,
        }));
        fs.writeFileSync(path.join(outDir, `${mode}-${which}.transcripts.json`), JSON.stringify(dump, null, 1));
    } finally {
        if (app) await app.stop();
        await emu.stop();
        await ai.close();
    }
    return results;
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    if (!fs.existsSync(path.join(here, "node_modules", "inngest", "package.json"))) {
        // In CI the dependencies must be there: a skip would hide the only comparison with
        // the official SDK.
        if (process.env.CI === "true") {
            console.log(`conformance: FAILED: npm dependencies are missing in ${here} (CI=true: .ci/setup --test installs them)`);
            return 1;
        }
        console.log(`conformance: SKIPPED: npm dependencies are missing; run "npm ci" in ${here}`);
        return SKIP;
    }
    if (args.apps.includes("c") && !(args.host && fs.existsSync(args.host))) {
        console.error(`conformance: the C host binary is required (--host); got ${args.host}`);
        return 1;
    }
    const st = [...selfTest(), ...(await selfTestReplies())];
    if (st.length) {
        for (const f of st) console.error(`conformance: emulator self-test failed: ${f}`);
        return 1;
    }
    const outDir = args.out || fs.mkdtempSync(path.join(os.tmpdir(), "inngest-conformance-"));
    fs.mkdirSync(outDir, { recursive: true });
    const allow = new AllowList(JSON.parse(fs.readFileSync(path.join(here, "allowlist.json"), "utf8")),
        new Set(scenarios.map((s) => s.name)), { protocol: checkpointing ? "checkpointing" : "classic" });
    const compared = new Set(); // "mode scenario" pairs compared between both apps
    const t0 = Date.now();

    let ran = 0, matched = 0, failed = 0, allowed = 0;
    for (const mode of args.modes) {
        const list = scenarios.filter((s) => (!s.modes || s.modes.includes(mode)) && (!s.full || args.full) &&
            (!args.only || args.only.test(s.name) || s.setup));
        // Both apps at once: each has its own emulator, fake model API and ports.
        const perApp = await Promise.all(args.apps.map((a) => runApp(a, mode, args, list, outDir)));
        const byApp = Object.fromEntries(args.apps.map((a, i) => [a, perApp[i]]));
        // Every scenario any app ran (host-only ones ran for the C host alone).
        const names = [...new Set(args.apps.flatMap((a) => [...byApp[a].keys()]))];
        for (const name of names) {
            ran++;
            const problems = [];
            for (const a of args.apps) {
                for (const f of byApp[a].get(name)?.failures || []) problems.push(`[${a}] ${f}`);
            }
            let allowedHere = 0;
            if (byApp.js?.has(name) && byApp.c?.has(name)) {
                compared.add(`${mode} ${name}`);
                const ref = byApp.js.get(name)?.outcome, got = byApp.c.get(name)?.outcome;
                for (const d of diff(ref, got)) {
                    const e = allow.match(d, name, mode, { ref, got });
                    if (e) {
                        allowedHere++;
                        if (args.verbose) console.log(`     allowed ${d.path} (${d.kind}): entry ${e.index}`);
                    } else {
                        const op = opAt(d.kind === "extra" ? got : ref, d.path);
                        problems.push(`[diff] ${d.path} (${d.kind}${op ? `, op ${op}` : ""}): reference ${JSON.stringify(d.ref)} vs C ${JSON.stringify(d.got)}`);
                    }
                }
            }
            allowed += allowedHere;
            const ms = args.apps.filter((a) => byApp[a].has(name))
                .map((a) => `${a} ${byApp[a].get(name)?.ms ?? 0}ms`).join(", ");
            if (problems.length) {
                failed++;
                console.log(`FAIL ${mode.padEnd(5)} ${name} (${ms})`);
                for (const p of problems) console.log(`       ${p.length > 600 ? p.slice(0, 600) + "…" : p}`);
            } else {
                matched++;
                console.log(`ok   ${mode.padEnd(5)} ${name} (${ms}${allowedHere ? `, ${allowedHere} allowed differences` : ""})`);
            }
        }
    }
    // The allow-list, entry by entry, with what each matched in the modes and scenarios
    // that ran. An entry that names a (mode, scenario) which ran and produced no such
    // difference is wider than the truth: that fails the run.
    let unusedEntries = 0;
    if (compared.size) {
        console.log("allow-list:");
        for (const e of allow.entries) {
            const hits = [...e.hits].map(([k, n]) => `${k.replace(" ", ":")}${n > 1 ? ` x${n}` : ""}`);
            const unused = allow.unusedIn(e, compared);
            const label = `#${e.index} ${e.path} (${e.kind}${e.op ? `, op ${e.op}` : ""})`;
            if (unused.length) {
                unusedEntries++;
                console.log(`FAIL ${label}: matched nothing in ${unused.map((k) => k.replace(" ", ":")).join(", ")}` +
                    `${hits.length ? `; matched ${hits.join(", ")}` : ""}. Narrow or remove it.`);
            } else if (hits.length) {
                console.log(`ok   ${label}: ${hits.join(", ")}`);
            } else {
                console.log(`--   ${label}: not judged in this run (none of its mode and scenario pairs ran)`);
            }
        }
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(`transcripts and logs: ${outDir}`);
    console.log(`conformance summary: ${ran} scenarios ran (${args.apps.join("+")} x ${args.modes.join("+")}), ` +
        `${matched} matched, ${failed} failed, ${allowed} allow-listed differences, ` +
        `${unusedEntries} allow-list entries unused, ${secs}s`);
    console.log(`conformance: ${matched} passed, ${failed} failed`);
    return failed || unusedEntries ? 1 : 0;
}

main().then(
    (code) => process.exit(code),
    (err) => {
        console.error(`conformance: ${err.stack || err}`);
        process.exit(1);
    },
);
