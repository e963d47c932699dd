// A tiny OpenAI-compatible chat server, the target of step.ai.infer in the suite (the
// executor makes that call, so it must be reachable from the emulator, not the app).
// The last user message picks the behaviour, so concurrent scenarios share one server:
//   "fail-once:<token> ..."   the first request for <token> gets 503, later ones succeed
//   "fail-always ..."         every request gets 500
//   anything else             200 with content "echo: <prompt>" (streamed in pieces when
//                             the request says "stream": true)
//   "hold:<token> ..."        the same, but the first streamed request for <token> stops
//                             after its first piece until release(<token>) is called (or
//                             the client goes away); held(<token>) resolves once it stopped
import { listen, readBody, sendJson, tryJson } from "./http.mjs";

export async function startFakeOpenAI() {
    const seen = new Set();
    const requests = [];
    const holds = new Map(); // token -> {reached, onReached, go, release}
    const hold = (token) => {
        let h = holds.get(token);
        if (!h) {
            h = {};
            h.reached = new Promise((r) => (h.onReached = r));
            h.go = new Promise((r) => (h.release = r));
            holds.set(token, h);
        }
        return h;
    };
    const srv = await listen(async (req, res) => {
        const body = await readBody(req);
        const json = tryJson(body);
        const record = { method: req.method, path: req.url, headers: req.headers, body: json ?? body };
        requests.push(record);
        if (req.method !== "POST" || !req.url.endsWith("/chat/completions") || !json) {
            return sendJson(res, 404, { error: { message: "not found", type: "invalid_request_error" } });
        }
        const msgs = Array.isArray(json.messages) ? json.messages : [];
        const prompt = String([...msgs].reverse().find((m) => m.role === "user")?.content ?? "");
        const once = /^fail-once:(\S+)/.exec(prompt);
        if (once && !seen.has(once[1])) {
            seen.add(once[1]);
            record.answer = 503;
            return sendJson(res, 503, { error: { message: "overloaded, try again", type: "server_error" } });
        }
        if (prompt.startsWith("fail-always")) {
            record.answer = 500;
            return sendJson(res, 500, { error: { message: "model exploded", type: "server_error" } });
        }
        record.answer = 200;
        if (json.stream === true) {
            // Streamed (the host in CHAT_GENERATE_MODE=run): the same answer in word pieces,
            // then the usage chunk and [DONE].
            const chunk = (o) => `data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", model: json.model, ...o })}\n\n`;
            res.writeHead(200, { "Content-Type": "text/event-stream" });
            const held = /^hold:(\S+)/.exec(prompt);
            const h = held && !seen.has(`hold:${held[1]}`) ? hold(held[1]) : null;
            if (h) seen.add(`hold:${held[1]}`);
            let closed = false;
            const gone = new Promise((r) => res.on("close", () => r((closed = true))));
            for (const [i, piece] of (`echo: ${prompt}`.match(/\S+\s*|\s+/g) || []).entries()) {
                res.write(chunk({ choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] }));
                if (i === 0 && h) {
                    record.held = true;
                    h.onReached();
                    await Promise.race([h.go, gone]);
                    if (closed) return undefined; // the client went away mid-answer
                }
            }
            res.write(chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }));
            res.write(chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } }));
            return res.end("data: [DONE]\n\n");
        }
        return sendJson(res, 200, {
            id: "chatcmpl-fake",
            object: "chat.completion",
            created: 1700000000,
            model: json.model,
            choices: [{ index: 0, message: { role: "assistant", content: `echo: ${prompt}` }, finish_reason: "stop" }],
            usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
        });
    });
    return {
        url: srv.url,
        requests,
        held: (token) => hold(token).reached,
        release: (token) => hold(token).release(),
        close: () => {
            for (const h of holds.values()) h.release();
            return srv.close();
        },
    };
}
