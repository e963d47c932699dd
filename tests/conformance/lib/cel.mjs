// A small evaluator for the subset of CEL that waitForEvent / cancelOn / trigger
// expressions use: field paths on `event` and `async`, literals, ==, !=, <, <=, >, >=,
// &&, ||, ! and parentheses. Anything else is a compile error, as the real server would
// report for expressions it cannot compile (our fixtures never rely on more).

const TOKEN = /\s*(?:(\d+(?:\.\d+)?)|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(==|!=|<=|>=|&&|\|\||[<>!().\[\]]))/y;

function tokenize(src) {
    const out = [];
    TOKEN.lastIndex = 0;
    let pos = 0;
    while (pos < src.length) {
        if (/^\s*$/.test(src.slice(pos))) break;
        TOKEN.lastIndex = pos;
        const m = TOKEN.exec(src);
        if (!m) throw new Error(`cannot parse expression near "${src.slice(pos)}"`);
        pos = TOKEN.lastIndex;
        if (m[1] !== undefined) out.push({ t: "lit", v: Number(m[1]) });
        else if (m[2] !== undefined) out.push({ t: "lit", v: unquote(m[2]) });
        else if (m[3] !== undefined) {
            if (m[3] === "true" || m[3] === "false") out.push({ t: "lit", v: m[3] === "true" });
            else if (m[3] === "null") out.push({ t: "lit", v: null });
            else out.push({ t: "id", v: m[3] });
        } else out.push({ t: "op", v: m[4] });
    }
    return out;
}

function unquote(s) {
    const body = s.slice(1, -1);
    return body.replace(/\\(.)/g, (_, c) => ({ n: "\n", t: "\t", r: "\r" })[c] ?? c);
}

// Parses to a closure (vars) => value.
export function compile(src) {
    const toks = tokenize(src);
    let i = 0;
    const peek = () => toks[i];
    const take = (v) => {
        const t = toks[i];
        if (!t || t.v !== v || t.t !== "op") throw new Error(`expected "${v}" in: ${src}`);
        i++;
    };
    function primary() {
        const t = toks[i++];
        if (!t) throw new Error(`unexpected end of expression: ${src}`);
        if (t.t === "lit") return () => t.v;
        if (t.t === "op" && t.v === "(") {
            const e = or();
            take(")");
            return e;
        }
        if (t.t === "id") {
            const path = [t.v];
            for (;;) {
                const n = peek();
                if (n && n.t === "op" && n.v === ".") {
                    i++;
                    const id = toks[i++];
                    if (!id || id.t !== "id") throw new Error(`bad field access in: ${src}`);
                    path.push(id.v);
                } else if (n && n.t === "op" && n.v === "[") {
                    i++;
                    const key = toks[i++];
                    if (!key || key.t !== "lit") throw new Error(`bad index in: ${src}`);
                    take("]");
                    path.push(key.v);
                } else break;
            }
            return (vars) => path.slice(1).reduce((o, k) => (o == null ? undefined : o[k]), vars[path[0]]);
        }
        throw new Error(`unexpected "${t.v}" in: ${src}`);
    }
    function unary() {
        const t = peek();
        if (t && t.t === "op" && t.v === "!") {
            i++;
            const e = unary();
            return (vars) => !truthy(e(vars));
        }
        return primary();
    }
    function cmp() {
        const left = unary();
        const t = peek();
        if (t && t.t === "op" && ["==", "!=", "<", "<=", ">", ">="].includes(t.v)) {
            i++;
            const right = unary();
            return (vars) => compare(t.v, left(vars), right(vars));
        }
        return left;
    }
    function and() {
        let e = cmp();
        while (peek() && peek().v === "&&") {
            i++;
            const l = e, r = cmp();
            e = (vars) => truthy(l(vars)) && truthy(r(vars));
        }
        return e;
    }
    function or() {
        let e = and();
        while (peek() && peek().v === "||") {
            i++;
            const l = e, r = and();
            e = (vars) => truthy(l(vars)) || truthy(r(vars));
        }
        return e;
    }
    const fn = or();
    if (i !== toks.length) throw new Error(`trailing tokens in: ${src}`);
    return fn;
}

function truthy(v) {
    return v === true;
}

function compare(op, a, b) {
    // A missing field is an evaluation error in CEL, and an erroring expression never
    // matches; model that as "false" for every operator.
    if (a === undefined || b === undefined) return false;
    if (op === "==") return deepEqual(a, b);
    if (op === "!=") return !deepEqual(a, b);
    if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string")) return false;
    return op === "<" ? a < b : op === "<=" ? a <= b : op === ">" ? a > b : a >= b;
}

function deepEqual(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
}

// Evaluates `src` with `vars` ({event, async}); a compile error throws.
export function evaluate(src, vars) {
    return compile(src)(vars) === true;
}
