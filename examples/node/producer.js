// Enqueue one job and print its id:
// node producer.js [ADDRESS] [JOB_TYPE] [PAYLOAD_JSON] [RETRY_LIMIT] [METADATA_JSON]
"use strict";

const { connect, call } = require("./stackduck");

async function main() {
  const [address = "127.0.0.1:50051", jobType = "email_send", payload = '{"to": "user@example.com"}', retryLimit, metadata] =
    process.argv.slice(2);
  // payload: JSON text. priority: 1 (high) to 3 (low). Zero or absent fields mean the server's defaults;
  // retry_limit is the exact number of retries, 0 allowed (it is a proto3 optional field).
  const request = { job_type: jobType, payload, priority: 1 };
  if (retryLimit !== undefined && retryLimit !== "") request.retry_limit = Number(retryLimit);
  // metadata: string pairs kept and delivered with the job (a tenant, a W3C traceparent, ...).
  if (metadata !== undefined) request.metadata = JSON.parse(metadata);
  const client = connect(address);
  try {
    const reply = await call(client, "EnqueueJob", request);
    console.log(reply.job_id);
  } finally {
    client.close();
  }
}

main().catch((error) => {
  // INVALID_ARGUMENT says what to fix; UNAVAILABLE means try again (here or elsewhere).
  console.error(`enqueue failed: ${error.details || error.message}`);
  process.exit(1);
});
