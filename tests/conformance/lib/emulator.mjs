// Executor emulator: plays the part of `inngest dev` (or, with a signing key, of a
// self-hosted server that signs its calls) for one or more apps that speak the serve
// protocol. It reproduces what the Go server does on the wire, as far as an SDK can see:
// the sync ping, /fn/register validation, the event API, the run-result API, the call
// requests (JCS bodies, headers, query, ctx), and how each reply and opcode is handled.
// Run state lives in memory; every call of every run is kept in a transcript.
//
// What is scaled for tests: sleeps, wait/invoke timeouts, Retry-After and the retry
// backoff are multiplied by `timeScale` (a 10 s sleep takes 10 s * timeScale), and
// `retryDelayMs` replaces the backoff table with a fixed delay, like `--retry-interval`.
import crypto from "node:crypto";

import { compile as compileExpr } from "./cel.mjs";
import { parseDurationMs, sleepMs, YEAR_MS } from "./duration.mjs";
import { listen, readBody, request, sendJson, tryJson } from "./http.mjs";
import { canonicalize } from "./jcs.mjs";
import { bearerMatches, signatureHeader, verifySignature } from "./sign.mjs";
import { parseSeed, seededUlid, ulid } from "./ulid.mjs";

const DEV_ACCOUNT_ID = "00000000-0000-4000-a000-000000000000";
const ENV_ID = "00000000-0000-4000-b000-000000000000";
const DEFAULT_RETRIES = 4;
const MAX_RETRIES = 20;
const DEFAULT_STEP_LIMIT = 1000;
const MAX_OPS_PER_REPLY = 1000;
const BACKOFF_S = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200];
const KNOWN_OPS = [
    "None", "Step", "StepRun", "StepError", "StepPlanned", "Sleep", "WaitForEvent",
    "InvokeFunction", "AIGateway", "Gateway", "WaitForSignal", "RunComplete", "StepFailed",
    "SyncRunComplete", "DiscoveryRequest", "DeferAdd", "DeferAbort",
];
const OP_BY_LOWER = new Map(KNOWN_OPS.map((o) => [o.toLowerCase(), o]));
const LAZY_OPS = new Set(["DeferAdd", "DeferAbort"]);
const PRIORITY_OPS = new Set(["WaitForEvent", "DeferAdd", "DeferAbort"]);

// A deterministic UUID from a name, so a re-sync keeps function ids (the server derives
// them from app and slug).
function nameUuid(...parts) {
    const h = crypto.createHash("sha1").update(parts.join("\0")).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// util.NormalizeAppURL: drop deployId/probe, default ports, and spell loopback "localhost".
export function normalizeAppUrl(raw) {
    const u = new URL(raw.includes("://") ? raw : `http://${raw}`);
    u.searchParams.delete("deployId");
    u.searchParams.delete("probe");
    if (["127.0.0.1", "0.0.0.0", "localhost"].includes(u.hostname)) u.hostname = "localhost";
    return u.toString();
}

// Go's url.Values.Encode(): keys sorted, QueryEscape (space as "+").
function encodeQuery(params) {
    const keys = [...new Set([...params.keys()])].sort();
    const esc = (s) =>
        encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()*]/g, (c) =>
            "%" + c.charCodeAt(0).toString(16).toUpperCase());
    return keys.flatMap((k) => params.getAll(k).map((v) => `${esc(k)}=${esc(v)}`)).join("&");
}

function retryAfterMs(value, now = Date.now()) {
    if (!value) return null;
    let ms;
    if (value.length <= 7 && /^\d+$/.test(value.trim())) ms = Number(value) * 1000;
    else {
        const t = Date.parse(value);
        if (Number.isNaN(t)) return null;
        ms = t - now;
    }
    return Math.min(Math.max(ms, 1000), 24 * 3600 * 1000);
}

// Type and form checks of a RegisterRequest. The server decodes the body into typed Go
// structs, so a field of the wrong JSON type fails the whole request; on top of that the
// app URL must be an http(s) URL it can normalise, `sdk` must be "<language>:<version>",
// `deployType` "ping" or "connect", and each function config must have the shapes the
// function parser reads. Returns a list of problems (empty: well formed).
export function registerShapeErrors(r) {
    const errs = [];
    if (!r || typeof r !== "object" || Array.isArray(r)) return ["the body must be a JSON object"];
    const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
    const str = (v, what, required = false) => {
        if (v === undefined || v === null) {
            if (required) errs.push(`${what} is required`);
            return false;
        }
        if (typeof v !== "string") {
            errs.push(`${what} must be a string`);
            return false;
        }
        return true;
    };
    if (str(r.url, "url", true)) {
        let u = null;
        try {
            u = new URL(r.url);
        } catch {
            errs.push(`url ${JSON.stringify(r.url)} is not a URL`);
        }
        if (u && !["http:", "https:"].includes(u.protocol)) errs.push(`url ${JSON.stringify(r.url)} is not http(s)`);
    }
    if (str(r.v, "v", true) && r.v === "") errs.push("v is empty");
    if (str(r.deployType, "deployType", true) && !["ping", "connect"].includes(r.deployType)) {
        errs.push(`deployType ${JSON.stringify(r.deployType)} is not ping or connect`);
    }
    if (str(r.sdk, "sdk", true) && !/^[^:\s]+:[^:\s]+$/.test(r.sdk)) errs.push(`sdk ${JSON.stringify(r.sdk)} is not <language>:<version>`);
    str(r.appName, "appName");
    str(r.framework, "framework");
    str(r.appVersion, "appVersion");
    if (r.capabilities !== undefined && !isObj(r.capabilities)) errs.push("capabilities must be an object");
    for (const [k, v] of Object.entries(isObj(r.capabilities) ? r.capabilities : {})) str(v, `capabilities.${k}`);
    if (r.headers !== undefined && !isObj(r.headers)) errs.push("headers must be an object");
    if (r.functions !== undefined && r.functions !== null && !Array.isArray(r.functions)) errs.push("functions must be an array");
    (Array.isArray(r.functions) ? r.functions : []).forEach((f, i) => {
        const at = `functions[${i}]`;
        if (!isObj(f)) return errs.push(`${at} must be an object`);
        str(f.id, `${at}.id`);
        str(f.name, `${at}.name`);
        if (f.triggers !== undefined && !Array.isArray(f.triggers)) errs.push(`${at}.triggers must be an array`);
        (Array.isArray(f.triggers) ? f.triggers : []).forEach((t, j) => {
            if (!isObj(t)) return errs.push(`${at}.triggers[${j}] must be an object`);
            str(t.event, `${at}.triggers[${j}].event`);
            str(t.cron, `${at}.triggers[${j}].cron`);
            str(t.expression, `${at}.triggers[${j}].expression`);
        });
        if (!isObj(f.steps)) errs.push(`${at}.steps must be an object`);
        for (const [k, st] of Object.entries(isObj(f.steps) ? f.steps : {})) {
            const sat = `${at}.steps.${k}`;
            if (!isObj(st)) {
                errs.push(`${sat} must be an object`);
                continue;
            }
            str(st.id, `${sat}.id`);
            str(st.name, `${sat}.name`);
            if (!isObj(st.runtime)) errs.push(`${sat}.runtime must be an object`);
            else {
                str(st.runtime.type, `${sat}.runtime.type`);
                str(st.runtime.url, `${sat}.runtime.url`);
            }
            if (st.retries !== undefined && !isObj(st.retries)) errs.push(`${sat}.retries must be an object`);
            if (isObj(st.retries) && st.retries.attempts !== undefined && typeof st.retries.attempts !== "number") {
                errs.push(`${sat}.retries.attempts must be a number`);
            }
        }
        if (f.cancel !== undefined && f.cancel !== null && !Array.isArray(f.cancel)) errs.push(`${at}.cancel must be an array`);
        (Array.isArray(f.cancel) ? f.cancel : []).forEach((c, j) => {
            if (!isObj(c)) return errs.push(`${at}.cancel[${j}] must be an object`);
            str(c.event, `${at}.cancel[${j}].event`, true);
            str(c.if, `${at}.cancel[${j}].if`);
            str(c.timeout, `${at}.cancel[${j}].timeout`);
        });
        for (const k of ["concurrency", "priority", "batchEvents", "rateLimit", "throttle", "debounce", "singleton", "timeouts", "idempotency"]) {
            const v = f[k];
            if (v === undefined || v === null) continue;
            const ok = k === "concurrency" ? isObj(v) || Array.isArray(v) || typeof v === "number"
                : k === "idempotency" ? typeof v === "string" : isObj(v);
            if (!ok) errs.push(`${at}.${k} has the wrong type`);
        }
    });
    return errs;
}

class Run {
    constructor(fn, events, internalEventId) {
        this.id = ulid();
        this.fn = fn;
        this.events = events;
        this.event = events[0];
        this.internalEventId = internalEventId;
        this.steps = {};
        this.stack = [];
        this.status = "Running";
        this.output = undefined;
        this.requestVersion = -1;
        this.forceStepPlan = false;
        this.pending = null; // Set of step ids of a coalesced parallel group (version >= 2)
        this.transcript = [];
        this.timeline = [];
        this.jobs = new Set();
        this.timers = new Set();
        this.inflight = 0; // calls sent and not yet answered
        this.open = new Map(); // qi_id -> transcript entry of each call waiting for its answer
        this.groups = []; // the step ids of each parallel group (for views that sort them)
        this.startedAt = new Date();
        this.endedAt = null;
        this.seq = 0;
        this.waiters = [];
    }

    note(kind, detail = {}) {
        const entry = { at: Date.now() - this.startedAt.getTime(), kind, ...detail };
        this.timeline.push(entry);
        // Watchers resume in a microtask: before any timer of the run (a sleep's wake-up, a
        // wait's timeout) can fire, however slow the machine.
        this.watchers = (this.watchers || []).filter((w) => !(w.kind === kind && w.pred(entry) && (w.resolve(entry), true)));
    }
}

export class Emulator {
    // opts: signingKey (cloud-like server when set), eventKey (required on /e when set),
    // timeScale (default 1), retryDelayMs (fixed retry delay in real ms; default: the
    // server's table scaled by timeScale), serverKind ("dev" | "cloud"), log (fn),
    // holdCall (async fn(run, item), awaited before each call is sent: a test holds a call
    // back, e.g. a retry until the app it goes to is up again).
    constructor(opts = {}) {
        this.signingKey = opts.signingKey || null;
        this.eventKey = opts.eventKey || null;
        this.timeScale = opts.timeScale ?? 1;
        this.retryDelayMs = opts.retryDelayMs ?? null;
        // Real ms waited before every dispatch, standing for the server's queue (benchmarks).
        this.dispatchDelayMs = opts.dispatchDelayMs ?? 0;
        this.holdCall = opts.holdCall || null;
        this.serverKind = opts.serverKind || (this.signingKey ? "cloud" : "dev");
        this.log = opts.log || (() => {});
        this.apps = new Map(); // appName -> app
        this.functions = new Map(); // slug -> fn
        this.runs = new Map();
        this.events = new Map(); // internal id -> stored event
        this.pauses = new Set();
        this.stepLimits = new Map();
        // function slug, or internal event id (its runs only) -> statuses the checkpoint API
        // answers next, in order (fault injection)
        this.checkpointFaults = new Map();
        this.checkpointCalls = 0; // POST /v1/checkpoint/{run}/async requests, all runs
        this.registrations = []; // every /fn/register request and the answer
        this.unexpected = []; // requests to routes the emulator does not serve
        // Call answers the server would not accept (bad response signature in cloud mode,
        // a missing or non-integer X-Inngest-Req-Version): each failed its attempt.
        this.protocolErrors = [];
        this.idempotency = new Set();
        this.closed = false;
    }

    // Listens on 127.0.0.1:`port` (0: a free port).
    async start({ port = 0 } = {}) {
        this.http = await listen((req, res) => this.route(req, res).catch((err) => {
            this.log(`emulator: ${req.method} ${req.url}: ${err.stack || err}`);
            if (!res.headersSent) sendJson(res, 500, { error: String(err.message || err) });
        }), port);
        this.url = this.http.url;
        return this;
    }

    async stop() {
        this.closed = true;
        for (const run of this.runs.values()) this.clearTimers(run);
        for (const p of this.pauses) if (p.timer) clearTimeout(p.timer);
        this.pauses.clear();
        if (this.http) await this.http.close();
    }

    scaled(ms) {
        return Math.max(0, Math.round(ms * this.timeScale));
    }

    // ---- HTTP routes ---------------------------------------------------------------------

    async route(req, res) {
        const u = new URL(req.url, "http://x");
        const body = await readBody(req);
        const hdr = { "X-Inngest-Server-Kind": this.serverKind };
        const p = u.pathname;
        let m;
        if (req.method === "POST" && p === "/fn/register") return this.routeRegister(req, body, res, u);
        if (req.method === "POST" && (m = /^\/e\/([^/]*)$/.exec(p))) {
            return this.routeEvents(req, decodeURIComponent(m[1]), body, res);
        }
        if (req.method === "POST" && (m = /^\/invoke\/([^/]+)$/.exec(p))) {
            const evt = tryJson(body) || {};
            const id = this.invokeBySlug(decodeURIComponent(m[1]), evt);
            return sendJson(res, id ? 200 : 404, id ? { id, status: 200 } : { error: "function not found" }, hdr);
        }
        if (req.method === "GET" && p === "/health") return sendJson(res, 200, { status: 200, message: "OK" }, hdr);
        if (req.method === "GET" && (m = /^\/v1\/events\/([^/]+)\/runs$/.exec(p))) {
            if (!this.apiAuthorized(req)) return sendJson(res, 401, { error: "unauthorized" }, hdr);
            const runs = [...this.runs.values()].filter((r) => r.internalEventId === m[1]);
            return sendJson(res, 200, { data: runs.map((r) => this.runView(r, false)), metadata: this.meta() }, hdr);
        }
        if ((m = /^\/v1\/runs\/([^/]+)$/.exec(p)) && (req.method === "GET" || req.method === "DELETE")) {
            if (!this.apiAuthorized(req)) return sendJson(res, 401, { error: "unauthorized" }, hdr);
            const run = this.runs.get(m[1]);
            // The server answers 500, not 404, for an unknown run.
            if (!run) return sendJson(res, 500, { error: "run not found" }, hdr);
            if (req.method === "DELETE") this.cancelRun(run, "api");
            return sendJson(res, 200, { data: this.runView(run, true), metadata: this.meta() }, hdr);
        }
        if (req.method === "GET" && (m = /^\/v0\/runs\/([^/]+)\/(batch|actions)$/.exec(p))) {
            if (!this.apiAuthorized(req)) return sendJson(res, 401, { error: "unauthorized" }, hdr);
            const run = this.runs.get(m[1]);
            if (!run || run.status !== "Running") return sendJson(res, 410, { error: "run state is gone" }, hdr);
            return sendJson(res, 200, m[2] === "batch" ? run.events : this.memoFor(run), hdr);
        }
        if (req.method === "POST" && (m = /^\/v1\/checkpoint\/([^/]+)\/async$/.exec(p))) {
            return this.routeCheckpoint(req, decodeURIComponent(m[1]), body, res, hdr);
        }
        if ((req.method === "POST" || req.method === "DELETE") && p === "/fn/checkpoint-fault") {
            const slug = u.searchParams.get("functionId");
            if (req.method === "DELETE") this.checkpointFaults.delete(slug);
            else this.checkpointFaults.set(slug, (u.searchParams.get("statuses") || "").split(",").filter(Boolean).map(Number));
            return sendJson(res, 200, { ok: true }, hdr);
        }
        if ((req.method === "POST" || req.method === "DELETE") && p === "/fn/step-limit") {
            const slug = u.searchParams.get("functionId");
            if (req.method === "DELETE") this.stepLimits.delete(slug);
            else this.stepLimits.set(slug, Number(u.searchParams.get("limit")));
            return sendJson(res, 200, { ok: true }, hdr);
        }
        if (req.method === "GET" && p === "/dev") {
            return sendJson(res, 200, { version: "emulator", functions: [...this.functions.keys()] }, hdr);
        }
        this.unexpected.push({ method: req.method, path: p, query: u.search, headers: req.headers, body });
        return sendJson(res, 404, { error: "not found" }, hdr);
    }

    // POST /v1/checkpoint/{run_id}/async: an SDK that runs steps inline saves their results
    // here while the call that runs them is still open (JS v4 by default, Go opt-in). The
    // request names the queue item it runs for (qi_id); a call that is not open any more is
    // a stale dispatch, answered 409, as the server does. StepRun results are saved as if
    // a 206 had carried them, without scheduling a call; RunComplete ends the run.
    routeCheckpoint(req, runId, body, res, hdr) {
        this.checkpointCalls++;
        if (!this.apiAuthorized(req)) return sendJson(res, 401, { error: "unauthorized" }, hdr);
        const run = this.runs.get(runId);
        if (!run) return sendJson(res, 404, { error: "run not found" }, hdr);
        const b = tryJson(body);
        const record = { at: Date.now() - run.startedAt.getTime(), qi_id: b?.qi_id, steps: [] };
        const entry = run.open.get(b?.qi_id);
        (entry ? (entry.checkpoints ||= []) : (run.strayCheckpoints ||= [])).push(record);
        const answer = (status, json) => {
            record.status = status;
            run.note("checkpoint", { status, steps: record.steps.map((st) => st.id) });
            return sendJson(res, status, json, hdr);
        };
        const faults = this.checkpointFaults.get(run.internalEventId) || this.checkpointFaults.get(run.fn.slug);
        if (faults?.length) return answer(faults.shift(), { error: "injected fault" });
        if (!b || typeof b !== "object" || !Array.isArray(b.steps) || b.run_id !== runId) {
            return answer(400, { error: "invalid checkpoint request" });
        }
        if (b.fn_id !== run.fn.uuid) return answer(400, { error: "fn_id does not match the run" });
        if (run.status !== "Running" || !entry) return answer(409, { error: "stale dispatch" });
        for (const st of b.steps) {
            // What the server reads of each step; JS sends internal fields too.
            const keep = {};
            for (const k of ["id", "op", "name", "displayName", "opts", "data", "error", "userland"]) {
                if (st?.[k] !== undefined) keep[k] = st[k];
            }
            record.steps.push(keep);
            if (st?.op !== "StepRun" && st?.op !== "RunComplete") {
                return answer(400, { error: `op ${JSON.stringify(st?.op)} cannot be checkpointed` });
            }
        }
        for (const st of b.steps) {
            if (run.status !== "Running") break;
            if (st.op === "RunComplete") {
                this.finalize(run, "Completed", st.data ?? null);
                continue;
            }
            const limit = this.stepLimit(run.fn);
            if (!(st.id in run.steps) && Object.keys(run.steps).length >= limit) {
                // One step too many: the run fails, and the call that ran it is stale.
                run.note("step-limit", { limit });
                this.finalize(run, "Failed", {
                    error: {
                        error: "function has too many steps",
                        name: "InngestErrFunctionOverflowed",
                        message: `The function run exceeded the step limit of ${limit} steps.`,
                    },
                });
                return answer(409, { error: "the run has ended" });
            }
            this.saveStep(run, st.id, { data: st.data === undefined ? null : st.data });
        }
        return answer(200, {});
    }

    apiAuthorized(req) {
        return !this.signingKey || bearerMatches(this.signingKey, req.headers.authorization);
    }

    meta() {
        const now = new Date().toISOString();
        return { fetched_at: now, cached_until: now };
    }

    runView(run, withOutput) {
        const v = {
            run_id: run.id,
            run_started_at: run.startedAt.toISOString(),
            function_id: run.fn.uuid,
            function_version: run.fn.version,
            environment_id: ENV_ID,
            event_id: run.internalEventId,
            status: run.status,
            ended_at: run.endedAt ? run.endedAt.toISOString() : null,
        };
        if (withOutput && run.output !== undefined) v.output = run.output;
        return v;
    }

    // ---- sync ---------------------------------------------------------------------------

    // Sends the sync PUT to an app, like the dev server's ping (out-of-band: the SDK then
    // POSTs /fn/register) or like Inngest Cloud / the conformance runner (in-band: the
    // registration comes back in the reply). Returns what happened, for the transcript.
    async syncApp(appUrl, { inBand = false, sign = !!this.signingKey, bodyUrl } = {}) {
        const body = JSON.stringify({ url: bodyUrl ?? (inBand ? appUrl : normalizeAppUrl(appUrl)) });
        const headers = {
            "Content-Type": "application/json",
            "X-Inngest-Server-Kind": this.serverKind,
            "User-Agent": "Go-http-client/1.1",
        };
        if (inBand) headers["x-inngest-sync-kind"] = "in_band";
        if (sign && this.signingKey) headers["X-Inngest-Signature"] = signatureHeader(this.signingKey, body);
        const before = this.registrations.length;
        const out = { request: { method: "PUT", url: appUrl, headers, body } };
        try {
            const res = await request("PUT", appUrl, { headers, body, timeoutMs: 10000 });
            out.response = { status: res.status, headers: res.headers, body: res.body, json: tryJson(res.body) };
        } catch (err) {
            out.error = `unreachable: ${err.message}`;
            return out;
        }
        out.registrations = this.registrations.slice(before);
        if (inBand && out.response.status === 200 && out.response.json) {
            if (this.signingKey) {
                out.responseSignature = verifySignature(this.signingKey, out.response.body,
                    out.response.headers["x-inngest-signature"]);
            }
            const j = out.response.json;
            // The reply's own fields, as the server decodes them into strings.
            const shape = [];
            for (const k of ["url", "app_id", "framework", "sdk_language", "sdk_version", "sdk_author", "env", "platform"]) {
                if (j[k] !== undefined && j[k] !== null && typeof j[k] !== "string") shape.push(`${k} must be a string`);
            }
            if (!j.sdk && !(j.sdk_language && j.sdk_version)) shape.push("sdk_language and sdk_version are required");
            if (shape.length) {
                out.inBand = { status: 400, body: { error: `invalid in-band registration: ${shape.join("; ")}` } };
                return out;
            }
            const reg = {
                url: j.url,
                deployType: "ping",
                appName: j.app_id,
                framework: j.framework,
                sdk: j.sdk || `${j.sdk_language}:${j.sdk_version}`,
                functions: j.functions,
                capabilities: j.capabilities,
                v: "1",
            };
            out.inBand = this.register(reg, {});
        }
        return out;
    }

    routeRegister(req, body, res, u) {
        if (this.signingKey && !bearerMatches(this.signingKey, req.headers.authorization)) {
            this.registrations.push({ headers: req.headers, body, status: 401 });
            return sendJson(res, 401, { error: "Authentication failed" });
        }
        const parsed = tryJson(body);
        const result = parsed && typeof parsed === "object"
            ? this.register(parsed, { expectedKind: req.headers["x-inngest-expected-server-kind"] })
            : { status: 400, body: { error: "Invalid JSON" } };
        this.registrations.push({ headers: req.headers, query: u.search, body, json: parsed, status: result.status, answer: result.body });
        return sendJson(res, result.status, result.body, { "X-Inngest-Server-Kind": this.serverKind });
    }

    // Validates and stores a RegisterRequest. Returns {status, body}.
    register(reqBody, { expectedKind }) {
        if (expectedKind && expectedKind !== this.serverKind) {
            return { status: 400, body: { error: `Expected server kind ${this.serverKind}, got ${expectedKind}` } };
        }
        const shape = registerShapeErrors(reqBody);
        if (shape.length) return { status: 400, body: { error: `invalid register request: ${shape.join("; ")}` } };
        if (!reqBody.appName) return { status: 400, body: { error: "App ID required" } };
        const fns = Array.isArray(reqBody.functions) ? reqBody.functions : [];
        const errors = {};
        const parsed = [];
        for (const f of fns) {
            const errs = this.validateFunction(f);
            if (errs.length) errors[f.id || f.slug || "(no id)"] = errs;
            else parsed.push(f);
        }
        if (Object.keys(errors).length) {
            return {
                status: 400,
                body: { code: "invalid_function", error: "At least one function is invalid", data: errors, status: 400 },
            };
        }
        const { featureObservations, ...forSum } = reqBody;
        const checksum = crypto.createHash("sha256").update(JSON.stringify(forSum)).digest("hex");
        const existing = this.apps.get(reqBody.appName);
        const appId = nameUuid("app", reqBody.appName);
        if (existing && existing.checksum === checksum) {
            return { status: 200, body: { ok: true, modified: false, app_id: appId, sync_id: existing.syncId } };
        }
        const syncId = crypto.randomUUID();
        // Functions the app no longer has are archived.
        for (const [slug, fn] of this.functions) if (fn.appName === reqBody.appName) this.functions.delete(slug);
        for (const f of parsed) {
            const slug = f.id || f.slug;
            const step = Object.values(f.steps)[0];
            const attempts = step.retries?.attempts ?? (typeof f.retries === "number" ? f.retries : undefined);
            const retries = Math.min(attempts ?? DEFAULT_RETRIES, MAX_RETRIES);
            const prev = existing?.fnVersions?.[slug] ?? 0;
            this.functions.set(slug, {
                slug,
                uuid: nameUuid("fn", reqBody.appName, slug),
                appName: reqBody.appName,
                name: f.name,
                config: f,
                url: normalizeAppUrl(step.runtime.url),
                maxAttempts: retries + 1,
                version: prev + 1,
            });
        }
        const fnVersions = {};
        for (const [slug, fn] of this.functions) if (fn.appName === reqBody.appName) fnVersions[slug] = fn.version;
        this.apps.set(reqBody.appName, { checksum, syncId, url: reqBody.url, sdk: reqBody.sdk, fnVersions, request: reqBody });
        return { status: 200, body: { ok: true, modified: true, app_id: appId, sync_id: syncId } };
    }

    validateFunction(f) {
        const errs = [];
        if (!(f.id || f.slug)) errs.push("A function ID is required");
        if (!f.name) errs.push("A function name is required");
        const steps = f.steps && typeof f.steps === "object" ? Object.values(f.steps) : [];
        if (steps.length !== 1) errs.push("Functions must have exactly one step");
        for (const s of steps) {
            if (!s.name) errs.push("A step name is required");
            const url = s.runtime?.url;
            let proto = null;
            try {
                proto = url ? new URL(url).protocol : null;
            } catch {
                proto = null;
            }
            if (!["http:", "https:", "ws:", "wss:"].includes(proto)) errs.push("A step runtime URL is required");
            const a = s.retries?.attempts;
            if (a !== undefined && (!Number.isInteger(a) || a < 0)) errs.push("retries must be a non-negative integer");
        }
        const triggers = Array.isArray(f.triggers) ? f.triggers : [];
        if (triggers.length > 10) errs.push("Functions can have at most 10 triggers");
        const seen = new Set();
        for (const t of triggers) {
            const key = JSON.stringify(t);
            if (seen.has(key)) errs.push("Duplicate trigger");
            seen.add(key);
            if (!t.event && !t.cron) errs.push("A trigger needs an event or a cron");
            if (t.expression) this.checkExpr(t.expression, errs);
        }
        const cancel = Array.isArray(f.cancel) ? f.cancel : [];
        if (cancel.length > 5) errs.push("Functions can have at most 5 cancellation events");
        for (const c of cancel) {
            if (c.if) this.checkExpr(c.if, errs);
            if (c.timeout && parseDurationMs(c.timeout) === null) errs.push(`bad cancel timeout ${c.timeout}`);
        }
        if (f.batchEvents && (cancel.length || f.debounce || f.singleton)) {
            errs.push("Batching cannot be combined with cancellation, debounce or singleton");
        }
        return errs;
    }

    checkExpr(expr, errs) {
        try {
            compileExpr(expr);
        } catch (err) {
            errs.push(`expression does not compile: ${err.message}`);
        }
    }

    // ---- events --------------------------------------------------------------------------

    async routeEvents(req, key, body, res) {
        const hdr = { "X-Inngest-Server-Kind": this.serverKind };
        if (!key || (this.eventKey && key !== this.eventKey)) return sendJson(res, 401, { error: "Event key not found" }, hdr);
        let parsed = tryJson(body);
        if (parsed === undefined) return sendJson(res, 400, { ids: [], status: 400, error: "Invalid JSON" }, hdr);
        const list = Array.isArray(parsed) ? parsed : [parsed];
        const seed = parseSeed(req.headers["x-inngest-event-id-seed"]);
        const ids = [];
        for (let i = 0; i < list.length; i++) {
            const e = list[i];
            if (!e || typeof e !== "object" || !e.name) {
                return sendJson(res, 400, { ids, status: 400, error: "event name is empty" }, hdr);
            }
            if (String(e.name).startsWith("inngest/")) {
                return sendJson(res, 400, { ids, status: 400, error: "event name is reserved for internal use" }, hdr);
            }
            ids.push(this.publish(e, { internalId: seed ? seededUlid(seed, i) : undefined }));
        }
        return sendJson(res, 200, { ids, status: 200 }, hdr);
    }

    // Scenario helper: same path as POST /e/{key}. Returns the internal ids.
    sendEvents(events) {
        return (Array.isArray(events) ? events : [events]).map((e) => this.publish(e, {}));
    }

    // Normalises one event, stores it, then runs it through cancellations, pauses and
    // triggers, in that order (as the runner does). Returns the internal id.
    publish(input, { internalId, internal = false }) {
        const id = internalId || ulid();
        const evt = { name: input.name, data: input.data && typeof input.data === "object" ? { ...input.data } : {} };
        if (!internal) delete evt.data._inngest;
        evt.id = input.id || id;
        evt.ts = typeof input.ts === "number" && input.ts > 0 ? input.ts : Date.now();
        evt.user = input.user && typeof input.user === "object" ? input.user : {};
        if (input.v) evt.v = input.v;
        this.events.set(id, evt);
        if (this.closed) return id;
        this.matchCancellations(evt);
        this.matchPauses(evt);
        this.trigger(evt, id);
        return id;
    }

    trigger(evt, internalId) {
        if (evt.name === "inngest/function.invoked") {
            const fn = this.functions.get(evt.data?._inngest?.fn_id);
            if (fn) this.startRun(fn, [evt], internalId);
            return;
        }
        for (const fn of this.functions.values()) {
            const hit = (fn.config.triggers || []).some((t) => {
                if (t.event !== evt.name) return false;
                if (!t.expression) return true;
                try {
                    return compileExpr(t.expression)({ event: evt });
                } catch {
                    return false;
                }
            });
            if (!hit) continue;
            // The event id (the sender's, else the internal one, which a repeated
            // X-Inngest-Event-Id-Seed reproduces) is the run's idempotency key per function.
            const key = `${fn.slug}\0${evt.id}`;
            if (this.idempotency.has(key)) continue;
            this.idempotency.add(key);
            this.startRun(fn, [evt], internalId);
        }
    }

    invokeBySlug(slug, body) {
        if (!this.functions.has(slug)) return null;
        const data = { ...(body.data || {}) };
        data._inngest = { fn_id: slug, source: "invoke" };
        return this.publish({ name: "inngest/function.invoked", data, user: body.user }, { internal: true });
    }

    // ---- runs -----------------------------------------------------------------------------

    startRun(fn, events, internalEventId) {
        const run = new Run(fn, events, internalEventId);
        this.runs.set(run.id, run);
        for (const c of fn.config.cancel || []) {
            const timeout = c.timeout ? parseDurationMs(c.timeout) : YEAR_MS;
            this.addPause(run, { kind: "cancel", event: c.event, expr: c.if || null, timeoutMs: timeout });
        }
        run.note("started", { event: events[0].name });
        this.enqueue(run, { stepId: "step", attempt: 0, outgoing: null, job: `${run.id}-start` });
        return run;
    }

    clearTimers(run) {
        for (const t of run.timers) clearTimeout(t);
        run.timers.clear();
    }

    schedule(run, item, delayMs) {
        if (run.jobs.has(item.job)) return;
        run.jobs.add(item.job);
        const t = setTimeout(() => {
            run.timers.delete(t);
            run.jobs.delete(item.job);
            this.enqueue(run, item);
        }, delayMs);
        run.timers.add(t);
    }

    // An item starts as soon as it is due, without waiting for the other items of its run,
    // as the executor's queue workers do: the planned steps of a parallel group are called
    // concurrently. A call's transcript entry is added when it is sent, so the transcript
    // is in dispatch order, which does not depend on how fast the app answers.
    enqueue(run, item) {
        if (run.jobs.has(item.job)) return;
        run.jobs.add(item.job);
        if (this.dispatchDelayMs > 0) {
            const timer = setTimeout(() => {
                run.timers.delete(timer);
                this.dispatch(run, item);
            }, this.dispatchDelayMs);
            run.timers.add(timer);
        } else {
            this.dispatch(run, item);
        }
    }

    async dispatch(run, item) {
        run.jobs.delete(item.job);
        if (run.status !== "Running" || this.closed) return;
        run.inflight++;
        try {
            if (this.holdCall) {
                await this.holdCall(run, item);
                if (run.status !== "Running" || this.closed) return;
            }
            await this.execute(run, item);
        } catch (err) {
            this.log(`run ${run.id}: ${err.stack || err}`);
            this.finalize(run, "Failed", { error: { name: "EmulatorError", message: String(err.message || err) } });
        } finally {
            run.inflight--;
        }
    }

    stepLimit(fn) {
        return this.stepLimits.get(fn.slug) || DEFAULT_STEP_LIMIT;
    }

    memoFor(run) {
        const out = {};
        for (const id of run.stack) out[id] = run.steps[id];
        return out;
    }

    // Builds the call request exactly like driver.MarshalV1 + httpdriver.do.
    buildCall(run, item) {
        const u = new URL(run.fn.url);
        u.searchParams.set("stepId", item.stepId);
        const query = encodeQuery(u.searchParams);
        const url = `${u.origin}${u.pathname}${query ? "?" + query : ""}`;
        const idx = item.outgoing ? run.stack.indexOf(item.outgoing) + 1 : 0;
        const requestId = ulid();
        const jobId = `${run.fn.uuid}:${item.job}`;
        const bodyObj = {
            ctx: {
                attempt: item.attempt,
                disable_immediate_execution: run.forceStepPlan,
                env: "",
                fn_id: run.fn.uuid,
                job_id: jobId,
                max_attempts: run.fn.maxAttempts,
                qi_id: `${run.id}:${item.job}`,
                request_id: requestId,
                run_id: run.id,
                stack: { current: idx, stack: [...run.stack] },
                step_id: "step",
                use_api: false,
            },
            defers: {},
            event: run.event,
            events: run.events,
            steps: this.memoFor(run),
            use_api: false,
            version: run.requestVersion,
        };
        const body = canonicalize(bodyObj);
        const headers = {
            "Content-Type": "application/json",
            "User-Agent": "Go-http-client/1.1",
            Connection: "close",
            "X-Run-ID": run.id,
            "x-request-id": requestId,
            "x-inngest-job-id": jobId,
            "x-inngest-req-version": String(run.requestVersion),
            "X-Inngest-Step-ID": item.stepId,
            "account-id": DEV_ACCOUNT_ID,
            traceparent: `00-${crypto.randomBytes(16).toString("hex")}-${crypto.randomBytes(8).toString("hex")}-01`,
            tracestate: `inngest@app=${run.fn.appName},inngest@fn=${run.fn.slug}`,
        };
        if (this.signingKey) headers["X-Inngest-Signature"] = signatureHeader(this.signingKey, body);
        return { url, headers, body };
    }

    async execute(run, item) {
        if (item.beforeCall && !item.beforeDone) {
            item.beforeDone = true;
            // e.g. a sleep that woke up: save its null result first; when other steps of
            // its parallel group are still pending, no call is made yet.
            if (item.beforeCall() === "stop") return;
        }
        const limit = this.stepLimit(run.fn);
        if (Object.keys(run.steps).length >= limit) {
            run.note("step-limit", { limit });
            return this.finalize(run, "Failed", {
                error: {
                    error: "function has too many steps",
                    name: "InngestErrFunctionOverflowed",
                    message: `The function run exceeded the step limit of ${limit} steps.`,
                },
            });
        }
        const call = this.buildCall(run, item);
        const entry = {
            seq: ++run.seq,
            at: Date.now() - run.startedAt.getTime(),
            stepId: item.stepId,
            attempt: item.attempt,
            request: { method: "POST", url: call.url, headers: call.headers, body: call.body },
        };
        run.transcript.push(entry);
        entry.sentAt = performance.now();
        const qi = JSON.parse(call.body).ctx.qi_id;
        run.open.set(qi, entry);
        let res;
        try {
            res = await request("POST", call.url, { headers: call.headers, body: call.body, timeoutMs: 60000 });
        } catch (err) {
            run.open.delete(qi);
            entry.answeredAt = performance.now();
            entry.error = `Unable to reach SDK URL: ${err.message}`;
            if (run.status !== "Running") return;
            return this.retryOrFail(run, item, { output: { error: entry.error }, noRetry: false });
        }
        run.open.delete(qi);
        entry.answeredAt = performance.now();
        entry.response = { status: res.status, headers: res.headers, body: res.body };
        run.waiters.splice(0).forEach((w) => w());
        // Another call of the same run may have ended it meanwhile (a parallel step that
        // failed the run): the executor drops this answer.
        if (run.status !== "Running") return;
        if (this.signingKey) {
            // In cloud mode the answer must be signed with the key that signed the call; an
            // unsigned or wrongly signed answer fails the attempt like a transport error.
            entry.responseSignature = verifySignature(this.signingKey, res.body, res.headers["x-inngest-signature"]);
            if (entry.responseSignature !== true) {
                return this.rejectAnswer(run, item, entry, `invalid response signature: ${entry.responseSignature}`);
            }
        }
        return this.handleResponse(run, item, res, entry);
    }

    // Fails the attempt of `item` because its answer broke the protocol; kept in
    // protocolErrors so that the suite reports it even when a retry recovers.
    rejectAnswer(run, item, entry, reason) {
        entry.rejected = reason;
        this.protocolErrors.push({ run: run.id, function: run.fn.slug, stepId: item.stepId, attempt: item.attempt, reason });
        run.note("answer-rejected", { reason });
        return this.retryOrFail(run, item, { output: { error: { name: "Error", message: reason } }, noRetry: false });
    }

    async handleResponse(run, item, res, entry = {}) {
        let { status, headers, body } = res;
        const fromSdk = headers["x-inngest-sdk"] !== undefined;
        if (status === 201 && fromSdk) {
            // Streaming: whitespace heartbeats, then a wrapper with the real answer.
            const w = tryJson(body.trim());
            if (!w || typeof w.status !== "number") {
                return this.retryOrFail(run, item, { output: { error: "invalid streaming response" }, noRetry: false });
            }
            status = w.status;
            headers = { ...headers, ...Object.fromEntries(Object.entries(w.headers || {}).map(([k, v]) => [k.toLowerCase(), v])) };
            body = typeof w.body === "string" ? w.body : JSON.stringify(w.body ?? null);
        }
        if (fromSdk) {
            // X-Inngest-Req-Version is required on every answer of an SDK, as a decimal
            // integer; the executor stores it as the run's request version.
            const rv = headers["x-inngest-req-version"];
            if (typeof rv !== "string" || !/^-?\d{1,9}$/.test(rv.trim())) {
                return this.rejectAnswer(run, item, entry, `invalid X-Inngest-Req-Version ${JSON.stringify(rv)}`);
            }
        }
        const parsed = tryJson(body);
        if (status >= 200 && status < 300 && !fromSdk) {
            // ErrNotSDK: a 2xx from something that is not an SDK (a proxy page, say).
            return this.retryOrFail(run, item, {
                output: { error: { name: "Error", message: "Server returned a non-SDK response" } },
                noRetry: false,
            });
        }
        if (status === 206) return this.handleOps(run, item, parsed, headers);
        if (status >= 200 && status < 300) {
            return this.finalize(run, "Completed", parsed === undefined ? body : parsed);
        }
        // An error answer. X-Inngest-No-Retry decides when present; else 5xx and (for any
        // modern SDK) 4xx are retried.
        const nr = headers["x-inngest-no-retry"];
        const noRetry = nr !== undefined ? nr === "true" : false;
        const output = fromSdk
            ? (parsed === undefined ? body : parsed)
            : { error: { name: "Error", message: `Server returned a fatal error (status ${status})`, stack: body.slice(0, 1024) } };
        return this.retryOrFail(run, item, { output, noRetry, retryAfter: headers["retry-after"] });
    }

    retryOrFail(run, item, { output, noRetry, retryAfter }) {
        if (!noRetry && item.attempt + 1 < run.fn.maxAttempts) {
            const ra = retryAfterMs(retryAfter);
            const delay = ra !== null
                ? this.scaled(ra)
                : this.retryDelayMs ?? this.scaled((BACKOFF_S[Math.min(item.attempt, BACKOFF_S.length - 1)] + Math.random() * 30) * 1000);
            run.note("retry", { stepId: item.stepId, attempt: item.attempt + 1, delayMs: delay });
            const next = { ...item, attempt: item.attempt + 1, job: `${item.job}#${item.attempt + 1}` };
            return this.schedule(run, next, delay);
        }
        return this.finalize(run, "Failed", output);
    }

    async handleOps(run, item, parsed, headers) {
        let ops = parsed;
        if (ops && !Array.isArray(ops) && typeof ops === "object") ops = [ops];
        if (!Array.isArray(ops)) {
            return this.retryOrFail(run, item, { output: { error: "invalid generator response" }, noRetry: false });
        }
        try {
            ops = ops.map((o) => {
                const name = OP_BY_LOWER.get(String(o?.op ?? "").toLowerCase());
                if (!name) throw new Error(`unknown opcode ${JSON.stringify(o?.op)}`);
                if (name === "StepError" && !o.error) throw new Error("StepError without error");
                if (name === "StepRun" && o.opts?.input !== undefined && !Array.isArray(o.opts.input)) {
                    throw new Error("opts.input must be an array");
                }
                return { ...o, op: name };
            });
        } catch (err) {
            run.note("parse-error", { message: err.message });
            return this.retryOrFail(run, item, { output: { error: err.message }, noRetry: false });
        }
        const nonLazy = ops.filter((o) => !LAZY_OPS.has(o.op) && o.op !== "None");
        if (run.requestVersion === -1) run.requestVersion = Number(headers["x-inngest-req-version"].trim());
        if (nonLazy.length > 1) run.forceStepPlan = true;
        if (ops.length > MAX_OPS_PER_REPLY) {
            return this.finalize(run, "Failed", {
                error: {
                    error: "function has too many steps",
                    name: "InngestErrFunctionOverflowed",
                    message: `The function run exceeded the step limit of ${DEFAULT_STEP_LIMIT} steps.`,
                },
            });
        }
        if (ops.every((o) => o.op === "None")) {
            // Nothing to do and nothing finished: start discovery again.
            return this.discover(run, run.stack[run.stack.length - 1] || "redrive", { force: true });
        }
        const complete = ops.find((o) => o.op === "RunComplete" || o.op === "SyncRunComplete");
        if (complete) {
            // A checkpointing SDK ends a run with the steps it had not saved yet and the
            // result: save those, then finish; no call follows.
            for (const o of ops) if (o.op === "StepRun") this.saveStep(run, o.id, { data: o.data === undefined ? null : o.data });
            return this.finalize(run, "Completed", complete.data ?? null);
        }
        const ids = nonLazy.map((o) => o.id);
        let coalesceKey = null;
        if (ops.some((o) => o.op === "StepPlanned") && ids.length > 1 && run.requestVersion >= 2) {
            coalesceKey = crypto.createHash("sha1").update(run.id + ids.join(",")).digest("hex").slice(0, 16);
            run.pending = new Set(ids);
        }
        if (ids.length > 1) run.groups.push(ids);
        const noRetry = headers["x-inngest-no-retry"] === "true";
        // Priority ops first; within each group the ops are handled concurrently (a planned
        // step is called at once, an AIGateway call does not wait for another).
        for (const group of [ops.filter((o) => PRIORITY_OPS.has(o.op)), ops.filter((o) => !PRIORITY_OPS.has(o.op))]) {
            if (run.status !== "Running") return;
            await Promise.all(group.map((op) => this.handleOp(run, item, op, { coalesceKey, noRetry, headers })));
        }
    }

    // Saves a step result; returns true while other steps of a parallel group are pending.
    saveStep(run, id, value) {
        run.steps[id] = value;
        if (!run.stack.includes(id)) run.stack.push(id);
        if (run.pending) {
            run.pending.delete(id);
            if (run.pending.size) return true;
            run.pending = null;
        }
        return false;
    }

    // Queues the next `stepId=step` call, unless a parallel group still has pending steps.
    discover(run, outgoing, { hasPending = false, coalesceKey = null, force = false } = {}) {
        if (hasPending && !force) return;
        // maybeResetForceStepPlan: with version >= 2 the parallel group is over.
        if (run.requestVersion >= 2) run.forceStepPlan = false;
        const job = coalesceKey ? `${run.id}-${coalesceKey}-discover` : `${run.id}-${outgoing}`;
        this.enqueue(run, { stepId: "step", attempt: 0, outgoing, job });
    }

    async handleOp(run, item, op, { coalesceKey, noRetry, headers }) {
        const id = op.id;
        run.note("op", { op: op.op, id, name: op.name });
        switch (op.op) {
            case "None":
            case "DeferAdd":
            case "DeferAbort":
                return;
            case "StepRun":
            case "Step": {
                const value = op.op === "Step" ? op.data ?? null : { data: op.data === undefined ? null : op.data };
                return this.discover(run, id, { hasPending: this.saveStep(run, id, value), coalesceKey });
            }
            case "StepError":
                if (!noRetry && item.attempt + 1 < run.fn.maxAttempts) {
                    // Retry the same queue item; nothing is saved.
                    return this.retryOrFail(run, item, { output: { error: op.error }, noRetry: false, retryAfter: headers["retry-after"] });
                }
            // falls through: the final attempt (or no-retry) turns it into StepFailed
            case "StepFailed": {
                const error = { ...op.error };
                if (noRetry && op.op === "StepError") error.noRetry = true;
                return this.discover(run, id, { hasPending: this.saveStep(run, id, { error }), coalesceKey });
            }
            case "StepPlanned":
                return this.enqueue(run, { stepId: id, attempt: 0, outgoing: item.outgoing, job: `${run.id}-${id}-plan`, coalesceKey });
            case "Sleep": {
                const ms = sleepMs(op.opts?.duration || op.name);
                if (ms === null || ms > YEAR_MS) {
                    return this.finalize(run, "Failed", { error: { name: "Error", message: `invalid sleep duration ${op.opts?.duration || op.name}` } });
                }
                run.note("sleep", { id, ms });
                const wake = {
                    stepId: "step", attempt: 0, outgoing: id, job: `${run.id}-${id}-sleep`,
                    beforeCall: () => {
                        if (this.saveStep(run, id, null)) return "stop";
                        if (run.requestVersion >= 2) run.forceStepPlan = false;
                        return undefined;
                    },
                };
                return this.schedule(run, wake, this.scaled(ms));
            }
            case "WaitForEvent": {
                const event = op.opts?.event || op.name;
                const timeoutStr = op.opts?.timeout ?? "";
                const timeout = timeoutStr === "" ? 0 : parseDurationMs(timeoutStr);
                if (timeout === null || timeout > YEAR_MS) {
                    return this.finalize(run, "Failed", { error: { name: "Error", message: `invalid timeout ${timeoutStr}` } });
                }
                if (op.opts?.if) {
                    try {
                        compileExpr(op.opts.if);
                    } catch (err) {
                        return this.finalize(run, "Failed", { error: { name: "Error", message: err.message } });
                    }
                }
                return this.addPause(run, { kind: "wait", id, event, expr: op.opts?.if || null, timeoutMs: timeout, coalesceKey });
            }
            case "InvokeFunction": {
                const slug = op.opts?.function_id;
                const timeoutMs = op.opts?.timeout ? parseDurationMs(op.opts.timeout) : YEAR_MS;
                const correlationId = `${run.id}.${id}`;
                this.addPause(run, { kind: "invoke", id, event: "inngest/function.finished", correlationId, timeoutMs, coalesceKey });
                const payload = op.opts?.payload || {};
                const data = { ...(payload.data || {}) };
                data._inngest = {
                    fn_id: slug,
                    correlation_id: correlationId,
                    expire: Date.now() + this.scaled(timeoutMs),
                    gid: crypto.randomUUID(),
                    name: "inngest/function.invoked",
                    source_app_id: nameUuid("app", run.fn.appName),
                    source_fn_id: run.fn.uuid,
                    source_fn_v: run.fn.version,
                };
                if (!this.functions.has(slug)) {
                    run.note("invoke-unknown", { slug });
                }
                this.publish({ name: "inngest/function.invoked", data, user: payload.user, v: payload.v }, { internal: true });
                return;
            }
            case "AIGateway":
                return this.handleAI(run, item, op, coalesceKey);
            case "Gateway":
                return this.handleGateway(run, item, op, coalesceKey);
            case "RunComplete":
            case "SyncRunComplete":
                return this.finalize(run, "Completed", op.data ?? null);
            case "DiscoveryRequest":
                return this.discover(run, run.stack[run.stack.length - 1] || "discovery", { force: true });
            default:
                // WaitForSignal needs the signals API, which the emulator does not serve.
                return this.finalize(run, "Failed", { error: { name: "Error", message: `opcode ${op.op} is not supported by the emulator` } });
        }
    }

    async handleAI(run, item, op, coalesceKey) {
        const o = op.opts || {};
        const headers = { "content-type": "application/json" };
        let url = o.url;
        const fmt = o.format || "openai-chat";
        if (o.auth_key) {
            if (fmt === "anthropic") headers["x-api-key"] = o.auth_key;
            else if (fmt === "gemini") url += (url.includes("?") ? "&" : "?") + "key=" + encodeURIComponent(o.auth_key);
            else if (fmt === "bedrock") headers.authorization = o.auth_key;
            else headers.authorization = `Bearer ${o.auth_key}`;
        }
        Object.assign(headers, o.headers || {});
        const body = JSON.stringify(o.body ?? {});
        let status = 0;
        let text = "";
        let failure = null;
        try {
            const res = await request("POST", url, { headers, body, timeoutMs: 60000 });
            status = res.status;
            text = res.body;
            if (status > 299) failure = `Error making AI request: unsuccessful status code: ${status}`;
        } catch (err) {
            failure = `Error making AI request: ${err.message}`;
        }
        let json = tryJson(text);
        if (!failure && json === undefined) failure = "Error making AI request: response is not JSON";
        run.note("ai", { id: op.id, url, status, failure });
        if (failure) {
            if (item.attempt + 1 < run.fn.maxAttempts) {
                return this.retryOrFail(run, item, { output: { error: failure }, noRetry: false });
            }
            const error = { name: "AIGatewayError", message: failure, data: json ?? text, stack: text };
            return this.discover(run, op.id, { hasPending: this.saveStep(run, op.id, { error }), coalesceKey });
        }
        return this.discover(run, op.id, { hasPending: this.saveStep(run, op.id, { data: json }), coalesceKey });
    }

    async handleGateway(run, item, op, coalesceKey) {
        const o = op.opts || {};
        const method = (o.method || "POST").toUpperCase();
        try {
            const res = await request(method, o.url, {
                headers: o.headers || {},
                body: method === "GET" || method === "HEAD" ? null : String(o.body ?? ""),
                timeoutMs: 60000,
            });
            const headers = {};
            for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(",") : v;
            const data = { url: o.url, headers, body: res.body, status_code: res.status };
            return this.discover(run, op.id, { hasPending: this.saveStep(run, op.id, { data }), coalesceKey });
        } catch (err) {
            if (item.attempt + 1 < run.fn.maxAttempts) {
                return this.retryOrFail(run, item, { output: { error: err.message }, noRetry: false });
            }
            const error = { name: "GatewayError", message: err.message };
            return this.discover(run, op.id, { hasPending: this.saveStep(run, op.id, { error }), coalesceKey });
        }
    }

    // ---- pauses: waits, invokes, cancellations ----------------------------------------------

    addPause(run, p) {
        const pause = { ...p, run, createdAt: Date.now() };
        if (p.expr) pause.fn = compileExpr(p.expr);
        this.pauses.add(pause);
        run.note("pause", { pauseKind: p.kind, id: p.id, event: p.event, timeoutMs: p.timeoutMs });
        if (p.kind !== "cancel" || p.timeoutMs < YEAR_MS) {
            pause.timer = setTimeout(() => this.expirePause(pause), this.scaled(p.timeoutMs));
            run.timers.add(pause.timer);
        }
        return pause;
    }

    expirePause(pause) {
        if (!this.pauses.delete(pause)) return;
        const run = pause.run;
        run.timers.delete(pause.timer);
        if (run.status !== "Running" || pause.kind === "cancel") return;
        run.note("pause-timeout", { pauseKind: pause.kind, id: pause.id });
        const value = pause.kind === "invoke"
            ? {
                error: {
                    name: "InngestInvokeTimeoutError",
                    message: "Timed out waiting for invoked function to complete",
                    error: "InngestInvokeTimeoutError: Timed out waiting for invoked function to complete",
                },
            }
            : null;
        const hasPending = this.saveStep(run, pause.id, value);
        this.discover(run, pause.id, { hasPending, coalesceKey: pause.coalesceKey });
    }

    matchPauses(evt) {
        for (const pause of [...this.pauses]) {
            if (pause.kind === "cancel" || pause.event !== evt.name) continue;
            const run = pause.run;
            if (run.status !== "Running") {
                this.pauses.delete(pause);
                continue;
            }
            let hit;
            if (pause.kind === "invoke") hit = evt.data?.correlation_id === pause.correlationId;
            else hit = !pause.fn || pause.fn({ event: run.event, async: evt });
            if (!hit) continue;
            this.pauses.delete(pause);
            if (pause.timer) {
                clearTimeout(pause.timer);
                run.timers.delete(pause.timer);
            }
            run.note("pause-resumed", { pauseKind: pause.kind, id: pause.id });
            let value;
            if (pause.kind === "invoke") {
                value = evt.data.error !== undefined ? { error: evt.data.error } : { data: evt.data.result ?? null };
            } else {
                value = { ...evt };
            }
            const hasPending = this.saveStep(run, pause.id, value);
            this.discover(run, pause.id, { hasPending, coalesceKey: pause.coalesceKey });
        }
    }

    matchCancellations(evt) {
        for (const pause of [...this.pauses]) {
            if (pause.kind !== "cancel" || pause.event !== evt.name) continue;
            const run = pause.run;
            if (run.status !== "Running") {
                this.pauses.delete(pause);
                continue;
            }
            if (pause.fn && !pause.fn({ event: run.event, async: evt })) continue;
            this.cancelRun(run, evt.name);
        }
    }

    cancelRun(run, reason) {
        if (run.status !== "Running") return;
        run.note("cancelled", { reason });
        this.finalize(run, "Cancelled", undefined);
    }

    // Ends a run, then emits inngest/function.finished (and .failed / .cancelled), which is
    // how invoking parents and onFailure handlers learn about it.
    finalize(run, status, output) {
        if (run.status !== "Running") return;
        run.status = status;
        run.output = output;
        run.endedAt = new Date();
        this.clearTimers(run);
        for (const p of [...this.pauses]) if (p.run === run) this.pauses.delete(p);
        run.note("finished", { status });
        run.waiters.splice(0).forEach((w) => w());
        const inv = run.event.name === "inngest/function.invoked" ? run.event.data?._inngest : null;
        const data = {
            function_id: run.fn.slug,
            run_id: run.id,
            event: run.event,
            events: run.events,
            _inngest: { status },
        };
        if (inv?.correlation_id) data.correlation_id = inv.correlation_id;
        if (status === "Completed") data.result = output ?? null;
        else data.error = status === "Cancelled"
            ? { name: "InngestErrFunctionCancelled", message: "function cancelled" }
            : output;
        queueMicrotask(() => {
            if (this.closed) return;
            if (status === "Cancelled") this.publish({ name: "inngest/function.cancelled", data }, { internal: true });
            this.publish({ name: "inngest/function.finished", data }, { internal: true });
            if (status === "Failed") this.publish({ name: "inngest/function.failed", id: run.id, data }, { internal: true });
        });
    }

    // ---- helpers for scenarios ----------------------------------------------------------------

    // The first call request a new run of `fn` for `input` would get, without starting the
    // run: for tests that replay, alter or strip a real, signed call.
    craftCall(fn, input) {
        const evt = { name: input.name, data: input.data || {}, id: ulid(), ts: Date.now(), user: input.user || {} };
        const run = new Run(fn, [evt], evt.id);
        return this.buildCall(run, { stepId: "step", attempt: 0, outgoing: null, job: `${run.id}-start` });
    }

    runsForEvent(internalId) {
        return [...this.runs.values()].filter((r) => r.internalEventId === internalId);
    }

    // Resolves with the first run of `internalId` whose status is final, or rejects.
    async waitForRun(internalId, { timeoutMs = 20000, fnSlug } = {}) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const run = this.runsForEvent(internalId).find((r) => !fnSlug || r.fn.slug === fnSlug);
            // Also waits for the calls in flight: a checkpoint can end a run while the
            // call that sent it is still running.
            if (run && run.status !== "Running" && run.inflight === 0) return run;
            if (Date.now() > deadline) {
                throw new Error(`no finished run for event ${internalId} after ${timeoutMs} ms` +
                    (run ? ` (run ${run.id} is ${run.status} after ${run.transcript.length} calls)` : " (no run started)"));
            }
            await new Promise((r) => setTimeout(r, 10));
        }
    }

    // Resolves when `pred(run)` holds, checking after every call and state change.
    async waitUntil(run, pred, timeoutMs = 10000) {
        const deadline = Date.now() + timeoutMs;
        while (!pred(run)) {
            if (Date.now() > deadline) throw new Error(`condition not reached for run ${run.id} within ${timeoutMs} ms`);
            await new Promise((r) => setTimeout(r, 5));
        }
    }

    // Resolves with the first timeline entry of `run` of `kind` for which `pred` holds (at
    // once when there is one already). The continuation runs in a microtask after the
    // entry is noted, so a scenario can act on a pause or a sleep before its timer fires.
    when(run, kind, pred = () => true, timeoutMs = 20000) {
        const have = run.timeline.find((e) => e.kind === kind && pred(e));
        if (have) return Promise.resolve(have);
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`run ${run.id}: no ${kind} within ${timeoutMs} ms`)), timeoutMs);
            (run.watchers ||= []).push({ kind, pred, resolve: (e) => {
                clearTimeout(timer);
                resolve(e);
            } });
        });
    }

    pausesOf(run) {
        return [...this.pauses].filter((p) => p.run === run);
    }
}
