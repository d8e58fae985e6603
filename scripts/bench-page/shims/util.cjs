// Node's `util`, as far as qlobber uses it, for bundling the peers into the benchmark page.
exports.inherits = (child, parent) => {
  Object.setPrototypeOf(child.prototype, parent.prototype);
  Object.setPrototypeOf(child, parent);
};
