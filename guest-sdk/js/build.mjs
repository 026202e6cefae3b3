#!/usr/bin/env node
// Builds a hookgate plugin written in JavaScript into a WebAssembly component.
//
//   node guest-sdk/js/build.mjs <plugin.js> -o <out.wasm> [--keep-bundle <file.js>] [--stdio]
//
// 1. esbuild bundles a generated entry module: it imports the plugin's default export (a
//    class, see src/index.js) and re-exports the ten functions of the `plugin` world from
//    the SDK's adapter. `hookgate-sdk` resolves to this directory's src/index.js, the host
//    interfaces (`hookgate:plugin/*`) stay imports, and npm packages the plugin imports
//    are bundled in.
// 2. componentize-js turns that one module into a component of the world `plugin` in
//    ../../wit, with the WASI features the host does not provide disabled (http,
//    fetch-event), and stdio too unless --stdio: console output would otherwise be a
//    proxy log line per call, and an uncaught error's stack a line per frame.
//
// Needs `npm ci` in this directory first.

import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const witPath = resolve(here, '../../wit');
const sdkPath = resolve(here, 'src/index.js');

const WORLD_FUNCTIONS = [
  ['describe', ''],
  ['init', 'config'],
  ['preCall', 'req'],
  ['moderation', 'req'],
  ['postCallSuccess', 'req, resp'],
  ['postCallFailure', 'req, failure'],
  ['streamChunk', 'ctx, chunk'],
  ['streamEnd', 'ctx, text'],
  ['logSuccess', 'payload'],
  ['logFailure', 'payload'],
];

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
    if (error?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`${name} is not installed: run \`npm ci\` in ${here}`);
    }
    throw error;
  }
}

function entryModule(source) {
  const lines = [
    `import PluginClass from ${JSON.stringify(source)};`,
    `import { exportPlugin } from 'hookgate-sdk';`,
    `const world = exportPlugin(PluginClass);`,
  ];
  for (const [fn, params] of WORLD_FUNCTIONS) {
    lines.push(`export function ${fn}(${params}) { return world.${fn}(${params}); }`);
  }
  return lines.join('\n') + '\n';
}

async function bundle(esbuild, source) {
  const result = await esbuild.build({
    stdin: { contents: entryModule(source), resolveDir: dirname(source), sourcefile: 'hookgate-entry.js', loader: 'js' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    alias: { 'hookgate-sdk': sdkPath },
    external: ['hookgate:plugin/*'],
    logLevel: 'silent',
    charset: 'utf8',
  });
  for (const warning of result.warnings) {
    console.error(`warning: ${(await esbuild.formatMessages([warning], { kind: 'warning' })).join('').trim()}`);
  }
  return result.outputFiles[0].text;
}

function kb(bytes) {
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

  const esbuild = await importDependency('esbuild');
  const { componentize } = await importDependency('@bytecodealliance/componentize-js');

  const started = performance.now();
  let code;
  try {
    code = await bundle(esbuild, source);
  } catch (error) {
    const messages = error.errors ? (await esbuild.formatMessages(error.errors, { kind: 'error' })).join('') : `${error.message}\n`;
    throw new Error(`bundling ${args.source} failed:\n${messages.trimEnd()}`);
  }
  const bundled = performance.now();
  if (args.keepBundle) await writeFile(resolve(args.keepBundle), code);

  const work = await mkdtemp(join(tmpdir(), 'hookgate-js-'));
  try {
    // Named after the plugin: a fault's message points into it (`preCall@my-plugin.bundle.js:391:7`).
    let stem = basename(source, extname(source));
    if (stem === 'plugin' || stem === 'index') stem = basename(dirname(source));
    const sourcePath = join(work, `${stem}.bundle.js`);
    await writeFile(sourcePath, code);
    // The host links WASI p2 without wasi:http: fetch() must go. Clocks and random stay
    // (without clocks, Date.now() aborts the engine; Math.random needs random).
    const disableFeatures = ['http', 'fetch-event'];
    if (!args.stdio) disableFeatures.push('stdio');
    let component;
    try {
      ({ component } = await componentize({ sourcePath, witPath, worldName: 'plugin', disableFeatures }));
    } catch (error) {
      throw new Error(`componentize-js failed for ${args.source}:\n${String(error?.message ?? error).trimEnd()}`);
    }
    await writeFile(out, component);
    const done = performance.now();
    console.log(
      `wrote ${args.out}: ${kb(component.length)} (${component.length} bytes; bundle ${kb(Buffer.byteLength(code))}) ` +
        `in ${((done - started) / 1000).toFixed(1)} s (bundle ${Math.round(bundled - started)} ms, componentize ${((done - bundled) / 1000).toFixed(1)} s)`,
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
