// Resolves the host interfaces a component imports (`hookgate:plugin/log@0.1.0`, ...) to the
// fakes in host/, so that node can import the SDK. sdk.test.mjs registers it.
const HOST = {
  'hookgate:plugin/log@0.1.0': 'log',
  'hookgate:plugin/config@0.1.0': 'config',
  'hookgate:plugin/kv@0.1.0': 'kv',
};

export async function resolve(specifier, context, next) {
  const name = HOST[specifier];
  if (name) return { url: new URL(`./host/${name}.mjs`, import.meta.url).href, shortCircuit: true };
  return next(specifier, context);
}
