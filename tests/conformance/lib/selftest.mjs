// Known-answer checks of the emulator's building blocks, run before any scenario: if the
// emulator signed or canonicalised wrongly, every comparison after it would be worthless.
// The vectors are the public ones of the serve protocol (signing key examples) and
// RFC 8785's number examples.
import { evaluate } from "./cel.mjs";
import { Emulator } from "./emulator.mjs";
import { parseDurationMs } from "./duration.mjs";
import { canonicalize } from "./jcs.mjs";
import { bearerMatches, hashedSigningKey, signatureHeader, verifySignature } from "./sign.mjs";
import { parseSeed, seededUlid } from "./ulid.mjs";

export function selfTest() {
    const fails = [];
    const eq = (got, want, what) => {
        if (JSON.stringify(got) !== JSON.stringify(want)) fails.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    };
    eq(signatureHeader("signkey-prod-12345678", '{"hello":"world"}', 1705586504),
        "t=1705586504&s=b3dc3bec9cf5570147523d4e9ac765d962adcc12d8dff88ca29c2b6066613c40", "HMAC signature");
    eq(hashedSigningKey("signkey-prod-12345678"),
        "signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c", "hashed signing key");
    eq(bearerMatches("signkey-prod-12345678", "Bearer signkey-prod-b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"), true, "bearer");
    eq(verifySignature("signkey-prod-12345678", '{"hello":"world"}',
        "t=1705586504&s=b3dc3bec9cf5570147523d4e9ac765d962adcc12d8dff88ca29c2b6066613c40", 1705586504), true, "verify");
    eq(canonicalize({ b: [1e21, 0.1, -0, 1.5e-7], a: "\u001f€", "\u00e9": 1, e: 1 }),
        '{"a":"\\u001f€","b":[1e+21,0.1,0,1.5e-7],"e":1,"é":1}', "JCS");
    eq(evaluate("async.data.x == event.data.x && !(async.data.y > 2)", { event: { data: { x: "1" } }, async: { data: { x: "1", y: 1 } } }), true, "CEL");
    eq(parseDurationMs("1h30m"), 5400000, "duration");
    const seed = parseSeed("1700000000000,AAAAAAAAAAAAAA==");
    eq(seededUlid(seed, 0) !== seededUlid(seed, 1) && seededUlid(seed, 0) === seededUlid(seed, 0), true, "seeded ids");
    // /fn/register validation, as the server does it.
    const emu = new Emulator({});
    const step = (url) => ({ step: { id: "step", name: "step", runtime: { type: "http", url } } });
    const good = { id: "a-f", name: "f", triggers: [{ event: "x/y" }], steps: step("http://127.0.0.1:1/api?fnId=a-f&stepId=step") };
    const base = { url: "http://127.0.0.1:1/api", v: "0.1", deployType: "ping", sdk: "js:v4.0.0", framework: "nodejs" };
    const reg = (r, o = {}) => emu.register({ ...base, ...r }, o);
    eq(reg({ appName: "a", functions: [good] }).status, 200, "valid register");
    eq(reg({ appName: "a", functions: [good] }).body.modified, false, "unchanged re-register");
    eq(reg({ functions: [good] }).status, 400, "register without app name");
    eq(reg({ appName: "a", functions: [{ ...good, name: "" }] }).status, 400, "function without name");
    eq(reg({ appName: "a", functions: [{ ...good, steps: {} }] }).status, 400, "function without step");
    eq(reg({ appName: "a", functions: [{ ...good, steps: step("ftp://x/") }] }).status, 400, "bad runtime URL");
    eq(reg({ appName: "a", functions: [{ ...good, triggers: [{ event: "x" }, { event: "x" }] }] }).status, 400, "duplicate trigger");
    eq(reg({ appName: "a", functions: [{ ...good, cancel: [{ event: "c", if: "event.data.x ==" }] }] }).status, 400, "bad expression");
    eq(reg({ appName: "a", functions: [good] }, { expectedKind: "cloud" }).status, 400, "server kind mismatch");
    // The envelope's own fields and the config shapes.
    const shapes = [
        ["no url", { url: undefined }], ["url not http", { url: "ftp://h/" }], ["url not a string", { url: 5 }],
        ["no v", { v: undefined }], ["v a number", { v: 1 }], ["no deployType", { deployType: undefined }],
        ["unknown deployType", { deployType: "push" }], ["no sdk", { sdk: undefined }], ["sdk without version", { sdk: "js" }],
        ["capabilities a list", { capabilities: ["x"] }], ["functions an object", { functions: { a: good } }],
        ["triggers an object", { functions: [{ ...good, triggers: { event: "x" } }] }],
        ["trigger event a number", { functions: [{ ...good, triggers: [{ event: 1 }] }] }],
        ["retries.attempts a string", { functions: [{ ...good, steps: { step: { ...good.steps.step, retries: { attempts: "2" } } } }] }],
        ["runtime a string", { functions: [{ ...good, steps: { step: { ...good.steps.step, runtime: "http://h/" } } }] }],
        ["cancel without event", { functions: [{ ...good, cancel: [{ if: "true" }] }] }],
        ["concurrency a string", { functions: [{ ...good, concurrency: "5" }] }],
    ];
    for (const [what, change] of shapes) {
        const r = { ...base, appName: "a", functions: [good], ...change };
        for (const k of Object.keys(change)) if (change[k] === undefined) delete r[k];
        eq(emu.register(r, {}).status, 400, `register with ${what}`);
    }
    const retries = (r) => {
        reg({ appName: "r", functions: [{ ...good, id: "r-f", steps: { step: { ...step("http://h/").step, retries: r } } }] });
        return emu.functions.get("r-f").maxAttempts;
    };
    eq([retries(undefined), retries({ attempts: 0 }), retries({ attempts: 2 }), retries({ attempts: 50 })], [5, 1, 3, 21], "retries as retry count");
    return fails;
}

// Reply handling against a scripted fake SDK: each call gets the next canned answer. Covers
// the paths the two real apps never take (they answer correctly).
export async function selfTestReplies() {
    const { listen } = await import("./http.mjs");
    const fails = [];
    let script = [];
    // A script entry is [status, headers, body], or a function of the request's URL that
    // resolves to one (to hold an answer back).
    const app = await listen(async (req, res) => {
        req.resume();
        const next = script.shift();
        const [status, headers, body] = typeof next === "function" ? await next(req.url)
            : next || [500, {}, "script exhausted"];
        res.writeHead(status, headers);
        res.end(body);
    });
    const KEY = "signkey-test-0123456789abcdef";
    const emu = await new Emulator({ retryDelayMs: 1 }).start();
    const cloud = await new Emulator({ retryDelayMs: 1, signingKey: KEY }).start();
    const sdk = { "X-Inngest-SDK": "fake:v0", "Content-Type": "application/json", "X-Inngest-Req-Version": "2" };
    const { "X-Inngest-Req-Version": _, ...noVersion } = sdk;
    const signed = (body) => ({ ...sdk, "X-Inngest-Signature": signatureHeader(KEY, body) });
    // Parallel steps: both planned calls must be in flight together. Each answer is held
    // until the other planned call has arrived, so an emulator that called them one after
    // the other would never finish this run.
    let arrived = 0;
    let release;
    const both = new Promise((r) => (release = r));
    const planned = async (url) => {
        const id = new URL(url, "http://x").searchParams.get("stepId");
        if (++arrived === 2) release();
        await Promise.race([both, new Promise((r) => setTimeout(r, 3000))]);
        return arrived === 2 ? [206, sdk, JSON.stringify([{ op: "StepRun", id, data: 1 }])]
            : [500, { ...sdk, "X-Inngest-No-Retry": "true" }, '{"message":"called one at a time"}'];
    };
    const fn = (retries) => ({
        id: "t-f", name: "f", triggers: [{ event: "t/e" }],
        steps: { step: { id: "step", name: "step", runtime: { type: "http", url: `${app.url}/?fnId=t-f&stepId=step` }, retries: { attempts: retries } } },
    });
    const cases = [
        ["2xx without X-Inngest-SDK is retried", 1,
            [[200, {}, '"proxy page"'], [200, sdk, '"ok"']], "Completed", 2],
        ["unknown opcode is retried", 1,
            [[206, sdk, '[{"op":"StepNotFound","id":"x"}]'], [200, sdk, "1"]], "Completed", 2],
        ["4xx without X-Inngest-No-Retry is retried", 1,
            [[400, sdk, '{"message":"x"}'], [200, sdk, "1"]], "Completed", 2],
        ["X-Inngest-No-Retry: true fails at once", 3,
            [[500, { ...sdk, "X-Inngest-No-Retry": "true" }, '{"message":"x"}']], "Failed", 1],
        ["retries stop after max attempts", 1,
            [[500, sdk, "{}"], [500, sdk, "{}"]], "Failed", 2],
        ["final StepError is saved as an error", 0,
            [[206, sdk, '[{"op":"stepError","id":"s1","name":"s","error":{"name":"Error","message":"m"}}]'],
                [400, { ...sdk, "X-Inngest-No-Retry": "true" }, '{"message":"m"}']], "Failed", 2],
        ["an answer without X-Inngest-Req-Version is retried", 1,
            [[200, noVersion, "1"], [200, sdk, "1"]], "Completed", 2],
        ["a non-integer X-Inngest-Req-Version is retried", 1,
            [[206, { ...sdk, "X-Inngest-Req-Version": "2x" }, '[{"op":"StepRun","id":"s","data":1}]'], [200, sdk, "1"]], "Completed", 2],
        ["planned steps are called concurrently", 0,
            [[206, sdk, '[{"op":"StepPlanned","id":"a","name":"a"},{"op":"StepPlanned","id":"b","name":"b"}]'],
                planned, planned, [200, sdk, "1"]], "Completed", 4],
        ["cloud: an unsigned answer is retried", 1,
            [[200, sdk, "1"], () => [200, signed("1"), "1"]], "Completed", 2, cloud],
        ["cloud: a wrongly signed answer fails on the last attempt", 0,
            [[200, { ...sdk, "X-Inngest-Signature": signatureHeader("signkey-test-ff", "1") }, "1"]], "Failed", 1, cloud],
        ["cloud: a signed answer is accepted", 0,
            [() => [200, signed('"ok"'), '"ok"']], "Completed", 1, cloud],
    ];
    try {
        for (const [what, retries, replies, status, calls, server = emu] of cases) {
            server.register({ appName: "t", url: app.url, v: "1", deployType: "ping", sdk: "fake:v0", functions: [fn(retries)] }, {});
            script = [...replies];
            const [id] = server.sendEvents({ name: "t/e", data: {} });
            const run = await server.waitForRun(id, { timeoutMs: 5000 });
            if (run.status !== status || run.transcript.length !== calls) {
                fails.push(`${what}: got ${run.status} after ${run.transcript.length} calls`);
            }
            if (what.startsWith("final StepError")) {
                const steps = JSON.parse(run.transcript[1].request.body).steps;
                if (JSON.stringify(steps.s1) !== '{"error":{"message":"m","name":"Error"}}') fails.push(`${what}: saved ${JSON.stringify(steps.s1)}`);
            }
        }
    } catch (err) {
        fails.push(`reply self-test: ${err.message}`);
    } finally {
        await emu.stop();
        await cloud.stop();
        await app.close();
    }
    return fails;
}
