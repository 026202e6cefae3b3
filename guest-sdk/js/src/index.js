// hookgate-sdk: write hookgate plugins in JavaScript, for contract hookgate:plugin@0.2.
//
// A plugin is a class: its constructor reads the config, `newCtx()` makes the state one
// request carries, and it defines only the hooks it needs; the component exports exactly
// those and the host calls no others:
//
//     import { Plugin, Rejection, normalize } from 'hookgate-sdk';
//
//     export default class Polite extends Plugin {
//       static name = 'polite';
//       static version = '1.0.0';
//       preCall(ctx, req) {
//         if (req.texts().some((t) => normalize(t.text).includes('darn'))) {
//           throw Rejection.badRequest('please be polite', 'impolite');
//         }
//       }
//     }
//
// `node guest-sdk/js/build.mjs plugin.js -o plugin.wasm` bundles it with this SDK and
// turns it into a component exporting `setup` plus one interface per hook it defines.
//
// Hooks read the request (and the answer) through `Request`, `Response` and `Chunk`: the
// texts a model reads with where they are, fields, headers, and edits, all done by the
// host without a JSON parser in the plugin. Returning nothing goes on; `respond(text)`
// answers a pre-call directly; `drop()` drops a chunk; throwing a `Rejection` is the
// plugin's answer (a 4xx); throwing anything else is a failure (the plugin's `on_error`
// policy applies).
//
// A `Bundle` runs several plugins in one component, so that a request on fresh instances
// starts one engine instead of one per plugin (src/bundle.js says what that changes).

export { Plugin } from './plugin.js';
export { Bundle } from './bundle.js';
export { Rejection, Fail, fail, EditError, KvError } from './errors.js';
export { respond, drop } from './outcome.js';
export { Request, Response, Chunk, Text, Key } from './content.js';
export { log, kv, config } from './host.js';
export { http, HttpError, HttpResponse } from './http.js';
export { normalize, isWhiteSpace, isDefaultIgnorable, HoldBack } from './text.js';
