// js-caller: the `caller` test plugin in JavaScript, over the JS SDK's `http` helper.
//
// The last text of a request is a JSON script: `{"calls": [{"method", "url", "headers",
// "body", "timeout_ms", "follow"}], "log": bool}`; each call is made in order (with
// `follow`, a 3xx answer's `location` is called next) and pre-call answers with a JSON
// list of results per call: `{"status", "headers", "body"}` or `{"error": kind, "message"}`.
// With `log`, each request sent is logged. A text that is not a script passes through.

import { Plugin, http, HttpError, log, respond } from 'hookgate-sdk';

function outcome(call) {
  try {
    const response = call();
    return [{ status: response.status, headers: Object.fromEntries(response.headers), body: response.text() }, response];
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return [{ error: error.kind, message: error.message }, undefined];
  }
}

function run(spec, logRequests) {
  const method = spec.method ?? 'POST';
  let url = spec.url ?? '';
  const results = [];
  for (let hop = 0; hop < 3; hop += 1) {
    if (logRequests) log.info(`caller sends ${method} ${url} headers ${JSON.stringify(spec.headers ?? {})} body ${spec.body ?? ''}`);
    const [result, response] = outcome(() => http.request(method, url, spec.headers ?? {}, spec.body, { timeoutMs: spec.timeout_ms }));
    results.push(result);
    const redirect = response && response.status >= 300 && response.status < 400 ? response.header('location') : undefined;
    if (!(redirect && spec.follow)) break;
    url = redirect;
  }
  return results;
}

export default class JsCaller extends Plugin {
  static name = 'js-caller';

  preCall(ctx, req) {
    const texts = req.texts();
    let script;
    try {
      script = JSON.parse(texts.at(-1)?.text ?? '');
    } catch {
      return undefined;
    }
    if (!script || !Array.isArray(script.calls)) return undefined;
    return respond(JSON.stringify(script.calls.map((spec) => run(spec, script.log === true))));
  }
}
