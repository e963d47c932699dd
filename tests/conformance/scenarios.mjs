// The conformance scenarios. Each one drives an app (the JS reference or the C host)
// through the executor emulator and returns an "outcome": what the app did, as the server
// saw it (statuses, outputs, every call with its ctx, memoized steps and reply). The runner
// compares the C host's outcome with the reference app's; `t.expect` adds checks that must
// hold for both apps (the official conformance expectations, the fixture contracts).
//
// Times are written in the functions' own units (a "10s" sleep, "1s" between events) and
// scaled by the runner's --time-scale.
import { request, tryJson } from "./lib/http.mjs";
import { canonicalize } from "./lib/jcs.mjs";
import { hashedSigningKey, signatureHeader } from "./lib/sign.mjs";

export const APP_ID = "inngest-c-ai-chat";

// All functions both apps serve.
export const FUNCTION_IDS = [
    "hello-world", "process-data", "fixture-parallel", "fixture-wait", "fixture-invoke-parent",
    "fixture-invoke-child", "fixture-retry", "fixture-nonretriable", "fixture-ai-infer",
    "bench-many-steps", "test-suite-simple-fn", "test-suite-step-test", "test-suite-retry-test",
    "test-suite-cancel-test", "test-suite-wait-for-event",
];

// Step ids hashed as the protocol does (sha1 of the user id); the official harness
// hard-codes the same values.
const H = {
    complete: "0737c22d3bfae812339732d14d8c7dbd6dc4e09c", // RunComplete's id: sha1("complete")
    firstStep: "98bf98df193bcce7c33e6bc50927cf2ac21206cb",
    sleep: "c3ca5f787365eae0dea86250e27d476406956478",
    secondStep: "764e20ec975d4ef820d0f42e6a5833384bd7ee36",
    wait: "daaad336276d15594d0e765f96c17cd746bf4971",
};

// ---- views of a run --------------------------------------------------------------------------

// The steps of a parallel group finish in whatever order the app answers (the executor
// calls them concurrently), and each is pushed on the stack as it finishes. Within one
// group that order means nothing, so a view sorts each group's consecutive entries.
function groupSortedStack(stack, groups) {
    if (!stack || !Array.isArray(stack.stack)) return stack;
    const out = [...stack.stack];
    for (const g of groups || []) {
        const at = out.map((id, i) => (g.includes(id) ? i : -1)).filter((i) => i >= 0);
        if (at.length > 1 && at[at.length - 1] - at[0] + 1 === at.length) {
            out.splice(at[0], at.length, ...out.slice(at[0], at[0] + at.length).sort());
        }
    }
    return { ...stack, stack: out };
}

function callView(e, groups) {
    const req = JSON.parse(e.request.body);
    const u = new URL(e.request.url);
    const v = {
        query: Object.fromEntries(u.searchParams),
        ctx: {
            attempt: req.ctx.attempt,
            disable_immediate_execution: req.ctx.disable_immediate_execution,
            env: req.ctx.env,
            max_attempts: req.ctx.max_attempts,
            stack: groupSortedStack(req.ctx.stack, groups),
            step_id: req.ctx.step_id,
            use_api: req.ctx.use_api,
        },
        steps: req.steps,
        version: req.version,
    };
    if (!e.response) {
        v.error = e.error;
        return v;
    }
    const h = e.response.headers;
    v.response = {
        status: e.response.status,
        headers: {
            "content-type": h["content-type"],
            "x-inngest-sdk": h["x-inngest-sdk"] === undefined ? undefined : "<present>",
            "x-inngest-no-retry": h["x-inngest-no-retry"],
            "x-inngest-req-version": h["x-inngest-req-version"],
            "retry-after": h["retry-after"],
        },
        body: tryJson(e.response.body) ?? e.response.body,
    };
    if (e.responseSignature !== undefined) v.response.signatureValid = e.responseSignature;
    // Steps the call saved through the checkpoint API while it ran (as the server reads them).
    if (e.checkpoints) v.checkpoints = e.checkpoints.map((c) => ({ status: c.status, steps: c.steps }));
    return v;
}

// Whether the SDK checkpointed in this run: it saved steps through the checkpoint API, or
// ended the run with a RunComplete op.
export function checkpointed(run) {
    return run.transcript.some((e) => e.checkpoints?.length ||
        (tryJson(e.response?.body ?? "") || [])?.some?.((o) => o?.op === "RunComplete"));
}

// A run as the classic protocol would have answered it, one entry per step: each step a
// checkpoint saved becomes a call answered [StepRun], a RunComplete answer a 200 with its
// data, and a call stopped by a stale checkpoint (409) is left out (the executor drops its
// answer). Classic runs come back unchanged. Entries: {attempt, status, ops, body, error}.
export function classicCalls(run) {
    const out = [];
    for (const e of run.transcript) {
        for (const c of e.checkpoints || []) {
            if (c.status !== 200) continue;
            for (const st of c.steps) if (st.op === "StepRun") out.push({ attempt: e.attempt, status: 206, ops: [st], body: [st] });
        }
        if (e.checkpoints?.some((c) => c.status === 409)) continue;
        const body = tryJson(e.response?.body ?? "");
        const complete = Array.isArray(body) ? body.find((o) => o?.op === "RunComplete") : null;
        if (complete) {
            for (const st of body) if (st.op === "StepRun") out.push({ attempt: e.attempt, status: 206, ops: [st], body: [st] });
            out.push({ attempt: e.attempt, status: 200, ops: null, body: complete.data ?? null });
            continue;
        }
        out.push({ attempt: e.attempt, status: e.response?.status, ops: Array.isArray(body) ? body : null, body, error: e.error });
    }
    return out;
}

// The official harness's call sequence (classic protocol) as a checkpointing SDK makes it:
// a call answered [StepRun] on a discovery call is a step run inline instead, saved by a
// checkpoint of the call that ran it, which answers what the next call would have; a final
// 200 is a 206 [RunComplete].
function checkpointingSequence(calls) {
    const out = [];
    let pending = null;
    for (const c of calls) {
        if (!pending) pending = { stepId: c.stepId, attempt: c.attempt, stack: c.stack, steps: c.steps, checkpoints: [] };
        const inline = (c.stepId ?? "step") === "step" && !(c.attempt > 0) && c.ops?.length &&
            c.ops.every((o) => o.op === "StepRun");
        if (inline) {
            pending.checkpoints.push(...c.ops);
            continue;
        }
        const done = { ...pending, status: c.status, ops: c.ops, json: c.json, check: c.check };
        if (c.status === 200 && c.json !== undefined) {
            done.status = 206;
            done.json = [{ op: "RunComplete", id: H.complete, data: c.json }];
        }
        out.push(done);
        pending = null;
    }
    return out;
}

export function runView(run) {
    return {
        function: run.fn.slug,
        status: run.status,
        output: run.output,
        calls: run.transcript.map((e) => callView(e, run.groups)),
    };
}

// The op as the executor reads it (what the official harness compares after its own
// normalisation): no timing/userland/metadata/displayName, a Sleep's duration from
// opts.duration or name, a wait's event from opts.event or name, error name/stack/data
// left out, empty opts as none.
function executorOp(op) {
    const o = { op: op.op, id: op.id };
    const opts = op.opts && Object.keys(op.opts).length ? { ...op.opts } : undefined;
    if (op.op === "Sleep") o.duration = opts?.duration || op.name;
    else if (op.op === "WaitForEvent") {
        o.event = opts?.event || op.name;
        o.opts = { if: opts?.if, timeout: opts?.timeout };
    } else {
        o.name = op.name;
        if (opts) o.opts = opts;
    }
    if (op.op !== "Sleep" && op.op !== "WaitForEvent") o.data = op.data ?? null;
    if (op.error) o.error = { message: op.error.message };
    return o;
}

// ---- the context handed to a scenario ----------------------------------------------------------

export function makeContext({ emu, app, mode, ai, scale, signingKey, startChatHost }) {
    const failures = [];
    const t = {
        emu, app, mode, ai, scale, signingKey, failures,
        // Host-only scenarios: a C host of their own, serving the chat functions (run.mjs).
        startChatHost,
        expect(cond, message) {
            if (!cond) failures.push(message);
            return !!cond;
        },
        expectEqual(got, want, message) {
            const a = canonicalize(got ?? null), b = canonicalize(want ?? null);
            if (a !== b) failures.push(`${message}: expected ${b}, got ${a}`);
            return a === b;
        },
        sleep: (seconds) => new Promise((r) => setTimeout(r, Math.max(1, seconds * 1000 * scale))),
        send: (event) => emu.sendEvents(event)[0],
        // Waits for the (first) run started by `eventId` to finish.
        finish: (eventId, opts = {}) => emu.waitForRun(eventId, { timeoutMs: 30000, ...opts }),
        async runOf(eventId, timeoutMs = 10000) {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                const r = emu.runsForEvent(eventId)[0];
                if (r) return r;
                if (Date.now() > deadline) throw new Error(`no run for event ${eventId}`);
                await new Promise((res) => setTimeout(res, 5));
            }
        },
        // Resolves once the run has a pause of `kind`, before its timeout can fire (the
        // continuation runs in the microtask after the pause is made).
        async waitPause(run, kind) {
            await emu.when(run, "pause", (e) => e.pauseKind === kind);
        },
        // Checks a run against the call sequence the official harness asserts.
        official(run, calls, final) {
            const got = run.transcript;
            if (checkpointed(run)) calls = checkpointingSequence(calls);
            t.expect(got.length === calls.length,
                `official: expected ${calls.length} calls, got ${got.length}`);
            calls.forEach((want, i) => {
                const e = got[i];
                if (!e) return;
                const req = JSON.parse(e.request.body);
                const stepId = new URL(e.request.url).searchParams.get("stepId");
                const where = `official call ${i + 1}`;
                t.expectEqual(stepId, want.stepId ?? "step", `${where} stepId`);
                t.expectEqual(req.ctx.attempt, want.attempt ?? 0, `${where} ctx.attempt`);
                t.expectEqual(req.ctx.stack, { current: want.stack.length, stack: want.stack }, `${where} ctx.stack`);
                t.expectEqual(req.ctx.disable_immediate_execution, false, `${where} disable_immediate_execution`);
                t.expectEqual(req.ctx.step_id, "step", `${where} ctx.step_id`);
                if (want.steps) {
                    const steps = JSON.parse(JSON.stringify(req.steps));
                    for (const v of Object.values(steps)) if (v?.error) delete v.error.stack;
                    t.expectEqual(stripEvent(steps), want.steps, `${where} steps`);
                }
                t.expectEqual(e.response?.status, want.status, `${where} status`);
                const body = tryJson(e.response?.body ?? "");
                if (want.ops) t.expectEqual((body || []).map(executorOp), want.ops, `${where} ops`);
                if (want.json) t.expectEqual(body, want.json, `${where} body`);
                if (want.check) want.check(body, where);
                if (want.checkpoints) {
                    const saved = (e.checkpoints || []).filter((c) => c.status === 200).flatMap((c) => c.steps);
                    t.expectEqual(saved.map(executorOp), want.checkpoints, `${where} checkpointed steps`);
                }
            });
            if (final) t.expectEqual(run.status, final, "official: final status");
        },
    };
    return t;
}

// Matched events in `steps` carry server-made id/ts; the harness ignores them.
function stripEvent(steps) {
    for (const v of Object.values(steps)) {
        if (v && typeof v === "object" && "name" in v && "ts" in v) {
            delete v.ts;
            if (v.id !== "resume") delete v.id;
        }
    }
    return steps;
}

// ---- scenarios -----------------------------------------------------------------------------------

function registerView(reg) {
    const j = reg.json || {};
    const fns = (j.functions || []).map((f) => f).sort((a, b) => (a.id < b.id ? -1 : 1));
    return {
        status: reg.status,
        headers: {
            "content-type": reg.headers["content-type"],
            "x-inngest-sync-kind": reg.headers["x-inngest-sync-kind"],
            "x-inngest-expected-server-kind": reg.headers["x-inngest-expected-server-kind"],
            "x-inngest-sdk": reg.headers["x-inngest-sdk"] ? "<present>" : undefined,
            authorization: reg.headers.authorization ? "<present>" : undefined,
        },
        body: { ...j, functions: fns },
    };
}

function checkFunctions(t, fns, label) {
    const ids = (fns || []).map((f) => f.id).sort();
    const want = FUNCTION_IDS.map((id) => `${APP_ID}-${id}`).sort();
    t.expectEqual(ids, want, `${label}: function ids`);
    const retry = (fns || []).find((f) => f.id === `${APP_ID}-fixture-retry`);
    t.expectEqual(retry?.steps?.step?.retries?.attempts, 2, `${label}: fixture-retry retries`);
    const cancel = (fns || []).find((f) => f.id === `${APP_ID}-test-suite-cancel-test`);
    t.expectEqual(cancel?.cancel?.[0]?.event, "cancel/please", `${label}: cancel event`);
}

export const scenarios = [
    {
        name: "sync-out-of-band",
        setup: true,
        async run(t) {
            const s = await t.emu.syncApp(t.app.url);
            t.expect(s.response?.status === 200, `PUT answered ${s.response?.status}: ${s.response?.body}`);
            t.expect(s.registrations.length === 1, `expected one /fn/register, got ${s.registrations.length}`);
            const reg = s.registrations[0];
            t.expect(reg?.status === 200, `register answered ${reg?.status}: ${JSON.stringify(reg?.answer)}`);
            checkFunctions(t, reg?.json?.functions, "register");
            return {
                put: {
                    status: s.response?.status,
                    headers: { "x-inngest-sync-kind": s.response?.headers["x-inngest-sync-kind"] },
                    body: s.response?.json,
                },
                register: reg ? registerView(reg) : null,
            };
        },
    },
    {
        name: "sync-in-band",
        setup: true,
        async run(t) {
            const s = await t.emu.syncApp(t.app.url, { inBand: true });
            t.expect(s.response?.status === 200, `in-band PUT answered ${s.response?.status}: ${s.response?.body}`);
            t.expect(s.registrations.length === 0, "in-band sync must not call /fn/register");
            t.expect(s.inBand?.status === 200, `in-band registration rejected: ${JSON.stringify(s.inBand)}`);
            if (t.mode === "cloud") t.expect(s.responseSignature === true, `in-band reply signature: ${s.responseSignature}`);
            const body = s.response?.json || {};
            checkFunctions(t, body.functions, "in-band");
            const fns = [...(body.functions || [])].sort((a, b) => (a.id < b.id ? -1 : 1));
            return {
                status: s.response?.status,
                headers: { "x-inngest-sync-kind": s.response?.headers["x-inngest-sync-kind"] },
                signatureValid: s.responseSignature,
                body: { ...body, functions: fns },
                registered: s.inBand?.status,
            };
        },
    },
    {
        // Unsigned in-band sync: cloud mode must refuse it, dev mode accepts it.
        name: "sync-in-band-unsigned",
        modes: ["cloud"],
        async run(t) {
            const s = await t.emu.syncApp(t.app.url, { inBand: true, sign: false });
            t.expect(s.response?.status === 401, `unsigned in-band PUT answered ${s.response?.status}`);
            return { status: s.response?.status, body: s.response?.json ?? s.response?.body };
        },
    },
    {
        name: "official-basic-invoke",
        async run(t) {
            const id = t.send({ name: "tests/function.test", data: { test: true }, user: {} });
            const run = await t.finish(id);
            t.official(run, [{ stack: [], status: 200, json: { name: "tests/function.test", body: "ok" } }], "Completed");
            return runView(run);
        },
    },
    {
        name: "official-steps-serial",
        async run(t) {
            const id = t.send({ name: "tests/step.test", data: { steps: { ok: "yes" } }, user: { email: "test@example.com" } });
            const run = await t.finish(id);
            t.official(run, [
                { stack: [], status: 206, ops: [{ op: "StepRun", id: H.firstStep, name: "first step", data: "first step" }] },
                { stack: [H.firstStep], steps: { [H.firstStep]: { data: "first step" } }, status: 206,
                  ops: [{ op: "Sleep", id: H.sleep, duration: "2s" }] },
                { stack: [H.firstStep, H.sleep], steps: { [H.firstStep]: { data: "first step" }, [H.sleep]: null }, status: 206,
                  ops: [{ op: "StepRun", id: H.secondStep, name: "second step", data: { first: "first step", second: true } }] },
                { stack: [H.firstStep, H.sleep, H.secondStep], status: 200, json: { body: "ok", name: "tests/step.test" } },
            ], "Completed");
            return runView(run);
        },
    },
    {
        name: "official-retry-basic",
        async run(t) {
            const id = t.send({ name: "tests/retry.test", data: { steps: { ok: "yes" } }, user: { email: "test@example.com" } });
            const run = await t.finish(id);
            t.official(run, [
                { stack: [], status: 206,
                  ops: [{ op: "StepError", id: H.firstStep, name: "first step", data: null, error: { message: "broken" } }] },
                { stack: [], attempt: 1, status: 206, ops: [{ op: "StepRun", id: H.firstStep, name: "first step", data: "yes: 2" }] },
                { stack: [H.firstStep], steps: { [H.firstStep]: { data: "yes: 2" } }, status: 500,
                  check: (body, where) => {
                      t.expect(body?.message === "broken func", `${where}: message ${body?.message}`);
                      t.expect(!body?.name || body.name === "Error", `${where}: name ${body?.name}`);
                  } },
                { stack: [H.firstStep], attempt: 1, status: 200, json: { body: "ok", name: "tests/retry.test" } },
            ], "Completed");
            return runView(run);
        },
    },
    {
        name: "official-cancel-basic",
        async run(t) {
            const id = t.send({ name: "tests/cancel.test", data: { request_id: "123", whatever: "this doesn't matter my friend" }, user: {} });
            const run = await t.runOf(id);
            // Act as soon as the 10 s sleep is scheduled, before its (scaled) timer can fire
            // on however slow a machine: the continuation runs in the next microtask.
            await t.emu.when(run, "sleep");
            // A cancel for another request must not match; the right one must.
            t.send({ name: "cancel/please", data: { request_id: "456" } });
            t.expect(run.status === "Running", "a non-matching cancel event cancelled the run");
            t.send({ name: "cancel/please", data: { request_id: "123" } });
            t.expect(run.status === "Cancelled", `the matching cancel event ended the run (${run.status})`);
            // Past the sleep's wake-up time: no call may follow the cancellation. (Only
            // waiting longer than needed is possible here, never too little.)
            await t.sleep(11);
            t.official(run, [{ stack: [], status: 206, ops: [{ op: "Sleep", id: H.sleep, duration: "10s" }] }], "Cancelled");
            return runView(run);
        },
    },
    {
        name: "official-wait-for-event-basic",
        async run(t) {
            const id = t.send({ name: "tests/wait.test", data: { id: "123" }, user: {} });
            const run = await t.runOf(id);
            // Both events go out in the microtask after the wait is made: its 10 s (scaled)
            // timeout cannot fire first.
            await t.waitPause(run, "wait");
            t.send({ name: "test/resume", data: { id: "ignored" } });
            t.expect(run.status === "Running" && t.emu.pausesOf(run).some((p) => p.kind === "wait"),
                "a non-matching event did not resume the wait");
            const resume = { id: "resume", name: "test/resume", data: { id: "123", resume: true }, ts: Date.now(), user: {} };
            t.send(resume);
            await t.finish(id);
            t.official(run, [
                { stack: [], status: 206, ops: [{ op: "WaitForEvent", id: H.wait, event: "test/resume",
                    opts: { if: "async.data.resume == true && async.data.id == event.data.id", timeout: "10s" } }] },
                { stack: [H.wait], steps: { [H.wait]: { id: "resume", name: "test/resume", data: { id: "123", resume: true }, user: {} } },
                  status: 200, json: { result: { id: "123", resume: true } } },
            ], "Completed");
            return runView(run);
        },
    },
    {
        // The event and run APIs over HTTP, as an SDK or a test harness uses them: a seeded
        // send is idempotent, and the run, its events and its memoized steps can be read.
        name: "event-and-run-api",
        async run(t) {
            const base = t.emu.url;
            const auth = t.mode === "cloud" ? { Authorization: `Bearer ${hashedSigningKey(t.signingKey)}` } : {};
            const body = JSON.stringify([{ name: "data/process", data: { via: "http" } }]);
            const headers = { "Content-Type": "application/json", "X-Inngest-Event-Id-Seed": "1700000000000,AAECAwQFBgcICQ==" };
            const first = await request("POST", `${base}/e/conformance-event-key`, { headers, body });
            const again = await request("POST", `${base}/e/conformance-event-key`, { headers, body });
            const badKey = await request("POST", `${base}/e/wrong-key`, { headers, body });
            const reserved = await request("POST", `${base}/e/conformance-event-key`, {
                headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: "inngest/function.finished" }) });
            const ids = tryJson(first.body)?.ids || [];
            t.expectEqual(tryJson(again.body)?.ids, ids, "seeded ids repeat");
            t.expect(badKey.status === 401, `unknown event key answered ${badKey.status}`);
            t.expect(reserved.status === 400, `reserved event name answered ${reserved.status}`);
            const run = await t.finish(ids[0]);
            const runs = tryJson((await request("GET", `${base}/v1/events/${ids[0]}/runs`, { headers: auth })).body);
            const one = tryJson((await request("GET", `${base}/v1/runs/${run.id}`, { headers: auth })).body);
            const missing = await request("GET", `${base}/v1/runs/01HZZZZZZZZZZZZZZZZZZZZZZZ`, { headers: auth });
            t.expectEqual(runs?.data?.map((r) => r.status), ["Completed"], "runs of the event");
            t.expectEqual(one?.data?.output?.result, { via: "http" }, "run output");
            t.expect(missing.status === 500, "an unknown run answers 500, like the server");
            return { status: first.status, runs: runs?.data, run: one?.data, calls: runView(run).calls };
        },
    },
    {
        name: "example-hello-world",
        async run(t) {
            const id = t.send({ name: "test/hello.world", data: { email: "ada@example.com" } });
            const run = await t.finish(id);
            t.expectEqual(run.output, { message: "Hello ada@example.com!" }, "output");
            return runView(run);
        },
    },
    {
        name: "example-process-data",
        async run(t) {
            const id = t.send({ name: "data/process", data: { order: 42, items: ["a", "b"] } });
            const run = await t.finish(id);
            t.expect(run.status === "Completed", `status ${run.status}`);
            t.expectEqual(run.output?.result, { order: 42, items: ["a", "b"] }, "output.result");
            t.expect(!Number.isNaN(Date.parse(run.output?.processedAt)), "processedAt is a time");
            return runView(run);
        },
    },
    {
        // The checkpoint API fails five times in a row: a checkpointing SDK gives up on it
        // for this call and answers the step it ran as a classic StepRun; the next call
        // checkpoints again. Without checkpointing nothing calls the API.
        name: "checkpoint-api-down",
        async run(t) {
            const id = t.send({ name: "data/process", data: { order: 7, items: ["x"] } });
            // Set in the same tick as the send, so before any checkpoint can arrive; keyed by
            // the event, so other scenarios' runs of the function are not affected.
            t.emu.checkpointFaults.set(id, [503, 503, 503, 503, 503]);
            const run = await t.finish(id);
            t.emu.checkpointFaults.delete(id);
            t.expect(run.status === "Completed", `status ${run.status}`);
            t.expectEqual(run.output?.result, { order: 7, items: ["x"] }, "output.result");
            if (checkpointed(run)) {
                const first = run.transcript[0];
                t.expectEqual((first.checkpoints || []).map((c) => c.status), [503, 503, 503, 503, 503], "first call's checkpoint attempts");
                t.expectEqual(opsOf(run, 0).map((o) => o.op), ["StepRun"], "fallback answer");
                t.expectEqual(tryJson(first.response?.body ?? "")?.map((o) => o.op), ["StepRun"], "the first call answers its step");
            }
            // The JS SDK's fallback answer also carries its internal step state (promise,
            // middleware, hashedId…); compare what the executor reads of each op.
            const view = runView(run);
            const read = ["id", "op", "name", "displayName", "opts", "data", "error", "userland", "timing"];
            for (const c of view.calls) {
                if (Array.isArray(c.response?.body)) {
                    c.response.body = c.response.body.map((o) => Object.fromEntries(read.filter((k) => k in o).map((k) => [k, o[k]])));
                }
            }
            return view;
        },
    },
    {
        name: "fixture-parallel",
        async run(t) {
            const id = t.send({ name: "fixture/parallel", data: {} });
            const run = await t.finish(id);
            t.expectEqual(run.output, { a: "A", b: "B", joined: "AB" }, "output");
            const calls = run.transcript;
            const ops0 = tryJson(calls[0]?.response?.body) || [];
            t.expectEqual(ops0.map((o) => o.op), ["StepPlanned", "StepPlanned"], "first reply plans both steps");
            const planned = calls.filter((c) => !c.request.url.includes("stepId=step"));
            t.expect(planned.length === 2, `two calls run the planned steps (got ${planned.length})`);
            t.expect(planned.every((c) => JSON.parse(c.request.body).ctx.disable_immediate_execution === true),
                "planned steps run with disable_immediate_execution");
            // v2 coalescing: one discovery after both steps, and immediate execution is back.
            t.expect(calls.length === 5, `5 calls in all (got ${calls.length})`);
            return runView(run);
        },
    },
    {
        // The executor calls the planned steps of a parallel group concurrently: both calls
        // must have been in flight together (each sent before the other was answered), and
        // the app must serve them so. (The emulator's self-test holds one answer back until
        // the other call arrives, which a one-at-a-time emulator would never finish.)
        name: "parallel-steps-concurrent",
        async run(t) {
            const id = t.send({ name: "fixture/parallel", data: { concurrent: true } });
            const run = await t.finish(id);
            t.expectEqual(run.output, { a: "A", b: "B", joined: "AB" }, "output");
            const planned = run.transcript.filter((c) => !c.request.url.includes("stepId=step"));
            t.expect(planned.length === 2, `two calls run the planned steps (got ${planned.length})`);
            const [a, b] = planned;
            const overlap = !!(a && b && a.answeredAt && b.answeredAt && b.sentAt < a.answeredAt && a.sentAt < b.answeredAt);
            t.expect(overlap, "the two planned steps were in flight at the same time");
            t.expect(planned.every((c) => c.response?.status === 206), "both planned calls answered 206");
            return {
                output: run.output,
                planned: planned.map((c) => new URL(c.request.url).searchParams.get("stepId")).sort(),
                overlap,
                calls: runView(run).calls,
            };
        },
    },
    {
        name: "fixture-wait-matched",
        async run(t) {
            const id = t.send({ name: "fixture/wait", data: { id: "order-7" } });
            const run = await t.runOf(id);
            await t.waitPause(run, "wait");
            t.send({ name: "fixture/wait.resume", data: { id: "order-8", note: "wrong order" } });
            t.send({ name: "fixture/wait.resume", data: { id: "order-7", note: "resumed" } });
            await t.finish(id);
            t.expectEqual(run.output, { resumed: true, data: { id: "order-7", note: "resumed" } }, "output");
            return runView(run);
        },
    },
    {
        name: "fixture-wait-timeout",
        async run(t) {
            const id = t.send({ name: "fixture/wait", data: { id: "never" } });
            const run = await t.finish(id);
            t.expectEqual(run.output, { resumed: false, data: null }, "output");
            return runView(run);
        },
    },
    {
        name: "fixture-invoke",
        async run(t) {
            const id = t.send({ name: "fixture/invoke.parent", data: { n: 21 } });
            const parent = await t.finish(id);
            t.expectEqual(parent.output, { child: { doubled: 42 } }, "parent output");
            const child = [...t.emu.runs.values()].find((r) =>
                r.event.data?._inngest?.correlation_id?.startsWith(parent.id));
            t.expect(child?.status === "Completed", "child run completed");
            t.expectEqual(child?.output, { doubled: 42 }, "child output");
            return { parent: runView(parent), child: child ? { ...runView(child), event: child.event } : null };
        },
    },
    {
        name: "fixture-retry",
        async run(t) {
            const id = t.send({ name: "fixture/retry", data: {} });
            const run = await t.finish(id);
            t.expectEqual(run.output, { value: { recovered: true, attempt: 1 } }, "output");
            t.expectEqual(run.transcript.map((c) => c.attempt), [0, 1, 0], "attempts");
            t.expectEqual(JSON.parse(run.transcript[0].request.body).ctx.max_attempts, 3, "max_attempts (retries 2)");
            return runView(run);
        },
    },
    {
        name: "fixture-nonretriable",
        async run(t) {
            const id = t.send({ name: "fixture/nonretriable", data: {} });
            const run = await t.finish(id);
            t.expect(run.status === "Failed", `status ${run.status}`);
            t.expectEqual(run.output?.message, "permanent failure", "error message");
            t.expectEqual(run.transcript.map((c) => c.response?.status), [206, 400], "statuses (no retries)");
            t.expectEqual(run.transcript[1]?.response?.headers["x-inngest-no-retry"], "true", "X-Inngest-No-Retry");
            return runView(run);
        },
    },
    {
        name: "fixture-ai-infer-fails-once",
        async run(t) {
            const prompt = `fail-once:${t.mode}-infer what is 2+2?`;
            const id = t.send({ name: "fixture/ai.infer", data: { prompt } });
            const run = await t.finish(id);
            t.expectEqual(run.output, { answer: `echo: ${prompt}`, model: "gpt-4o-mini" }, "output");
            const calls = t.ai.requests.filter((r) => JSON.stringify(r.body).includes(prompt));
            t.expectEqual(calls.map((c) => c.answer), [503, 200], "model calls");
            t.expectEqual(calls[0]?.headers.authorization, "Bearer sk-test-conformance", "model auth header");
            return { ...runView(run), modelRequests: calls.map(aiView) };
        },
    },
    {
        name: "fixture-ai-infer-fails-always",
        async run(t) {
            const prompt = `fail-always (${t.mode})`;
            const id = t.send({ name: "fixture/ai.infer", data: { prompt } });
            const run = await t.finish(id);
            t.expect(run.status === "Failed", `status ${run.status}`);
            const calls = t.ai.requests.filter((r) => JSON.stringify(r.body).includes(prompt));
            t.expectEqual(calls.length, 5, "model calls (default 4 retries)");
            return { ...runView(run), modelRequests: calls.map(aiView) };
        },
    },
    {
        name: "step-limit-exceeded",
        async run(t) {
            const id = t.send({ name: "bench/many-steps", data: { n: 30 } });
            const run = await t.finish(id);
            t.expect(run.status === "Failed", `status ${run.status}`);
            t.expectEqual(run.output?.error?.name, "InngestErrFunctionOverflowed", "error name");
            t.expectEqual(classicCalls(run).length, 25, "calls (or checkpointed steps) before the limit");
            return runView(run);
        },
    },
    {
        name: "step-limit-within",
        async run(t) {
            const id = t.send({ name: "bench/many-steps", data: { n: 20 } });
            const run = await t.finish(id);
            t.expectEqual(run.output, { steps: 20, last: { i: 19, ok: true } }, "output");
            return runView(run);
        },
    },
    {
        // The real limit (1000 saved steps) with the fixture's default n = 1000: the server
        // checks the count before every call, so the call that would return the result is
        // refused and the run fails. Slow (1000 calls with growing bodies): --full only.
        name: "step-limit-default-1000",
        full: true,
        async run(t) {
            t.emu.stepLimits.delete(`${APP_ID}-bench-many-steps`);
            const id = t.send({ name: "bench/many-steps", data: {} });
            const run = await t.finish(id, { timeoutMs: 170000 });
            t.expect(run.status === "Failed", `status ${run.status}`);
            t.expectEqual(run.output?.error?.message, "The function run exceeded the step limit of 1000 steps.", "error");
            t.expectEqual(run.transcript.length, 1000, "calls");
            const v = runView(run);
            // Keep the outcome small: the first and last calls, and the call count.
            return { status: v.status, output: v.output, count: v.calls.length, first: v.calls[0], last: v.calls[v.calls.length - 1] };
        },
    },
    {
        // A correctly signed call is served and its answer signed; the same request with
        // one byte of the body changed, or without a signature, is refused.
        name: "signature-tampered-and-unsigned",
        modes: ["cloud"],
        async run(t) {
            const fn = t.emu.functions.get(`${APP_ID}-test-suite-simple-fn`);
            const call = t.emu.craftCall(fn, { name: "tests/function.test", data: { test: true } });
            const good = await request("POST", call.url, call);
            const tampered = await request("POST", call.url, { headers: call.headers, body: call.body.replace('"test":true', '"test":false') });
            const unsigned = { ...call.headers };
            delete unsigned["X-Inngest-Signature"];
            const nosig = await request("POST", call.url, { headers: unsigned, body: call.body });
            const wrongKey = { ...call.headers, "X-Inngest-Signature": signatureHeader("signkey-test-00ff", call.body) };
            const badkey = await request("POST", call.url, { headers: wrongKey, body: call.body });
            // 200 with the result, or, checkpointing, 206 [RunComplete].
            const done = good.status === 200 || (good.status === 206 && tryJson(good.body)?.[0]?.op === "RunComplete");
            t.expect(done, `signed call answered ${good.status}`);
            t.expect(tampered.status === 401, `tampered call answered ${tampered.status}`);
            t.expect(nosig.status === 401, `unsigned call answered ${nosig.status}`);
            t.expect(badkey.status === 401, `call signed with another key answered ${badkey.status}`);
            const view = (r) => ({ status: r.status, body: tryJson(r.body) ?? r.body, signed: !!r.headers["x-inngest-signature"] });
            return { good: view(good), tampered: view(tampered), unsigned: view(nosig), wrongKey: view(badkey) };
        },
    },
    {
        // The register call in cloud mode carries the hashed signing key as bearer token.
        name: "register-bearer",
        modes: ["cloud"],
        async run(t) {
            const reg = t.emu.registrations.find((r) => r.status === 200);
            t.expectEqual(reg?.headers.authorization, `Bearer ${hashedSigningKey(t.signingKey)}`, "Authorization");
            return { authorization: reg?.headers.authorization ? "<hashed key>" : null };
        },
    },
];

// ---- host-only: the chat functions ------------------------------------------------------------
//
// The reference app has no RAG store, so these run against the C host alone (`apps: ["c"]`)
// and check the contract of handle-chat and ingest-document instead of comparing. Each
// starts a host of its own (t.startChatHost: a fresh store seeded with docs/*.md, the
// hashing embedder, the fake model API as OPENAI_BASE_URL) and its own emulator.

// Runs `fn(host)` with a chat host started with `env`, and always stops it.
async function withChatHost(t, tag, env, fn) {
    const host = await t.startChatHost({ tag, env });
    try {
        const outcome = await fn(host);
        t.expectEqual(host.emu.unexpected.map((u) => `${u.method} ${u.path}`), [], "calls to routes the emulator does not serve");
        return outcome;
    } finally {
        await host.stop();
    }
}

// Sends `data` as event `name` to the chat host's emulator and waits for the run.
async function runOn(host, name, data) {
    const id = host.emu.sendEvents({ name, data })[0];
    return host.emu.waitForRun(id, { timeoutMs: 30000 });
}

function ask(host, question, extra = {}) {
    return runOn(host, "chat/message", { messages: [{ role: "user", content: question }], sessionId: "conformance", ...extra });
}

// Each call's answer as "<op> <step>" (206) or its status.
function callSummary(run) {
    return classicCalls(run).map((c) => c.ops ? c.ops.map((o) => `${o.op} ${o.name}`).join(", ") : String(c.status ?? c.error));
}

// The ops of call `i` of a run (classic numbering: see classicCalls).
function opsOf(run, i) {
    return classicCalls(run)[i]?.ops || [];
}

// handle-chat's output: {response, sessionId, sources:[{id,title,score}], model, usage}.
function checkChatOutput(t, run, { response, model, usage }) {
    const out = run.output || {};
    t.expectEqual(Object.keys(out).sort(), ["model", "response", "sessionId", "sources", "usage"], "output keys");
    if (typeof response === "string") t.expectEqual(out.response, response, "output.response");
    else t.expect(response(out.response ?? ""), `output.response: ${JSON.stringify(out.response)?.slice(0, 300)}`);
    t.expectEqual(out.sessionId, "conformance", "output.sessionId");
    t.expectEqual(out.model, model, "output.model");
    t.expectEqual(out.usage, usage, "output.usage");
    t.expect(Array.isArray(out.sources) && out.sources.length > 0, "output.sources is a non-empty list");
    for (const s of out.sources || []) {
        t.expectEqual(Object.keys(s).sort(), ["id", "score", "title"], "a source's keys");
    }
}

const FAKE_USAGE = { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 };

scenarios.push(
    {
        // Infer mode (the default): the host reports an AIGateway op, the executor calls the
        // model, and the host reads the saved answer.
        name: "chat-infer",
        apps: ["c"],
        async run(t) {
            return withChatHost(t, "chat-infer", {}, async (host) => {
                const question = `chat-infer (${t.mode}): how is a failed step retried?`;
                const run = await ask(host, question);
                t.expectEqual(run.status, "Completed", "status");
                t.expectEqual(callSummary(run), ["StepRun retrieve-context", "AIGateway generate-response", "200"], "calls");
                const passages = opsOf(run, 0)[0]?.data?.passages || [];
                t.expect(passages.length > 0 && passages.every((p) => p.id && p.source && typeof p.text === "string"),
                    "retrieve-context returns passages from the built-in documents");
                const o = opsOf(run, 1)[0]?.opts || {};
                t.expectEqual(o.url, `${t.ai.url}/v1/chat/completions`, "AIGateway url");
                t.expectEqual(o.format, "openai-chat", "AIGateway format");
                t.expectEqual(o.auth_key, "sk-test-conformance", "AIGateway auth_key");
                t.expectEqual(o.body?.model, "gpt-4o-mini", "AIGateway body.model");
                t.expectEqual(o.body?.messages?.at(-1), { role: "user", content: question }, "the question is the last message");
                t.expect(o.body?.messages?.[0]?.role === "system" && o.body.messages[0].content.includes("[1] "),
                    "the system prompt numbers the passages");
                const calls = t.ai.requests.filter((r) => JSON.stringify(r.body).includes(question));
                t.expectEqual(calls.length, 1, "model calls (made by the executor)");
                t.expectEqual(calls[0]?.headers.authorization, "Bearer sk-test-conformance", "model auth header");
                t.expectEqual(calls[0]?.body, o.body, "the executor sent the op's body");
                checkChatOutput(t, run, { response: `echo: ${question}`, model: "gpt-4o-mini", usage: FAKE_USAGE });
                return { calls: callSummary(run), output: run.output };
            });
        },
    },
    {
        // Run mode: the host calls the model itself inside step.run. A retriable model error
        // (503, 500) is a retriable step error: the step is retried and the run recovers, or
        // fails once the attempts are spent.
        name: "chat-run",
        apps: ["c"],
        async run(t) {
            const env = { CHAT_GENERATE_MODE: "run", OPENAI_MAX_RETRIES: "0" };
            return withChatHost(t, "chat-run", env, async (host) => {
                const question = `chat-run (${t.mode}): how is a failed step retried?`;
                const run = await ask(host, question);
                t.expectEqual(run.status, "Completed", "status");
                t.expectEqual(callSummary(run), ["StepRun retrieve-context", "StepRun generate-response", "200"], "calls");
                const calls = t.ai.requests.filter((r) => JSON.stringify(r.body).includes(question));
                t.expectEqual(calls.length, 1, "model calls (made by the host)");
                t.expectEqual(calls[0]?.headers.authorization, "Bearer sk-test-conformance", "model auth header");
                t.expectEqual(calls[0]?.body?.messages?.at(-1), { role: "user", content: question }, "the question is the last message");
                checkChatOutput(t, run, { response: `echo: ${question}`, model: "gpt-4o-mini", usage: FAKE_USAGE });

                const flaky = `fail-once:${t.mode}-chat-run what is a step?`;
                const again = await ask(host, flaky);
                t.expectEqual(again.status, "Completed", "fails-once status");
                t.expectEqual(callSummary(again),
                    ["StepRun retrieve-context", "StepError generate-response", "StepRun generate-response", "200"],
                    "fails-once calls");
                t.expect((opsOf(again, 1)[0]?.error?.message || "").includes("overloaded, try again"),
                    `the step error carries the provider's message: ${JSON.stringify(opsOf(again, 1)[0]?.error)}`);
                t.expectEqual(classicCalls(again).map((c) => c.attempt), [0, 0, 1, 0], "fails-once attempts");
                checkChatOutput(t, again, { response: `echo: ${flaky}`, model: "gpt-4o-mini", usage: FAKE_USAGE });

                const broken = `fail-always (${t.mode}) chat-run`;
                const failed = await ask(host, broken);
                t.expectEqual(failed.status, "Failed", "fails-always status");
                const modelCalls = t.ai.requests.filter((r) => JSON.stringify(r.body).includes(broken));
                t.expectEqual(modelCalls.length, 5, "fails-always model calls (1 + 4 retries)");
                t.expect(JSON.stringify(failed.output).includes("model exploded"), `fails-always output: ${JSON.stringify(failed.output)}`);
                return { calls: callSummary(run), retried: callSummary(again), failed: callSummary(failed), output: run.output };
            });
        },
    },
    {
        // No API key: generate-response returns the passages themselves and no model is
        // called. Also ingest-document through the executor, then a question restricted to
        // the new document.
        name: "chat-offline-and-ingest",
        apps: ["c"],
        async run(t) {
            return withChatHost(t, "chat-offline", { OPENAI_API_KEY: null }, async (host) => {
                const source = "conformance/zebra.md";
                const text = "# Zebra facts\n\nThe conformance zebra has exactly seventeen stripes.\n";
                const ingest = await runOn(host, "rag/document.added", { source, text });
                t.expectEqual(ingest.status, "Completed", "ingest status");
                t.expectEqual(callSummary(ingest), ["StepRun chunk", "StepRun embed-batch", "StepRun store", "200"], "ingest calls");
                t.expectEqual(ingest.output, { key: source, status: "added", chunks: 1 }, "ingest output");
                const twice = await runOn(host, "rag/document.added", { source, text });
                t.expectEqual(callSummary(twice), ["StepRun chunk", "StepRun store", "200"], "unchanged: no embed-batch");
                t.expectEqual(twice.output?.status, "unchanged", "second ingest status");

                const question = `chat-offline (${t.mode}): how many stripes has the conformance zebra?`;
                const run = await ask(host, question, { selectedFilePathnames: [source] });
                t.expectEqual(run.status, "Completed", "status");
                t.expectEqual(callSummary(run), ["StepRun retrieve-context", "StepRun generate-response", "200"], "calls");
                checkChatOutput(t, run, {
                    response: (r) => r.startsWith("No model was called") && r.split("\n")[0].includes("OPENAI_API_KEY") &&
                        r.includes("[1] Zebra facts (source: conformance/zebra.md)") && r.includes("seventeen stripes"),
                    model: "offline",
                    usage: null,
                });
                t.expectEqual(run.output?.sources?.map((s) => s.id), [`${source}#0`], "only the selected document");
                t.expectEqual(t.ai.requests.filter((r) => JSON.stringify(r.body).includes(question)).length, 0, "no model call");
                return { ingest: callSummary(ingest), calls: callSummary(run), output: run.output };
            });
        },
    },
);

function aiView(r) {
    return {
        path: r.path,
        headers: { authorization: r.headers.authorization, "content-type": r.headers["content-type"] },
        body: r.body,
        answer: r.answer,
    };
}
