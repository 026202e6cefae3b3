// What the fake host imports read and record; tests set and inspect it.
export const host = {
  config: 'null',
  lines: [],
  store: new Map(),
  calls: [],
  kvError: undefined, // { tag: 'unavailable' | 'invalid', val: detail } fails every kv call
  reset(config = 'null') {
    Object.assign(this, { config, lines: [], store: new Map(), calls: [], kvError: undefined });
  },
};
