// Print one job as JSON (its status, result, metadata and attempts among the rest):
// node get_job.js [ADDRESS] JOB_ID
"use strict";

const { connect, call, status } = require("./stackduck");

async function main() {
  const [address = "127.0.0.1:50051", jobId] = process.argv.slice(2);
  const client = connect(address);
  try {
    const job = await call(client, "GetJob", { job_id: jobId });
    // result is a proto3 optional field: absent (undefined here) until CompleteJob sends one.
    console.log(JSON.stringify(job, null, 2));
  } finally {
    client.close();
  }
}

main().catch((error) => {
  console.error(`get failed: ${error.details || error.message}`);
  process.exit(error.code === status.NOT_FOUND ? 2 : 1);
});
