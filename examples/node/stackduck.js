// The StackDuckService client, built from proto/stackduck.proto at run time.
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO = process.env.STACKDUCK_PROTO || path.join(__dirname, "..", "..", "proto", "stackduck.proto");

function connect(address) {
  const definition = protoLoader.loadSync(PROTO, {
    keepCase: true, // field names exactly as in the proto: job_type, lease_token
    longs: String, // int64 (times, lease_token) as strings: no precision lost, sent back as is
    defaults: true, // unset fields read as their zero value, as proto3 means them
  });
  const { StackDuckService } = grpc.loadPackageDefinition(definition).stackduck;
  return new StackDuckService(address, grpc.credentials.createInsecure());
}

// A unary call as a promise; a non-OK status rejects with an Error carrying .code and .details.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

module.exports = { connect, call, status: grpc.status };
