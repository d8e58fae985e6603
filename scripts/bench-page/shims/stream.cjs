// Node's `stream`: qlobber's stream classes inherit from these; the benchmark uses none of them.
exports.Readable = function Readable() {};
exports.Writable = function Writable() {};
