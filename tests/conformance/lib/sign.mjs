// Signing-key handling shared by the executor emulator and the scenarios.
//
// Two different derivations exist and SDKs keep mixing them up (dev-server notes §8):
//  - request/response signatures: HMAC-SHA256 keyed with the key TEXT after the
//    "signkey-<env>-" prefix is removed (not hex-decoded);
//  - the bearer token for API calls: SHA-256 of the hex-DECODED key, prefix kept.
import crypto from "node:crypto";

const PREFIX = /^signkey-\w+-/;

export function hmacKey(signingKey) {
    return signingKey.replace(PREFIX, "");
}

// "t=<unix seconds>&s=<hex>" over body || decimal t.
export function signatureHeader(signingKey, body, tSeconds = Math.floor(Date.now() / 1000)) {
    const mac = crypto.createHmac("sha256", hmacKey(signingKey));
    mac.update(body);
    mac.update(String(tSeconds));
    return `t=${tSeconds}&s=${mac.digest("hex")}`;
}

// Checks a signature header the way the official SDKs do: both fields present, the
// timestamp within 5 minutes, and a constant-time compare. Returns true or a reason.
export function verifySignature(signingKey, body, header, nowSeconds = Date.now() / 1000) {
    if (!header) return "missing signature";
    const params = new URLSearchParams(header);
    const t = params.get("t");
    const s = params.get("s");
    if (!t || !s) return "malformed signature";
    if (!/^\d+$/.test(t) || Math.abs(nowSeconds - Number(t)) > 300) return "stale signature";
    const want = signatureHeader(signingKey, body, Number(t)).split("&s=")[1];
    const a = Buffer.from(want, "utf8");
    const b = Buffer.from(s, "utf8");
    if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return "signature mismatch";
    return true;
}

export function hashedSigningKey(signingKey) {
    const m = signingKey.match(PREFIX);
    const prefix = m ? m[0] : "";
    const hex = signingKey.slice(prefix.length);
    const bytes = /^([0-9a-fA-F]{2})+$/.test(hex) ? Buffer.from(hex, "hex") : Buffer.from(hex);
    return prefix + crypto.createHash("sha256").update(bytes).digest("hex");
}

// The server accepts the plain key or its hash as the bearer token, prefix ignored
// (authn.HandleSigningKey).
export function bearerMatches(signingKey, authorization) {
    if (!authorization || !authorization.startsWith("Bearer ")) return false;
    const token = authorization.slice(7).trim().replace(PREFIX, "");
    return (
        token === signingKey.replace(PREFIX, "") ||
        token === hashedSigningKey(signingKey).replace(PREFIX, "")
    );
}
