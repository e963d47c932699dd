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

// The nearest enclosing opcode object of `path` in `value` (an outcome): the last object
// on the way down that has a string `op`. null when there is none.
function opObjectAt(value, path) {
    const parts = path.match(/[^.[\]]+/g) || [];
    let cur = value;
    let found = null;
    for (const p of parts) {
        if (cur === null || typeof cur !== "object") break;
        if (typeof cur.op === "string") found = cur;
        cur = cur[p];
    }
    if (cur && typeof cur === "object" && typeof cur.op === "string") found = cur;
    return found;
}

export function opAt(value, path) {
    return opObjectAt(value, path)?.op ?? null;
}

function field(obj, dotted) {
    return dotted.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), obj);
}

const MODES = ["dev", "cloud"];

// The accepted differences (allowlist.json). Each entry is as narrow as its reason:
//   path       the field, with * for one segment or index (no **)
//   kind       missing | extra | changed
//   scenarios  the scenarios it applies to (each must produce the difference)
//   modes      the modes it applies to (default both; each must produce it)
//   op         the opcode whose field it is, for paths into an answer's op list
//   ref, got   the exact values on each side, when they are fixed
//   gotEquals  the C host's value must equal this field of the reference's op (e.g. a
//              Sleep's extra opts.duration must be the reference's duration, its name)
//   refEquals  the reference's value must equal this field of the C host's op
//   protocol   "checkpointing" or "classic": only runs with that protocol (--checkpointing
//              on/off) are judged by it (default: both)
//   why        the reason the difference is harmless
// Every (mode, scenario) an entry names must match at least one difference whenever that
// scenario ran in that mode with both apps; otherwise the entry is wider than the truth
// and the suite fails (see unusedIn).
export class AllowList {
    constructor(doc, knownScenarios = null, { protocol = null } = {}) {
        this.entries = (doc.entries || []).map((e, i) => ({
            ...e, index: i, re: e.path ? patternRegex(e.path) : null, modes: e.modes || MODES, hits: new Map(),
        }));
        for (const e of this.entries) {
            if (e.protocol !== undefined && !["checkpointing", "classic"].includes(e.protocol)) {
                throw new Error(`allow-list entry ${e.index} (${e.path}): unknown protocol ${e.protocol}`);
            }
        }
        // Entries for the other protocol neither allow nor are judged in this run.
        if (protocol) this.entries = this.entries.filter((e) => e.protocol === undefined || e.protocol === protocol);
        for (const e of this.entries) {
            const where = `allow-list entry ${e.index} (${e.path})`;
            if (!e.path || !e.why || !e.kind) throw new Error(`${where} needs a path, a kind and a why`);
            if (e.path.includes("**")) throw new Error(`${where}: ** is too wide; name the field`);
            if (!["missing", "extra", "changed"].includes(e.kind)) throw new Error(`${where}: unknown kind ${e.kind}`);
            if (!Array.isArray(e.scenarios) || !e.scenarios.length) throw new Error(`${where} needs its scenarios`);
            if (!e.modes.every((m) => MODES.includes(m))) throw new Error(`${where}: unknown mode in ${e.modes}`);
            if (/body\[\*\]/.test(e.path) && !e.op) throw new Error(`${where} is a field of an op: name the op`);
            if ((e.gotEquals || e.refEquals) && !e.op) throw new Error(`${where}: gotEquals/refEquals need an op`);
            if (knownScenarios) {
                for (const sc of e.scenarios) if (!knownScenarios.has(sc)) throw new Error(`${where}: no scenario ${sc}`);
            }
        }
    }

    // Returns the entry that allows `d` (a diff of the outcomes `ref` and `got`) in
    // `scenario`/`mode`, or null; records the hit.
    match(d, scenario, mode, { ref, got } = {}) {
        for (const e of this.entries) {
            if (!e.scenarios.includes(scenario) || !e.modes.includes(mode)) continue;
            if (e.kind !== d.kind || !e.re.test(d.path)) continue;
            if (e.op && opAt(d.kind === "extra" ? got : ref, d.path) !== e.op) continue;
            if (e.gotEquals !== undefined) {
                const want = field(opObjectAt(ref, d.path), e.gotEquals);
                if (want === undefined || JSON.stringify(want) !== JSON.stringify(d.got)) continue;
            }
            if (e.refEquals !== undefined) {
                const want = field(opObjectAt(got, d.path), e.refEquals);
                if (want === undefined || JSON.stringify(want) !== JSON.stringify(d.ref)) continue;
            }
            if (e.ref !== undefined && JSON.stringify(e.ref) !== JSON.stringify(d.ref)) continue;
            if (e.got !== undefined && JSON.stringify(e.got) !== JSON.stringify(d.got)) continue;
            const key = `${mode} ${scenario}`;
            e.hits.set(key, (e.hits.get(key) || 0) + 1);
            return e;
        }
        return null;
    }

    // The (mode, scenario) pairs an entry names that ran (`ran`: a Set of "mode scenario"
    // compared with both apps) and matched nothing.
    unusedIn(e, ran) {
        const out = [];
        for (const m of e.modes) for (const sc of e.scenarios) {
            const key = `${m} ${sc}`;
            if (ran.has(key) && !e.hits.has(key)) out.push(key);
        }
        return out;
    }
}
