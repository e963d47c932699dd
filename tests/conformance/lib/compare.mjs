// Normalising outcomes and comparing the C host's with the reference app's.
//
// Normalisation only erases what MUST differ between two apps or two runs: URLs and
// ports, ids (ULIDs, UUIDs), times (timestamps, ISO dates, step timing), stack traces and
// the SDK's name/version. Everything else is compared; a remaining difference fails the
// scenario unless allowlist.json lists it with a reason.

const ULID = /[0-9A-HJKMNP-TV-Z]{26}/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const TIME_KEYS = new Set(["ts", "expire", "created_at", "run_started_at", "ended_at"]);

// `subst`: [[literal, placeholder], …] applied inside every string (app and server URLs).
export function normalize(value, subst = [], key = null) {
    if (value === null || value === undefined) return value;
    if (key === "timing") return "<timing>";
    if (key === "stack" && typeof value === "string") return "<stack>";
    if (Array.isArray(value)) return value.map((v) => normalize(v, subst));
    if (typeof value === "object") {
        const out = {};
        for (const k of Object.keys(value).sort()) out[k] = normalize(value[k], subst, k);
        return out;
    }
    if (TIME_KEYS.has(key) && typeof value === "number") return "<time>";
    if (typeof value === "string") {
        if (key === "sdk" || key === "sdk_version" || key === "sdk_language" || key === "sdk_author") return "<sdk>";
        if (ISO_TIME.test(value)) return "<time>";
        let s = value;
        for (const [lit, ph] of subst) if (lit) s = s.split(lit).join(ph);
        return s.replace(ULID, "<ulid>").replace(UUID, "<uuid>");
    }
    return value;
}

// Deep difference: a list of {path, kind, ref, got}. kind is "changed", "missing" (only
// the reference has it) or "extra" (only the C host has it).
export function diff(ref, got, path = "") {
    const out = [];
    const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
    if (Array.isArray(ref) && Array.isArray(got)) {
        const n = Math.max(ref.length, got.length);
        for (let i = 0; i < n; i++) {
            const p = `${path}[${i}]`;
            if (i >= got.length) out.push({ path: p, kind: "missing", ref: ref[i] });
            else if (i >= ref.length) out.push({ path: p, kind: "extra", got: got[i] });
            else out.push(...diff(ref[i], got[i], p));
        }
        return out;
    }
    if (isObj(ref) && isObj(got)) {
        for (const k of new Set([...Object.keys(ref), ...Object.keys(got)])) {
            const p = path ? `${path}.${k}` : k;
            if (!(k in got)) out.push({ path: p, kind: "missing", ref: ref[k] });
            else if (!(k in ref)) out.push({ path: p, kind: "extra", got: got[k] });
            else out.push(...diff(ref[k], got[k], p));
        }
        return out;
    }
    if (JSON.stringify(ref) !== JSON.stringify(got)) out.push({ path, kind: "changed", ref, got });
    return out;
}

// Allow-list patterns: "*" is one path segment or index, "**" any number of segments.
function patternRegex(pattern) {
    const re = pattern
        .split(/(\*\*|\*)/)
        .map((part) => {
            if (part === "**") return ".*";
            if (part === "*") return "[^.\\[\\]]+";
            return part.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
        })
        .join("");
    return new RegExp(`^${re}$`);
}

function globMatch(pattern, text) {
    return pattern === undefined || pattern === "*" || patternRegex(pattern).test(text);
}

export class AllowList {
    constructor(doc) {
        this.entries = (doc.entries || []).map((e) => ({ ...e, re: patternRegex(e.path), used: 0 }));
        for (const e of this.entries) {
            if (!e.reason || !e.path) throw new Error(`allow-list entry ${JSON.stringify(e)} needs a path and a reason`);
        }
    }

    // Returns the entry that allows `d` in `scenario`/`mode`, or null.
    match(d, scenario, mode) {
        for (const e of this.entries) {
            if (!globMatch(e.scenario, scenario) || !globMatch(e.mode, mode)) continue;
            if (e.kind && e.kind !== d.kind) continue;
            if (!e.re.test(d.path)) continue;
            if (e.ref !== undefined && JSON.stringify(e.ref) !== JSON.stringify(d.ref)) continue;
            if (e.got !== undefined && JSON.stringify(e.got) !== JSON.stringify(d.got)) continue;
            e.used++;
            return e;
        }
        return null;
    }

    unused() {
        return this.entries.filter((e) => e.used === 0);
    }
}
