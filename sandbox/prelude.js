// Evaluated once in every runtime before it is handed to a run. It takes the
// host function (__sbx_host, set as a global by vm.go; see host.go for its
// operations) into this closure, deletes it, and defines what scripts see:
// tools, console, emit, fetch, a recorded Date/Math.random/performance.now,
// and the two entry points the host calls, __sbx_main and __sbx_deliver.
// Everything here uses intrinsics captured before user code runs, so a
// script that replaces JSON.stringify or Promise.prototype.then only breaks
// itself.
(function () {
  "use strict";
  const g = globalThis;
  // __sbx_host is the JS wrapper QJS_CreateFunctionProxy made: it copies its
  // arguments into a rest array and spreads them, with four fixed ones in
  // front, into the C function behind it, which calls the Go host. Called
  // directly, the C function costs less than half as much (Date.now() in a
  // loop: ≈3.8 µs a call instead of ≈8.7). Its one call here, with
  // Function.prototype.call replaced, hands over the C function and the
  // fixed arguments.
  const host = (function (wrapped) {
    const FP = Function.prototype, origCall = FP.call;
    let raw, fixed;
    FP.call = function (self, ...rest) { raw = this; fixed = rest; };
    try { wrapped(); } finally { FP.call = origCall; }
    if (typeof raw !== "function" || fixed === undefined || fixed.length !== 4) {
      throw new Error("sandbox: __sbx_host is not the wrapper this prelude expects");
    }
    const f0 = fixed[0], f1 = fixed[1], f2 = fixed[2];
    return (op, a, b) => raw(f0, f1, f2, undefined, op, a, b);
  })(g.__sbx_host);
  for (const k of ["__sbx_host", "QJS_PROXY_VALUE", "gc", "print", "scriptArgs", "navigator", "std", "os", "bjson",
    "setTimeout", "setInterval", "clearTimeout", "clearInterval"]) {
    delete g[k];
  }
  const ErrorCtor0 = Error;
  // call(op, …) calls the host; a result starting with "\x01" is an error.
  function call(op, a, b) {
    const r = host(op, a, b);
    if (typeof r === "string" && r.charCodeAt(0) === 1) throw new ErrorCtor0(r.slice(1));
    return r;
  }
  const hStart = (p, a) => call(1, p, a), hTake = () => call(2), hDone = (k, p) => call(3, k, p),
    hLog = (l, t) => call(4, l, t), hEmit = (v) => call(5, v), hNow = () => call(6), hSeed = () => call(7), hLimit = () => call(8);

  const JSONstringify = JSON.stringify, JSONparse = JSON.parse;
  const StringCtor = String, ErrorCtor = Error, TypeErrorCtor = TypeError, PromiseCtor = Promise;
  const ProxyCtor = Proxy, OrigDate = Date;
  const apply = Reflect.apply, construct = Reflect.construct, defineProperty = Object.defineProperty;
  const freeze = Object.freeze, objectToString = Object.prototype.toString;
  const promiseThen = PromiseCtor.prototype.then;
  const imul = Math.imul;

  function str(v) {
    try { return StringCtor(v); } catch (e) {
      try { return apply(objectToString, v, []); } catch (e2) { return "[unprintable]"; }
    }
  }
  function bigints(k, v) { return typeof v === "bigint" ? v.toString() : v; }
  // JSON text of v, or undefined for undefined/functions/symbols. BigInts
  // become strings. Throws on cycles and on throwing toJSON/getters.
  function toJSON(v) {
    try { return JSONstringify(v); } catch (e) {
      try { return JSONstringify(v, bigints); } catch (e2) { throw e; }
    }
  }
  function isError(e) {
    try { return e instanceof ErrorCtor; } catch (x) { return false; }
  }
  function message(e) {
    if (isError(e)) { try { return str(e.message); } catch (x) { } }
    return str(e);
  }
  // The text of an uncaught error, as QuickJS prints it.
  function errorText(e) {
    if (isError(e)) {
      let s = str(e);
      try {
        const st = e.stack;
        if (typeof st === "string" && st !== "") s += "\n" + st;
      } catch (x) { }
      return s;
    }
    if (typeof e === "string") return "Error: " + e;
    try {
      const j = JSONstringify(e);
      if (j !== undefined) return "Error: " + j;
    } catch (x) { }
    return "Error: " + str(e);
  }

  // console
  function format(args) {
    let s = "";
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      let part;
      if (typeof a === "string") part = a;
      else if (isError(a)) part = str(a);
      else {
        try { part = toJSON(a); } catch (e) { part = undefined; }
        if (part === undefined) part = str(a);
      }
      s += i === 0 ? part : " " + part;
    }
    return s;
  }
  const consoleObject = {};
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    consoleObject[level] = function (...args) { hLog(level, JSONstringify(format(args))); };
  }
  freeze(consoleObject);

  function emit(value) {
    let s;
    try { s = toJSON(value); } catch (e) {
      throw new TypeErrorCtor("emit: the value is not JSON-serialisable: " + message(e));
    }
    hEmit(s === undefined ? "null" : s);
  }

  function fetch() {
    throw new ErrorCtor("fetch is disabled in QuickJS executor");
  }

  // tools: a lazy proxy; calls go to the host and resolve through __sbx_deliver.
  const pending = Object.create(null);
  function callTool(path, args) {
    if (path === "") throw new ErrorCtor("Tool path missing in invocation");
    let json;
    try { json = toJSON(args === undefined ? null : args); } catch (e) {
      throw new TypeErrorCtor("tools." + path + ": the arguments are not JSON-serialisable: " + message(e));
    }
    const id = hStart(path, json === undefined ? "null" : json);
    return new PromiseCtor(function (resolve, reject) { pending[id] = [resolve, reject]; });
  }
  const noEnum = "`tools` is a lazy proxy and cannot be enumerated. Use tools.search({ query }) to discover tools.";
  // One handler for every proxy; each proxy's path is kept on its target
  // under a key only this closure has.
  const pathKey = Symbol("path");
  const toolsHandler = freeze({
    get(t, prop) {
      if (typeof prop === "symbol" || prop === "then" || prop === "toJSON" || prop === "valueOf" || prop === "toString") {
        return undefined;
      }
      const path = t[pathKey];
      return makeTools(path === "" ? prop : path + "." + prop);
    },
    apply(t, self, args) { return callTool(t[pathKey], args[0]); },
    construct(t) { throw new TypeErrorCtor("tools." + t[pathKey] + " is not a constructor"); },
    set() { throw new TypeErrorCtor("`tools` is read-only"); },
    defineProperty() { throw new TypeErrorCtor("`tools` is read-only"); },
    deleteProperty() { throw new TypeErrorCtor("`tools` is read-only"); },
    setPrototypeOf() { throw new TypeErrorCtor("`tools` is read-only"); },
    preventExtensions() { return false; },
    ownKeys() { throw new TypeErrorCtor(noEnum); },
    getOwnPropertyDescriptor() { return undefined; },
    has() { return false; },
  });
  function makeTools(path) {
    const target = () => { };
    target[pathKey] = path;
    return new ProxyCtor(target, toolsHandler);
  }

  // Date and Math.random: every value comes from the host, which records it.
  function now() { return hNow(); }
  function DateShim(...args) {
    if (new.target === undefined) return new OrigDate(now()).toString();
    return construct(OrigDate, args.length === 0 ? [now()] : args, new.target);
  }
  defineProperty(DateShim, "name", { value: "Date" });
  defineProperty(DateShim, "length", { value: 7 });
  DateShim.prototype = OrigDate.prototype;
  defineProperty(OrigDate.prototype, "constructor", { value: DateShim, writable: true, configurable: true });
  DateShim.now = now;
  DateShim.parse = OrigDate.parse;
  DateShim.UTC = OrigDate.UTC;
  g.Date = DateShim;

  // xoshiro128**, seeded once from the host.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, seeded = false;
  function next32() {
    const r = imul(((imul(s1, 5) << 7) | (imul(s1, 5) >>> 25)), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return r;
  }
  function random() {
    if (!seeded) {
      const s = JSONparse(hSeed());
      s0 = s[0] | 0; s1 = s[1] | 0; s2 = s[2] | 0; s3 = s[3] | 0;
      if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
      seeded = true;
    }
    return ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
  }
  Math.random = random;
  {
    let origin;
    const perfNow = function now() {
      const t = hNow();
      if (origin === undefined) origin = t;
      return t - origin;
    };
    delete g.performance;
    g.performance = freeze({ now: perfNow });
  }

  const fixed = { writable: false, enumerable: false, configurable: false };
  defineProperty(g, "tools", { value: makeTools(""), ...fixed });
  defineProperty(g, "console", { value: consoleObject, ...fixed });
  defineProperty(g, "emit", { value: emit, ...fixed });
  defineProperty(g, "fetch", { value: fetch, ...fixed });

  // __sbx_main(fn) runs the wrapped user code and reports how it settled.
  function settled(value) {
    let s;
    try { s = toJSON(value); } catch (e) {
      hDone("unserialisable", "result is not serialisable: " + str(e));
      return;
    }
    // Each UTF-16 unit is at least one byte of UTF-8: no need to copy a
    // result out that is over the limit anyway.
    if (s !== undefined && s.length > hLimit()) {
      hDone("toolarge", "" + s.length);
      return;
    }
    hDone("ok", s === undefined ? "null" : s);
  }
  function failed(e) { hDone("throw", errorText(e)); }
  defineProperty(g, "__sbx_main", {
    value: function (fn) {
      let p;
      try { p = fn(); } catch (e) { failed(e); return; }
      apply(promiseThen, p, [settled, failed]);
    }, ...fixed,
  });
  // __sbx_deliver() hands one tool result to the script; the host calls it
  // only when it has one.
  defineProperty(g, "__sbx_deliver", {
    value: function () {
      const m = JSONparse(hTake());
      const p = pending[m.i];
      delete pending[m.i];
      if (p === undefined) return;
      if (m.ok) p[0](m.v); else p[1](new ErrorCtor(m.e));
    }, ...fixed,
  });
})();
