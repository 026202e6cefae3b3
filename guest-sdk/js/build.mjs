#!/usr/bin/env node
// Builds a hookgate plugin written in JavaScript into a WebAssembly component of contract
// hookgate:plugin@0.2 (wit/plugin.wit).
//
//   node guest-sdk/js/build.mjs <plugin.js> -o <out.wasm> [--keep-bundle <file.js>] [--stdio]
//
// 1. Which hooks: esbuild bundles the plugin with the SDK, the host's interfaces
//    (`hookgate:plugin/*`) pointed at the SDK's node fakes (src/testing/host/); a node of
//    its own, under node's permission model (it reads the bundle, writes nothing, and has
//    no environment), evaluates that bundle and the SDK reads the hook methods off the
//    default-exported class (its prototype chain below `Plugin`), as the component will.
//    Imports resolve only to the plugin's folder, the SDK and npm packages.
// 2. The world: a copy of wit/plugin.wit in a temporary directory, with a world appended
//    that includes `imports` and exports `setup` plus exactly those hook interfaces (as
//    the Rust SDK's attribute does), so the component exports nothing else.
// 3. The component's module: esbuild bundles a generated entry that calls the SDK's
//    `exportPlugin(PluginClass)` and exports `setup` and each hook's interface object
//    under the contract's qualified names (`hookgate:plugin/pre-call@0.2.0`); the host's
//    interfaces stay imports, npm packages the plugin imports are bundled in. Code that
//    does the engine's lazy work (compiling the bundle's regular expression literals,
//    making the built-in classes) is appended (warm-snapshot.mjs), so that fresh
//    instances start from a snapshot that has done it.
// 4. componentize-js turns that module into a component of the generated world, with the
//    WASI features the host does not provide disabled (http, fetch-event), and stdio too
//    unless --stdio: console output would otherwise be a proxy log line per call. The
//    glue it generates is adapted: each export rewritten to make no promise per call
//    (export-glue.mjs), and the engine's lazy work of step 3 done in its global too.
//
// Needs `npm ci` in this directory first.

import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { synchronousExports } from './export-glue.mjs';
import { regexLiteralsOrNone, warmUp } from './warm-snapshot.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const witFile = resolve(here, '../../wit/plugin.wit');
const sdk = {
  index: resolve(here, 'src/index.js'),
  testing: resolve(here, 'src/testing/index.js'),
  export: resolve(here, 'src/export.js'),
  plugin: resolve(here, 'src/plugin.js'),
  fakeHost: resolve(here, 'src/testing/host'),
};
/** The contract version the SDK's imports name (src/host.js). */
const SDK_CONTRACT = '0.2';
/** The world the generated WIT adds. */
const WORLD = 'hookgate-export';

const USAGE = `usage: node ${basename(fileURLToPath(import.meta.url))} <plugin.js> -o <out.wasm> [--keep-bundle <file.js>] [--stdio]

  <plugin.js>            the plugin module: \`export default class ... extends Plugin\`
  -o, --out <out.wasm>   where to write the component
  --keep-bundle <file>   also write the bundled JavaScript there (to read what was built)
  --stdio                keep WASI stdio: console.log/console.error reach the proxy's log
                         (off by default: use \`log\` from hookgate-sdk)`;

class UsageError extends Error {}

function parseArgs(argv) {
  const args = { source: undefined, out: undefined, keepBundle: undefined, stdio: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '-o' || arg === '--out') args.out = value();
    else if (arg === '--keep-bundle') args.keepBundle = value();
    else if (arg === '--stdio') args.stdio = true;
    else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else if (args.source === undefined) args.source = arg;
    else throw new UsageError(`unexpected argument ${arg}`);
  }
  if (!args.source) throw new UsageError('no plugin source given');
  if (!args.out) throw new UsageError('no output given (-o <out.wasm>)');
  return args;
}

async function importDependency(name) {
  try {
    return await import(name);
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') throw new Error(`${name} is not installed: run \`npm ci\` in ${here}`);
    throw error;
  }
}

/**
 * Has componentize-js adapt the bindings it generates (the script that lifts and lowers
 * every export call and import): each export made synchronous, without a promise per
 * call (`synchronousExports`, export-glue.mjs), and `warmUp()` appended. The bindings run
 * in a global of their own, whose built-in classes are made lazily as the plugin's are:
 * in every fresh instance, unless done before the snapshot. componentize-js offers no
 * option for either, so its splicer (the pinned 0.23.0's
 * `lib/spidermonkey-embedding-splicer.js`, the module instance its `componentize` uses)
 * is wrapped; a splicer or glue of another shape fails the build rather than build
 * without them.
 */
async function adaptBindings() {
  const entry = import.meta.resolve('@bytecodealliance/componentize-js');
  const { splicer } = await import(new URL('../lib/spidermonkey-embedding-splicer.js', entry).href);
  const splice = splicer?.spliceBindings;
  if (typeof splice !== 'function') throw new Error(`componentize-js (${entry}) has no splicer.spliceBindings to wrap`);
  splicer.spliceBindings = (...args) => {
    const spliced = splice(...args);
    if (typeof spliced?.jsBindings !== 'string') throw new Error('componentize-js spliced no jsBindings text');
    return { ...spliced, jsBindings: synchronousExports(spliced.jsBindings) + warmUp() };
  };
}

/** The contract's package version, e.g. `0.2.0`, from wit/plugin.wit. */
function packageVersion(wit) {
  const match = /^\s*package\s+hookgate:plugin@([0-9A-Za-z.+-]+)\s*;/m.exec(wit);
  if (!match) throw new Error(`${witFile} names no \`package hookgate:plugin@<version>\``);
  const version = match[1];
  if (!version.startsWith(`${SDK_CONTRACT}.`)) {
    throw new Error(`${witFile} is hookgate:plugin@${version}; this SDK writes plugins for ${SDK_CONTRACT}.x`);
  }
  return version;
}

/** The contract interface of each hook method (the SDK's table, read from src/plugin.js). */
async function interfaceNames() {
  const { HOOKS } = await import(pathToFileURL(sdk.plugin).href);
  return Object.fromEntries(HOOKS.map(([method, iface]) => [method, iface]));
}

/**
 * Whether `path`, a file an import resolved to, may be bundled: the plugin's own folder
 * (and below), this SDK, or an npm package. Anything else (`import keys from
 * '/etc/hookgate/keys.json'`, `../../.env`, a symlink out of the folder, which esbuild
 * resolves to its target) would put a file of the build machine into the component.
 */
function mayBundle(path, pluginFolder) {
  const inside = (root) => path === root || path.startsWith(root + sep);
  return inside(pluginFolder) || inside(here) || path.includes(`${sep}node_modules${sep}`);
}

/** esbuild options both bundles share: `hookgate-sdk` is this SDK; `resolveHost` places the host's interfaces. */
function bundleOptions(source, contents, resolveHost, resolveWasi = (resolveArgs) => ({ path: resolveArgs.path, external: true })) {
  return {
    stdin: { contents, resolveDir: dirname(source), sourcefile: 'hookgate-entry.js', loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    alias: { 'hookgate-sdk/testing': sdk.testing, 'hookgate-sdk': sdk.index },
    plugins: [
      {
        name: 'hookgate-host',
        setup: (build) => {
          build.onResolve({ filter: /^hookgate:plugin\// }, resolveHost);
          // WASI interfaces the contract imports: bound by componentize-js as they are named.
          build.onResolve({ filter: /^wasi:/ }, resolveWasi);
          // Every other import: resolved as esbuild would, then kept to files that may be bundled.
          build.onResolve({ filter: /.*/ }, async (args) => {
            if (args.pluginData?.checked) return undefined;
            const { kind, resolveDir, importer } = args;
            const found = await build.resolve(args.path, { kind, resolveDir, importer, pluginData: { checked: true } });
            if (found.errors.length > 0 || found.external || found.namespace !== 'file') return found;
            if (!mayBundle(found.path, dirname(source))) {
              const text = `${args.path} is ${found.path}, outside the plugin's folder, the SDK and npm packages: not bundled`;
              return { errors: [{ text }] };
            }
            return { path: found.path, sideEffects: found.sideEffects, pluginData: found.pluginData };
          });
        },
      },
    ],
    logLevel: 'silent',
    charset: 'utf8',
  };
}

async function bundle(esbuild, what, options) {
  let result;
  try {
    result = await esbuild.build(options);
  } catch (error) {
    const messages = error.errors ? (await esbuild.formatMessages(error.errors, { kind: 'error' })).join('') : `${error.message}\n`;
    throw new Error(`bundling ${what} failed:\n${messages.trimEnd()}`);
  }
  for (const warning of result.warnings) {
    console.error(`warning: ${(await esbuild.formatMessages([warning], { kind: 'warning' })).join('').trim()}`);
  }
  return result.outputFiles[0].text;
}

/**
 * The hook methods the plugin class defines: the plugin bundled with the node fakes of
 * the host's interfaces and evaluated (its top-level code runs, as it will at componentize
 * time), then read by the SDK's `definedHooks`. Evaluated in a node of its own, under
 * node's permission model: it may read the bundle and nothing else, write nothing, start
 * no process or worker, and its environment is empty. Top-level code is the plugin
 * author's, and the build runs on the operator's machine.
 */
async function definedHooks(esbuild, source, work, what) {
  const entry = [`export { default } from ${JSON.stringify(source)};`, `export { definedHooks } from ${JSON.stringify(sdk.export)};`].join('\n');
  const fake = (args) => {
    const name = /^hookgate:plugin\/([a-z-]+)@/.exec(args.path)?.[1];
    if (!['log', 'config', 'kv'].includes(name)) return { errors: [{ text: `the SDK does not provide ${args.path}` }] };
    return { path: join(sdk.fakeHost, `${name}.js`) };
  };
  const fakeWasi = () => ({ path: join(sdk.fakeHost, 'wasi-http.js') });
  const code = await bundle(esbuild, what, bundleOptions(source, entry, fake, fakeWasi));
  const probeFolder = join(work, 'probe');
  await mkdir(probeFolder);
  const probe = join(probeFolder, 'probe.mjs');
  await writeFile(probe, code);
  const runner = join(probeFolder, 'runner.mjs');
  await writeFile(
    runner,
    [
      `const module = await import(${JSON.stringify(pathToFileURL(probe).href)});`,
      `const hooks = module.default === undefined ? null : module.definedHooks(module.default);`,
      `process.stdout.write(JSON.stringify({ hooks }));`,
    ].join('\n'),
  );
  const major = Number(process.versions.node.split('.')[0]);
  const permission = major >= 22 ? '--permission' : '--experimental-permission';
  const flags = [permission, `--allow-fs-read=${probeFolder}`, '--no-warnings', runner];
  const { error, stdout, stderr } = await new Promise((done) => {
    execFile(process.execPath, flags, { env: {}, cwd: probeFolder, maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      done({ error, stdout, stderr }),
    );
  });
  if (error) throw new Error(`loading ${what} failed (its top-level code threw):\n${String(stderr || error.message).trimEnd()}`);
  const { hooks } = JSON.parse(stdout);
  if (hooks === null) throw new Error(`${what} has no default export: \`export default class ... extends Plugin\``);
  return hooks;
}

/** The entry module of the component: the plugin's exports under the contract's names. */
function entryModule(source, hooks, interfaces, version) {
  const lines = [
    `import PluginClass from ${JSON.stringify(source)};`,
    `import { exportPlugin } from ${JSON.stringify(sdk.export)};`,
    `const { interfaces } = exportPlugin(PluginClass, ${JSON.stringify(hooks)});`,
    `const setup = interfaces.setup;`,
    `export { setup as ${JSON.stringify(`hookgate:plugin/setup@${version}`)} };`,
  ];
  for (const method of hooks) {
    lines.push(`const ${method} = interfaces.${method};`);
    lines.push(`export { ${method} as ${JSON.stringify(`hookgate:plugin/${interfaces[method]}@${version}`)} };`);
  }
  return lines.join('\n') + '\n';
}

/** The world a component of `hooks` targets: the imports, `setup`, and exactly those hook interfaces. */
function world(hooks, interfaces) {
  const exports = hooks.map((method) => `    export ${interfaces[method]};\n`).join('');
  return `\nworld ${WORLD} {\n    include imports;\n    export setup;\n${exports}}\n`;
}

function size(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const source = resolve(args.source);
  const out = resolve(args.out);
  try {
    await stat(source);
  } catch {
    throw new Error(`plugin source ${source} does not exist`);
  }
  const wit = await readFile(witFile, 'utf8');
  const version = packageVersion(wit);
  const interfaces = await interfaceNames();

  const esbuild = await importDependency('esbuild');
  const acorn = await importDependency('acorn');
  const { componentize } = await importDependency('@bytecodealliance/componentize-js');
  await adaptBindings();

  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), 'hookgate-js-'));
  try {
    const hooks = await definedHooks(esbuild, source, work, args.source);
    // The SDK imports the contract as @0.2.0; the component's imports are the WIT's 0.2.x.
    const external = (resolveArgs) => ({ path: resolveArgs.path.replace(/@0\.2\.\d+$/, `@${version}`), external: true });
    const moduleCode = await bundle(esbuild, args.source, bundleOptions(source, entryModule(source, hooks, interfaces, version), external));
    const patterns = regexLiteralsOrNone(acorn, moduleCode, (why) => console.error(`warning: ${why}`));
    // Last: measured, it gives the snapshot more than the same code run first (BENCHMARKS.md).
    const code = moduleCode + warmUp(patterns);
    const bundled = performance.now();
    if (args.keepBundle) await writeFile(resolve(args.keepBundle), code);

    // Named after the plugin: a failure's message points into it (`preCall@my-plugin.bundle.js:391:7`).
    let stem = basename(source, extname(source));
    if (stem === 'plugin' || stem === 'index') stem = basename(dirname(source));
    const sourcePath = join(work, `${stem}.bundle.js`);
    await writeFile(sourcePath, code);
    const witDir = join(work, 'wit');
    await mkdir(witDir);
    await writeFile(join(witDir, 'plugin.wit'), wit + world(hooks, interfaces));
    // The WASI packages the contract imports (wasi:http and what it uses).
    await cp(join(dirname(witFile), 'deps'), join(witDir, 'deps'), { recursive: true });

    // The host links WASI p2 without wasi:http: fetch() must go. Clocks and random stay
    // (without clocks, Date.now() aborts the engine; Math.random needs random).
    const disableFeatures = ['http', 'fetch-event'];
    if (!args.stdio) disableFeatures.push('stdio');
    let component;
    try {
      ({ component } = await componentize({ sourcePath, witPath: witDir, worldName: WORLD, disableFeatures }));
    } catch (error) {
      throw new Error(`componentize-js failed for ${args.source}:\n${String(error?.message ?? error).trimEnd()}`);
    }
    await writeFile(out, component);
    const done = performance.now();
    const names = hooks.map((method) => interfaces[method]).join(', ') || 'none';
    console.log(
      `wrote ${args.out}: ${size(component.length)} (${component.length} bytes; bundle ${size(Buffer.byteLength(code))}), ` +
        `hooks: ${names}; in ${((done - started) / 1000).toFixed(1)} s (bundle ${Math.round(bundled - started)} ms, ` +
        `componentize ${((done - bundled) / 1000).toFixed(1)} s)`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  if (error instanceof UsageError) console.error(`error: ${error.message}\n\n${USAGE}`);
  else console.error(`error: ${error?.message ?? error}`);
  process.exit(1);
});
