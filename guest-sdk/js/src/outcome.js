// What the hooks that decide something may return besides nothing (go on).
//
// - `preCall`: `return respond(text)` answers the client directly.
// - `streamChunk`: `return drop()` does not forward the chunk.
//
// Anything else a hook returns (other than `undefined` or `null`) does not fit it: the SDK
// turns it into a failure naming the hook and the value.

/** An outcome a hook returned: `kind` is the hook it fits. */
export class Outcome {
  constructor(kind, wit, label) {
    this.kind = kind;
    this.wit = wit;
    this.label = label;
    Object.freeze(this);
  }

  toString() {
    return this.label;
  }
}

/**
 * preCall: answer the client with `text` without calling the upstream: a normal
 * completion for chat and text completions (streamed if asked), a 400 for embeddings.
 */
export function respond(text) {
  if (typeof text !== 'string') throw new TypeError(`respond() takes the answer's text (a string), not ${typeof text}`);
  return new Outcome('preCall', { tag: 'respond', val: text }, `respond(${JSON.stringify(text)})`);
}

const DROP = new Outcome('streamChunk', { tag: 'drop' }, 'drop()');

/** streamChunk: do not forward this chunk. */
export function drop() {
  return DROP;
}
