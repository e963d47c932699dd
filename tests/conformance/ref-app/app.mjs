// Reference app: the same functions as the C host (functions/examples.c and
// functions/fixtures.c), written on the official JS SDK (npm `inngest`, pinned in
// package-lock.json). The conformance suite runs every scenario against this app and
// against the C host, and compares the two.
//
//   node ref-app/app.mjs [--port N]   (PORT env too; 0 picks a free port)
//
// Configuration comes from the usual SDK variables: INNGEST_DEV (dev server URL) for dev
// mode, or INNGEST_SIGNING_KEY + INNGEST_BASE_URL for cloud mode. It binds 127.0.0.1 only
// and prints "listening on http://127.0.0.1:<port>/api/inngest" when ready.
import http from "node:http";

import { Inngest, NonRetriableError } from "inngest";
import { serve } from "inngest/node";

const APP_ID = process.env.INNGEST_APP_ID || "inngest-c-ai-chat";

// Checkpointing (v4's default: steps run inline and are saved through POST
// /v1/checkpoint/{run}/async) stays on unless INNGEST_CHECKPOINTING=false, the switch the
// C host reads too; the runner sets it for both apps. Off, the SDK speaks the classic call
// protocol (one step per request, 206 ops).
const inngest = new Inngest({ id: APP_ID, checkpointing: process.env.INNGEST_CHECKPOINTING !== "false" });

const fns = [];
const fn = (opts, handler) => {
    const f = inngest.createFunction(opts, handler);
    fns.push(f);
    return f;
};

// ---- the seed app's examples (functions/examples.c) -------------------------------------

fn({ id: "hello-world", name: "Hello World", triggers: [{ event: "test/hello.world" }] },
    async ({ event, step }) => {
        await step.sleep("wait-a-moment", "1s");
        const email = typeof event.data?.email === "string" ? event.data.email : "there";
        return { message: `Hello ${email}!` };
    });

fn({ id: "process-data", name: "Process Data", triggers: [{ event: "data/process" }] },
    async ({ event, step }) => {
        const validated = await step.run("validate-data", () => {
            const data = event.data ?? null;
            const isObject = data !== null && typeof data === "object" && !Array.isArray(data);
            return { valid: isObject, data };
        });
        if (!validated.valid) return { error: "Invalid data" };
        const processed = await step.run("process-data", () => ({
            processed: true,
            result: validated.data,
        }));
        return { status: "success", result: processed.result, processedAt: new Date().toISOString() };
    });

// ---- conformance fixtures (functions/fixtures.c) ------------------------------------------

fn({ id: "fixture-parallel", triggers: [{ event: "fixture/parallel" }] }, async ({ step }) => {
    const [a, b] = await Promise.all([
        step.run("parallel-a", () => "A"),
        step.run("parallel-b", () => "B"),
    ]);
    await step.sleep("after-parallel", "1s");
    return { a, b, joined: a + b };
});

fn({ id: "fixture-wait", triggers: [{ event: "fixture/wait" }] }, async ({ step }) => {
    const resume = await step.waitForEvent("wait-for-resume", {
        event: "fixture/wait.resume",
        timeout: "10s",
        match: "data.id",
    });
    return resume ? { resumed: true, data: resume.data } : { resumed: false, data: null };
});

const child = fn({ id: "fixture-invoke-child", triggers: [{ event: "fixture/invoke.child" }] },
    async ({ event, step }) => {
        const doubled = await step.run("double", () => event.data.n * 2);
        return { doubled };
    });

fn({ id: "fixture-invoke-parent", triggers: [{ event: "fixture/invoke.parent" }] },
    async ({ event, step }) => {
        const result = await step.invoke("invoke-child", {
            function: child,
            data: { n: event.data.n },
            timeout: "1m",
        });
        return { child: result };
    });

fn({ id: "fixture-retry", retries: 2, triggers: [{ event: "fixture/retry" }] },
    async ({ step, attempt }) => {
        const value = await step.run("flaky-step", () => {
            if (attempt === 0) throw new Error("transient failure");
            return { recovered: true, attempt };
        });
        return { value };
    });

fn({ id: "fixture-nonretriable", triggers: [{ event: "fixture/nonretriable" }] },
    async ({ step }) => {
        await step.run("fail-permanently", () => {
            throw new NonRetriableError("permanent failure");
        });
        return { unreachable: true };
    });

fn({ id: "fixture-ai-infer", triggers: [{ event: "fixture/ai.infer" }] }, async ({ event, step }) => {
    const model = process.env.OPENAI_MODEL || "gpt-4o-mini";
    const res = await step.ai.infer("ask-model", {
        model: step.ai.models.openai({
            model,
            baseUrl: process.env.OPENAI_BASE_URL || "https://api.openai.com/v1",
            apiKey: process.env.OPENAI_API_KEY,
        }),
        body: { messages: [{ role: "user", content: event.data.prompt }] },
    });
    return { answer: res.choices[0].message.content, model };
});

fn({ id: "bench-many-steps", triggers: [{ event: "bench/many-steps" }] }, async ({ event, step }) => {
    const n = Number.isInteger(event.data?.n) ? event.data.n : 1000;
    let last = null;
    for (let i = 0; i < n; i++) last = await step.run(`s-${i}`, () => ({ i, ok: true }));
    return { steps: n, last };
});

// ---- Inngest's own conformance fixture (tests/conformance/golang in inngest/inngest) -------

fn({ id: "test-suite-simple-fn", triggers: [{ event: "tests/function.test" }] },
    async ({ event }) => ({ name: event.name, body: "ok" }));

fn({ id: "test-suite-step-test", triggers: [{ event: "tests/step.test" }] },
    async ({ event, step }) => {
        const first = await step.run("first step", () => "first step");
        await step.sleep("sleep", "2s");
        await step.run("second step", () => ({ first, second: true }));
        return { name: event.name, body: "ok" };
    });

// The Go fixture counts attempts in process globals; the attempt number gives the same
// sequence without state: the step fails on its first attempt, then the function fails
// on the first attempt of the call after it.
fn({ id: "test-suite-retry-test", triggers: [{ event: "tests/retry.test" }] },
    async ({ event, step, attempt }) => {
        await step.run("first step", () => {
            if (attempt === 0) throw new Error("broken");
            return "yes: 2";
        });
        if (attempt === 0) throw new Error("broken func");
        return { name: event.name, body: "ok" };
    });

fn({
    id: "test-suite-cancel-test",
    triggers: [{ event: "tests/cancel.test" }],
    cancelOn: [{ event: "cancel/please", if: "async.data.request_id == event.data.request_id" }],
}, async ({ event, step }) => {
    await step.sleep("sleep", "10s");
    await step.run("After the sleep",
        () => "This should be cancelled if a matching cancel event is received");
    return { name: event.name, body: "ok" };
});

fn({ id: "test-suite-wait-for-event", triggers: [{ event: "tests/wait.test" }] },
    async ({ step }) => {
        const resumed = await step.waitForEvent("wait", {
            event: "test/resume",
            if: "async.data.resume == true && async.data.id == event.data.id",
            timeout: "10s",
        });
        if (!resumed) return {};
        return { result: resumed.data };
    });

// ---- serve ---------------------------------------------------------------------------------

const handler = serve({ client: inngest, functions: fns });
const server = http.createServer((req, res) => {
    if (req.url.split("?")[0] === "/api/inngest") return handler(req, res);
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found\n");
});

const portArg = process.argv.indexOf("--port");
const port = Number(portArg > 0 ? process.argv[portArg + 1] : process.env.PORT || 0);
server.listen(port, "127.0.0.1", () => {
    const addr = server.address();
    console.log(`reference app listening on http://127.0.0.1:${addr.port}/api/inngest`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
