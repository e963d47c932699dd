// Minimal HTTP helpers on node:http, so the emulator controls every header it sends (the Go
// executor sends no keep-alive and a fixed set of headers; fetch() would add its own).
import http from "node:http";

// Sends one request. `url` may name "localhost": we always dial 127.0.0.1 (the servers in
// the suite bind IPv4 loopback only) but keep the Host header the URL implies, as the
// dev server would. Resolves {status, headers (lower-case), body (string)} or rejects on a
// transport failure.
export function request(method, url, { headers = {}, body = null, timeoutMs = 30000 } = {}) {
    const u = new URL(url);
    const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname;
    const h = { ...headers };
    if (!Object.keys(h).some((k) => k.toLowerCase() === "host")) h.Host = u.host;
    if (body !== null) h["Content-Length"] = Buffer.byteLength(body);
    return new Promise((resolve, reject) => {
        const req = http.request(
            {
                method,
                host,
                port: u.port || 80,
                path: u.pathname + u.search,
                headers: h,
                agent: false,
                timeout: timeoutMs,
            },
            (res) => {
                const chunks = [];
                res.on("data", (c) => chunks.push(c));
                res.on("end", () =>
                    resolve({
                        status: res.statusCode,
                        headers: res.headers,
                        body: Buffer.concat(chunks).toString("utf8"),
                    }),
                );
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
        req.on("error", reject);
        if (body !== null) req.write(body);
        req.end();
    });
}

export function readBody(req, limit = 16 * 1024 * 1024) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on("data", (c) => {
            size += c.length;
            if (size > limit) {
                reject(new Error("body too large"));
                req.destroy();
            } else chunks.push(c);
        });
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

export function tryJson(text) {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

export function sendJson(res, status, value, headers = {}) {
    const body = JSON.stringify(value);
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(body);
}

// Starts `handler` on 127.0.0.1, on `port` (0: a free one). Resolves {server, url, close()}.
export function listen(handler, port = 0) {
    const server = http.createServer(handler);
    // Close idle keep-alive sockets quickly so stop() never waits on a client.
    server.keepAliveTimeout = 1000;
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
            const bound = server.address().port;
            resolve({
                server,
                port: bound,
                url: `http://127.0.0.1:${bound}`,
                close: () =>
                    new Promise((r) => {
                        server.close(() => r());
                        server.closeAllConnections?.();
                    }),
            });
        });
    });
}
