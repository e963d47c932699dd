// Hostile clients for tests/soak/hostile.sh: slowloris and idle connections against a
// loopback host while a normal client probes it, or the probe alone. Prints one JSON line.
//   node hostile.js PORT MODE SECONDS CONNS     MODE: baseline | slowloris | idle | slowbody
//        (slowbody: complete headers of POST /api/rag/documents, then a byte a second)
//   node hostile.js PORT amplify N BYTES SIG    N concurrent POSTs to /api/inngest of a
//        BYTES-long body [[],[],...] (the costliest JSON per byte) with a bad signature:
//        SIG "expired" (t 400 s old) or "fresh" (current t, wrong HMAC). Prints the
//        statuses and how long the last answer took.
"use strict";
const net = require("net");
const http = require("http");

if (process.argv[3] === "amplify") {
  const [n, bytes, sig] = [Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
  const k = Math.max(1, Math.floor((bytes - 1) / 3));
  const body = Buffer.alloc(k * 3 + 1);
  body[0] = 0x5b; // "[", then "[]," k - 1 times, then "[]]"
  body.fill("[],", 1);
  body.write("[]]", body.length - 3);
  const now = Math.floor(Date.now() / 1000);
  const t = sig === "expired" ? now - 400 : now;
  const header = `t=${t}&s=${"0".repeat(64)}`;
  const t0 = Date.now();
  const statuses = {};
  let left = n;
  for (let i = 0; i < n; i++) {
    const req = http.request({ host: "127.0.0.1", port: Number(process.argv[2]), method: "POST",
      path: "/api/inngest?fnId=x&stepId=step", agent: false,
      headers: { "Content-Type": "application/json", "Content-Length": body.length,
                 "X-Inngest-Signature": header } }, (res) => {
      res.resume();
      res.on("end", () => done(String(res.statusCode)));
    });
    req.on("error", (e) => done(e.code || "error"));
    req.end(body);
  }
  function done(what) {
    statuses[what] = (statuses[what] || 0) + 1;
    if (--left === 0) {
      console.log(JSON.stringify({ mode: "amplify", n, bytes: body.length, sig, statuses,
                                   ms: Date.now() - t0 }));
      process.exit(0);
    }
  }
  return;
}
const [port, mode, seconds, conns] = [Number(process.argv[2]), process.argv[3],
  Number(process.argv[4]), Number(process.argv[5] || 0)];
const sockets = [];
let opened = 0, closedByServer = 0, connectErrors = 0;

function attacker(i) {
  const s = net.connect(port, "127.0.0.1");
  sockets.push(s);
  s.on("connect", () => {
    opened++;
    if (mode === "slowbody") {
      // a whole header for a host route, then a body a byte a second that never ends
      s.write("POST /api/rag/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
              "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n[");
      const t = setInterval(() => { if (s.destroyed) return clearInterval(t); s.write(" "); }, 1000);
      s.on("close", () => clearInterval(t));
      return;
    }
    if (mode !== "slowloris") return; // idle: connect and say nothing
    const head = `GET /api/inngest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-${i}: `;
    let at = 0;
    const t = setInterval(() => {
      if (s.destroyed) return clearInterval(t);
      // one byte at a time, and never the blank line that would end the headers
      s.write(at < head.length ? head[at++] : "a");
    }, 1000);
    s.on("close", () => clearInterval(t));
  });
  s.on("error", () => { if (!s.connecting) return; connectErrors++; });
  s.on("close", () => { closedByServer++; });
  s.on("data", () => {});
}

// The normal client: a fresh connection per request, one request every 100 ms, 5 s cap.
const lat = [];
let failures = 0, firstOk = null, probeStart = null;
function probe() {
  if (probeStart === null) probeStart = Date.now();
  const t0 = process.hrtime.bigint();
  const req = http.get({ host: "127.0.0.1", port, path: "/api/inngest", agent: false,
                         timeout: 5000 }, (res) => {
    res.resume();
    res.on("end", () => {
      if (res.statusCode === 200) {
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (firstOk === null) firstOk = Date.now() - probeStart;
      }
      else failures++;
    });
  });
  req.on("timeout", () => { failures++; req.destroy(); });
  req.on("error", () => {});
}

for (let i = 0; i < conns; i++) setTimeout(() => attacker(i), Math.floor(i / 100) * 10);
// Give the attackers a moment to take their places, then probe for the rest of the time.
setTimeout(() => {
  const p = setInterval(probe, 100);
  setTimeout(() => {
    clearInterval(p);
    setTimeout(() => {
      const still = sockets.filter((s) => !s.destroyed).length;
      sockets.forEach((s) => s.destroy());
      lat.sort((a, b) => a - b);
      const q = (f) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] : null);
      console.log(JSON.stringify({ mode, conns, seconds, attackers_connected: opened,
        attackers_open_at_end: still, attackers_closed_by_server: closedByServer - 0,
        connect_errors: connectErrors, probes_ok: lat.length, probes_failed: failures,
        first_ok_after_ms: firstOk, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: lat.length ? lat[lat.length - 1] : null }));
      process.exit(0);
    }, 5500); // let the last probes finish or time out
  }, (seconds - 2) * 1000);
}, 2000);
