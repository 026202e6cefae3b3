// The engine's lazy work done while a component is built, not in every fresh instance.
//
// componentize-js snapshots the engine (SpiderMonkey) once the component's module has
// run, and every fresh instance (the default: one per request) starts from that snapshot.
// What the engine does lazily, on first use, is therefore done again in every instance
// unless the module did it before the snapshot. Profiled on the bench's five JavaScript
// plugins in one component (scenario (q); BENCHMARKS.md, "A JavaScript snapshot that has
// done the engine's lazy work"), three such costs were about a quarter of the proxy's CPU:
//
// - Regular expressions are compiled to irregexp bytecode on their first match, not when
//   the literal is evaluated: `irregexp::CompilePattern` was a tenth.
// - Built-in classes are made on first use: `GlobalObject::resolveConstructor` (a class's
//   constructor, prototype and methods, with their names atomized) and the iterator
//   prototypes behind `for...of` were about another tenth.
// - Many built-in methods (`Array.prototype.map`, `String.prototype.replace` with an
//   expression, `Array.from`, ...) are written in JavaScript inside the engine and
//   compiled into a global on their first call: a few percent more.
//
// So build.mjs appends `warmUp(regexLiteralsOrNone(acorn, bundle, warn))` to the bundle (measured,
// the same code run first, before the plugin's, gave the snapshot less), and `warmUp()`
// to componentize-js's generated bindings, which run in a global of their own. The engine keeps
// one compiled expression per (source, flags) in a table its literals share: the
// warm-up makes each literal's expression and runs it on a Latin-1 and on a two-byte
// string (each kind of string has its own compilation), and keeps the expressions
// referenced so that a collection before the snapshot leaves them. It reads the
// descriptor of every property of the global object (the standard classes resolve; no
// getter runs), takes one iterator of each built-in kind, and calls the common built-in
// methods once on throwaway values. The legacy `RegExp.lastMatch`/`$1`... statics are
// left as they start (empty), and a pair `new RegExp` refuses (none should: each was a
// literal the parser took) is skipped. What a plugin could see: if its top level
// replaced a built-in method, the replacement is called once, at build time; and the
// bundle's top-level name `KEPT` (below) is taken, so a plugin declaring it fails to build.

/**
 * Every regular expression literal of `code` (a bundled ES module) as `[pattern, flags]`,
 * each pair once, in the order they first appear. `acorn` is the parser module: the
 * tokens of a full parse tell a literal from a division, which no pattern match can.
 */
export function regexLiterals(acorn, code) {
  const seen = new Map();
  acorn.parse(code, {
    ecmaVersion: 'latest',
    sourceType: 'module',
    onToken(token) {
      if (token.type.label !== 'regexp') return;
      const { pattern, flags } = token.value;
      seen.set(`${flags}/${pattern}`, [pattern, flags]);
    },
  });
  return [...seen.values()];
}

/**
 * `regexLiterals`, or none when acorn cannot parse `code` (syntax newer than acorn's):
 * that costs the expressions' compiling ahead, never the build. `warn` is told why.
 */
export function regexLiteralsOrNone(acorn, code, warn) {
  try {
    return regexLiterals(acorn, code);
  } catch (error) {
    warn(`regular expressions not compiled ahead: acorn cannot parse the bundle (${error.message})`);
    return [];
  }
}

/** The name the warm-up keeps the compiled expressions under (reachable, so kept). */
export const KEPT = '__hookgateRegExpsCompiledAhead';

/**
 * Code for the end of a script or module that does the engine's lazy work when it runs:
 * makes the built-in classes of the global it runs in, calls the common built-in methods
 * once, and compiles `patterns` (`[pattern, flags]` pairs).
 */
export function warmUp(patterns = []) {
  // Each line on its own: a built-in the plugin's top level replaced with one that throws,
  // or one a later engine lacks, skips that line, and never fails the build.
  const calls = [
    'for (const name of Object.getOwnPropertyNames(globalThis)) Object.getOwnPropertyDescriptor(globalThis, name);',
    "for (const iterable of [[], '', new Map(), new Set(), 'a'.matchAll(/a/g), (function* () {})()]) iterable[Symbol.iterator]();",
    "[0].map((x) => x).filter(Boolean).flatMap((x) => [x]).flat(); [0].forEach(() => {}); [0].some(Boolean); [0].every(Boolean); [0].find(Boolean); [0].findIndex(Boolean); [0].reduce((a) => a); [0].includes(0); [0].indexOf(0); [0].join(); [0].slice(); [0].concat([1]).sort(); [...[0].keys(), ...[0].entries(), ...[0].values()];",
    "Array.from([0]); Array.from({ length: 1 }, (x) => x); Object.fromEntries(Object.entries({ a: 0 })); [...new Map([[0, 0]]).entries()]; new Map([[0, 0]]).forEach(() => {}); new Set([0]).forEach(() => {}); [...new Set([0])];",
    "'ab'.replace(/a/g, 'b').replace(/a/, (m) => m).replaceAll('a', 'b').split(/,/).join(); 'a,b'.split(','); 'a'.match(/a/); [...'a'.matchAll(/a/g)]; 'a'.search(/a/); 'a'.padStart(2).padEnd(3).trim(); JSON.parse(JSON.stringify({ a: [0] }));",
  ];
  const lines = [
    '',
    "// hookgate: the engine's lazy work, done before the snapshot (guest-sdk/js/warm-snapshot.mjs).",
    ...calls.map((call) => `try { ${call} } catch {}`),
  ];
  if (patterns.length > 0) {
    lines.push(
      `const ${KEPT} = [];`,
      `for (const [pattern, flags] of ${JSON.stringify(patterns)}) {`,
      '  try {',
      '    const expression = new RegExp(pattern, flags);',
      "    expression.exec('');",
      "    expression.exec('\\u2603');",
      `    ${KEPT}.push(expression);`,
      '  } catch {',
      '    // Not compiled ahead: it compiles, or fails, on first use as before.',
      '  }',
      '}',
    );
  }
  lines.push("try { /(?:)/.exec(''); } catch {}", '');
  return lines.join('\n');
}
