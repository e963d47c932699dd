// JSON canonicalisation as RFC 8785 (JCS) defines it, which is what the Go executor sends
// (driver.MarshalV1 runs its JSON through jcs.Transform before signing and sending).
//
// JSON.stringify already gives ES6 number formatting (1e+21, no trailing zeros) and the
// minimal string escapes JCS asks for, so only the key order needs work: JCS sorts object
// keys by their UTF-16 code units, which is exactly how JavaScript compares strings.

export function canonicalize(value) {
    if (value === null || typeof value !== "object") {
        // undefined (absent) has no JSON form; callers never pass it at top level.
        return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
        return "[" + value.map((v) => (v === undefined ? "null" : canonicalize(v))).join(",") + "]";
    }
    const keys = Object.keys(value)
        .filter((k) => value[k] !== undefined)
        .sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(value[k])).join(",") + "}";
}
