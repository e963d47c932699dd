// Starting and stopping the apps under test. Every child is tracked so that it is killed
// on any exit path of the runner (normal end, failure, exception, Ctrl-C).
import { spawn } from "node:child_process";
import fs from "node:fs";

import { request } from "./http.mjs";
import { signatureHeader } from "./sign.mjs";

const children = new Set();

function killAll() {
    for (const c of children) {
        try {
            c.kill("SIGKILL");
        } catch {
            /* already gone */
        }
    }
    children.clear();
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
        killAll();
        process.exit(130);
    });
}

// Starts `cmd args` and waits for a "listening on <url>" line on stdout or stderr, then
// for GET <url> (signed when `signingKey` is given) to answer with an X-Inngest-SDK header. Output goes to `logFile`.
// Resolves {url, child, stop()}. stop() sends SIGTERM and resolves with how the app ended:
// {code, signal, clean, why}; clean is false when the app had already exited on its own,
// ended by a signal (a crash, an abort) or with a non-zero status, or had to be killed
// because it did not stop within 10 s.
export async function startApp({ cmd, args, env, logFile, signingKey = null, timeoutMs = 20000 }) {
    const log = fs.createWriteStream(logFile, { flags: "a" });
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let exited = null;
    const url = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${cmd} did not start within ${timeoutMs} ms (see ${logFile})`)), timeoutMs);
        const watch = (chunk) => {
            log.write(chunk);
            const m = /listening on (http:\/\/\S+)/.exec(String(chunk));
            if (m) {
                clearTimeout(timer);
                resolve(m[1]);
            }
        };
        child.stdout.on("data", watch);
        child.stderr.on("data", watch);
        child.on("exit", (code, sig) => {
            exited = { code, sig };
            clearTimeout(timer);
            reject(new Error(`${cmd} exited (${code ?? sig}) before it was ready (see ${logFile})`));
        });
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            // In cloud mode an unsigned GET is refused without SDK headers; sign it.
            const headers = signingKey ? { "X-Inngest-Signature": signatureHeader(signingKey, "") } : {};
            const res = await request("GET", url, { headers, timeoutMs: 2000 });
            if (res.headers["x-inngest-sdk"]) break;
        } catch {
            /* not yet */
        }
        if (Date.now() > deadline) throw new Error(`${url} never answered with X-Inngest-SDK`);
        await new Promise((r) => setTimeout(r, 50));
    }
    child.on("exit", (code, sig) => {
        exited = exited || { code, sig };
    });
    const ended = ({ code, sig }, why) => ({
        code, signal: sig, clean: !why && code === 0 && !sig,
        why: why || (sig ? `ended by ${sig}` : code !== 0 ? `exit status ${code}` : null),
    });
    return {
        url,
        child,
        stop: () =>
            new Promise((resolve) => {
                if (exited) {
                    children.delete(child);
                    log.end();
                    return resolve(ended(exited, `had already exited (${exited.code ?? exited.sig}) before it was stopped`));
                }
                let killed = false;
                const t = setTimeout(() => {
                    killed = true;
                    child.kill("SIGKILL");
                }, 10000);
                child.once("exit", (code, sig) => {
                    clearTimeout(t);
                    children.delete(child);
                    log.end();
                    resolve(ended({ code, sig }, killed ? "did not stop within 10 s of SIGTERM" : null));
                });
                child.kill("SIGTERM");
            }),
    };
}
