// ULIDs: 48-bit millisecond time + 80 bits of entropy in Crockford base32, as the server
// uses for run ids, event ids and request ids.
import crypto from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function encode(timeMs, entropy /* 10-byte Buffer */) {
    let out = "";
    let t = BigInt(timeMs);
    for (let i = 0; i < 10; i++) {
        out = ALPHABET[Number(t % 32n)] + out;
        t /= 32n;
    }
    let e = BigInt("0x" + entropy.toString("hex"));
    let tail = "";
    for (let i = 0; i < 16; i++) {
        tail = ALPHABET[Number(e % 32n)] + tail;
        e /= 32n;
    }
    return out + tail;
}

export function ulid(timeMs = Date.now()) {
    return encode(timeMs, crypto.randomBytes(10));
}

// X-Inngest-Event-Id-Seed: "<millis>,<base64 of 10 bytes>". The server bumps the entropy by
// the event's 1-based index in the request, so a retried send gets the same ids.
export function parseSeed(header) {
    if (!header) return null;
    const m = /^(\d+),([A-Za-z0-9+/=]+)$/.exec(header.trim());
    if (!m) return null;
    const entropy = Buffer.from(m[2], "base64");
    if (entropy.length !== 10) return null;
    return { timeMs: Number(m[1]), entropy };
}

export function seededUlid(seed, index) {
    const max = (1n << 80n) - 1n;
    let e = BigInt("0x" + seed.entropy.toString("hex")) + BigInt(index + 1);
    if (e > max) e -= max + 1n;
    const buf = Buffer.from(e.toString(16).padStart(20, "0"), "hex");
    return encode(seed.timeMs, buf);
}
