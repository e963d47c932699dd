// The official JS SDK (inngest 4.24.0, Node's http module) serving the same functions as
// the C host, for the comparison in tests/bench/run_bench.sh. Only used when no other JS
// app is given with --js-cmd.
//
//   PORT=3100 INNGEST_DEV=1 node app.mjs                     dev mode
//   PORT=3100 INNGEST_SIGNING_KEY=signkey-test-… node app.mjs  cloud mode
import http from "node:http";
import { Inngest } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: process.env.INNGEST_APP_ID || "inngest-c-ai-chat" });

// Same steps and results as functions/examples.c process-data.
const processData = inngest.createFunction(
  { id: "process-data", name: "Process Data", triggers: [{ event: "data/process" }] },
  async ({ event, step }) => {
    const validated = await step.run("validate-data", () => ({
      valid: typeof event.data === "object" && event.data !== null,
      data: event.data ?? null,
    }));
    if (!validated.valid) return { error: "Invalid data" };
    const processed = await step.run("process-data", () => ({
      processed: true,
      result: validated.data,
    }));
    return { status: "success", result: processed.result, processedAt: new Date().toISOString() };
  },
);

// The bench-many-steps fixture: n = event.data.n (default 1000) steps "s-<i>".
const manySteps = inngest.createFunction(
  { id: "bench-many-steps", triggers: [{ event: "bench/many-steps" }] },
  async ({ event, step }) => {
    const n = Number.isInteger(event.data?.n) ? event.data.n : 1000;
    let last = null;
    for (let i = 0; i < n; i++) last = await step.run(`s-${i}`, () => ({ i, ok: true }));
    return { steps: n, last };
  },
);

const handler = serve({ client: inngest, functions: [processData, manySteps] });
const port = Number(process.env.PORT || 3100);
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(404).end();
  })
  .listen(port, "127.0.0.1", () => console.error(`js app listening on 127.0.0.1:${port}`));
