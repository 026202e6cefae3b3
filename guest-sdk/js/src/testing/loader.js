// Module resolution hooks for node: the host's interfaces (`hookgate:plugin/log@0.2.0`,
// ...) resolve to the fakes in ./host/, and `hookgate-sdk` (and `hookgate-sdk/testing`)
// to this SDK, so a plugin module imports in node as it is. register.js installs them.
const HOST = new Set(['log', 'config', 'kv']);
const SDK = {
  'hookgate-sdk': new URL('../index.js', import.meta.url).href,
  'hookgate-sdk/testing': new URL('./index.js', import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  const host = /^hookgate:plugin\/([a-z-]+)@0\.2\.\d+$/.exec(specifier);
  if (host && HOST.has(host[1])) return { url: new URL(`./host/${host[1]}.js`, import.meta.url).href, shortCircuit: true };
  if (/^wasi:http\/(outgoing-handler|types)@0\.2\.\d+$/.test(specifier)) {
    return { url: new URL('./host/wasi-http.js', import.meta.url).href, shortCircuit: true };
  }
  if (specifier in SDK) return { url: SDK[specifier], shortCircuit: true };
  return next(specifier, context);
}
