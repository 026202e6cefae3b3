// componentize-js's export glue, without a promise made for every hook call.
//
// componentize-js (the pinned 0.23.0) generates each export of a component as an `async
// function` that lifts the call's arguments, `await`s the plugin's function, then drops
// the borrowed resources and lowers the result into the guest's memory; its engine
// (`call` in the embedding) calls that function and runs the event loop until the
// promise it returned settles. So every hook call made and resolved two or three
// promises and an async-function generator, and SpiderMonkey records where each promise
// was made and resolved (`PromiseDebugInfo`, a captured stack of `SavedFrame`s, whose
// class a fresh instance builds on first use). Profiled on a do-nothing JavaScript
// plugin (BENCHMARKS.md, "JavaScript hook calls without a promise"), that was about a
// fifth of a fresh instance's hook call.
//
// The plugin's side of every export is the SDK's glue (`export.js`), which returns a plain
// value, never a promise: hooks are synchronous, and a hook that returns a promise fails
// with a message saying so. So the `await` waited on nothing. `synchronousExports`
// rewrites each export as a plain function that returns one promise, fulfilled once when
// the component is built (it is in the snapshot) and shared by every call: the engine
// still gets the promise it waits on, and its event loop still runs any job a hook
// queued, after the call's glue has finished (before, the glue's second half ran as one
// of those jobs). The result reaches the host through the memory the glue writes, never
// through the promise, which every export of the contract does (`return;`); an export
// that returned a value would get a promise of it.
//
// The rewrite is checked, not assumed: glue of another shape (no export, an export
// without exactly one `await` of the plugin's function) fails the build, as
// build.mjs does for a splicer of another shape.

/** The name, in the bindings' own global, of the promise every export returns. */
export const SETTLED = '__hookgateSettled';

/** One export of the generated glue: `async function export_…(args) {` at a line's start. */
const EXPORT = /^async function (export_[\w$]+)\(([\w$]+(?:, [\w$]+)*)?\) \{\n/gm;
/** The one place an export waits: `= await <plugin's function>(`. */
const AWAIT = /= await ([\w$]+)\(/g;

/** Why the generated glue could not be rewritten. */
export class UnexpectedGlue extends Error {}

/**
 * `bindings` (componentize-js's generated glue) with every export synchronous and
 * returning the one settled promise [`SETTLED`]; throws `UnexpectedGlue` when the glue
 * is not of the shape this rewrite knows.
 */
export function synchronousExports(bindings) {
  let out = '';
  let from = 0;
  let count = 0;
  for (const header of bindings.matchAll(EXPORT)) {
    const [text, name, args = ''] = header;
    const start = header.index + text.length;
    // A top-level function's body ends at the first `}` alone on a line.
    const end = bindings.indexOf('\n}\n', start);
    if (end < 0) throw new UnexpectedGlue(`the export ${name} has no end`);
    const body = bindings.slice(start, end);
    const waits = [...body.matchAll(AWAIT)];
    const others = body.match(/\bawait\b/g)?.length ?? 0;
    if (waits.length !== 1 || others !== 1) {
      throw new UnexpectedGlue(`the export ${name} awaits ${others} time(s), not once on the plugin's function`);
    }
    const inner = `${name}$synchronous`;
    out += bindings.slice(from, header.index);
    out += `function ${name}(${args}) {\n  const value = ${inner}(${args});\n  return value === undefined ? ${SETTLED} : Promise.resolve(value);\n}\n`;
    out += `function ${inner}(${args}) {\n${body.replace(AWAIT, '= $1(')}`;
    from = end;
    count += 1;
  }
  if (count === 0) throw new UnexpectedGlue('no `async function export_…` found: componentize-js generated glue of another shape');
  out += bindings.slice(from);
  if (/^async function export_/m.test(out)) {
    throw new UnexpectedGlue('an export of another shape is still async');
  }
  return `const ${SETTLED} = Promise.resolve();\n${out}`;
}
