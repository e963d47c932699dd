#!/usr/bin/env node
// The executor emulator on its own, for any app that speaks the serve protocol (any SDK).
//
//   node emulator.mjs serve --sdk-url URL [--port 8288] [--in-band] [--signing-key K]
//                           [--event-key K] [--time-scale F]
//       Syncs the app and stands in for the dev server until Ctrl-C: send events to
//       POST /e/<key>, read results from GET /v1/events/<id>/runs and /v1/runs/<id>.
//       Every call to the app is printed as it happens.
//
//   node emulator.mjs check --sdk-url URL [--in-band] [--signing-key K] [--time-scale F]
//       Syncs the app, then runs Inngest's five official conformance cases against it
//       (the app must serve the test-suite-* functions of inngest/inngest's
//       tests/conformance fixture). Exit status 0 when all pass.
//
// Binds 127.0.0.1 only. Needs no npm packages.
import { Emulator } from "./lib/emulator.mjs";
import { makeContext, scenarios } from "./scenarios.mjs";

function parse(argv) {
    const a = { cmd: argv[0], port: 0, inBand: false, signingKey: null, eventKey: null, scale: 1, sdkUrl: null };
    for (let i = 1; i < argv.length; i++) {
        const k = argv[i];
        const v = () => argv[++i];
        if (k === "--sdk-url") a.sdkUrl = v();
        else if (k === "--port") a.port = Number(v());
        else if (k === "--in-band") a.inBand = true;
        else if (k === "--signing-key") a.signingKey = v();
        else if (k === "--event-key") a.eventKey = v();
        else if (k === "--time-scale") a.scale = Number(v());
        else throw new Error(`unknown argument ${k}`);
    }
    if (!["serve", "check"].includes(a.cmd) || !a.sdkUrl) {
        throw new Error("usage: node emulator.mjs serve|check --sdk-url URL [options] (see the file header)");
    }
    return a;
}

async function sync(emu, a) {
    const s = await emu.syncApp(a.sdkUrl, { inBand: a.inBand });
    const ok = s.response?.status === 200 && (a.inBand ? s.inBand?.status === 200 : s.registrations.some((r) => r.status === 200));
    console.log(`sync (${a.inBand ? "in-band" : "out-of-band"}): PUT ${s.response?.status ?? s.error}` +
        (a.inBand ? `, registration ${JSON.stringify(s.inBand?.body)}` : `, /fn/register ${s.registrations.map((r) => r.status).join(",") || "not called"}`));
    if (!ok) console.log(JSON.stringify(s, null, 1).slice(0, 4000));
    console.log(`functions: ${[...emu.functions.keys()].join(", ") || "(none)"}`);
    return ok;
}

async function main() {
    const a = parse(process.argv.slice(2));
    const emu = new Emulator({
        signingKey: a.signingKey,
        eventKey: a.eventKey,
        timeScale: a.scale,
        retryDelayMs: a.scale < 1 ? 50 : null,
        log: (m) => console.error(m),
    });
    await emu.start({ port: a.port });
    console.log(`emulator listening on ${emu.url} (${emu.serverKind} mode)`);
    if (!(await sync(emu, a)) && a.cmd === "check") {
        await emu.stop();
        return 1;
    }
    if (a.cmd === "serve") {
        // Print each call once it has an answer.
        const printed = new WeakSet();
        setInterval(() => {
            for (const run of emu.runs.values()) {
                for (const e of run.transcript) {
                    if (printed.has(e) || (!e.response && !e.error)) continue;
                    printed.add(e);
                    const body = e.response ? e.response.body.slice(0, 300) : e.error;
                    console.log(`${run.fn.slug} run ${run.id} stepId=${e.stepId.slice(0, 12)} attempt=${e.attempt} -> ${e.response?.status ?? "error"} ${body}`);
                }
            }
        }, 100);
        await new Promise((resolve) => {
            process.on("SIGINT", resolve);
            process.on("SIGTERM", resolve);
        });
        await emu.stop();
        return 0;
    }
    let failed = 0;
    for (const sc of scenarios.filter((s) => s.name.startsWith("official-"))) {
        const t = makeContext({ emu, app: { url: a.sdkUrl }, mode: emu.serverKind, ai: null, scale: a.scale, signingKey: a.signingKey });
        try {
            await sc.run(t);
        } catch (err) {
            t.failures.push(`threw: ${err.message}`);
        }
        console.log(`${t.failures.length ? "FAIL" : "ok  "} ${sc.name}`);
        for (const f of t.failures) console.log(`       ${f}`);
        if (t.failures.length) failed++;
    }
    await emu.stop();
    console.log(`conformance check: ${5 - failed} passed, ${failed} failed`);
    return failed ? 1 : 0;
}

main().then(
    (code) => process.exit(code),
    (err) => {
        console.error(err.message);
        process.exit(2);
    },
);
