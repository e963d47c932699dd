// Time strings as the executor reads them: Go durations plus "d" and "w"
// (str2duration), or, for values of 10+ characters, a date. Returns milliseconds or null.

const UNIT_MS = {
    ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000,
    w: 604800000,
};

export function parseDurationMs(text) {
    if (typeof text !== "string" || text === "") return null;
    const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)/gy;
    let total = 0;
    let pos = 0;
    let m;
    while ((m = re.exec(text))) {
        total += Number(m[1]) * UNIT_MS[m[2]];
        pos = re.lastIndex;
    }
    return pos === text.length && pos > 0 ? total : null;
}

// Sleep targets: opts.duration, else the op name. Dates in the past mean "now".
export function sleepMs(value, now = Date.now()) {
    if (typeof value === "string" && value.length >= 10) {
        const t = Date.parse(value);
        if (!Number.isNaN(t)) return Math.max(0, t - now);
    }
    return parseDurationMs(value);
}

export const YEAR_MS = 366 * 86400000;
