// SPDX-License-Identifier: Apache-2.0
// Preloaded with `node --require` by the MCP interop tests: a server that listens on every
// interface (as server-everything's Express app does) listens on 127.0.0.1 instead, and its
// port is reported on stderr as "CPPFLUE_LISTENING <port>" (start it with PORT=0).
"use strict";
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object") {
    args[0] = Object.assign({}, first, { host: "127.0.0.1" });
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    const callbacks = args.filter((a) => typeof a === "function");
    args = [Number(first), "127.0.0.1", ...callbacks];
  }
  this.once("listening", () => {
    const address = this.address();
    if (address && typeof address === "object") {
      process.stderr.write(`CPPFLUE_LISTENING ${address.port}\n`);
    }
  });
  return listen.apply(this, args);
};
