// Node's `assert`, as far as mqemitter uses it, for bundling the peers into the benchmark page.
function assert(ok, message) {
  if (!ok) throw new Error(message ?? "assertion failed");
}
assert.ok = assert;
module.exports = assert;
