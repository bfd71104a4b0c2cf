// Work jobs: complete those whose payload says {"ok": true} (with a result), fail the others.
// node worker.js [ADDRESS] [JOB_TYPE] [HOW_MANY]   (HOW_MANY: stop after that many answers)
"use strict";

const os = require("node:os");
const { connect, call, status } = require("./stackduck");

const [address = "127.0.0.1:50051", jobType = "email_send", howMany] = process.argv.slice(2);
const workerId = `node-${os.hostname()}-${process.pid}`;
const client = connect(address);
let answered = 0;
let stream = null;
let retries = 0;

// What the job returns becomes its result (JSON text); job.metadata holds what it was enqueued with.
function work(payload, metadata) {
  if (payload.ok !== true) throw new Error(`payload says not ok: ${JSON.stringify(payload)}`);
  return { done: payload.n ?? null, tenant: metadata.tenant ?? null };
}

// Heartbeat every third of the lease; the lease is read off the delivered job.
function keepLeased(job) {
  const leaseSeconds = Math.min(
    Number(job.lease_expires_at) - Number(job.started_at), // the server's clock alone
    Number(job.lease_expires_at) - Date.now() / 1000,
  );
  const every = Math.max((leaseSeconds * 1000) / 3, 100);
  const ack = { job_id: job.id, lease_token: job.lease_token, worker_id: workerId };
  return setInterval(() => call(client, "Heartbeat", ack).catch(() => {}), every);
}

async function handle(job) {
  const beats = keepLeased(job);
  // Every answer names the job, its lease_token and this worker: a late answer is refused.
  const ack = { job_id: job.id, lease_token: job.lease_token, worker_id: workerId };
  try {
    const result = work(JSON.parse(job.payload), job.metadata);
    await call(client, "CompleteJob", { ...ack, result: JSON.stringify(result) });
    console.log(`completed ${job.id}`);
  } catch (error) {
    if (error.code !== undefined) throw error; // a failed RPC, not a failed job
    const reply = await call(client, "FailJob", { ...ack, error_message: error.message });
    console.log(`failed ${job.id}: ${error.message}${reply.will_retry ? " (will retry)" : ""}`);
  } finally {
    clearInterval(beats);
  }
  answered += 1;
  if (howMany && answered >= Number(howMany)) {
    stream.cancel(); // unanswered jobs go back to the queue
    client.close();
  }
}

function consume() {
  // max_in_flight: the server never pushes more than this many unanswered jobs.
  stream = client.ConsumeJobs({ worker_id: workerId, job_types: [jobType], max_in_flight: 4 });
  stream.on("data", (message) => {
    retries = 0;
    handle(message.job).catch((error) => console.error(`answer for ${message.job.id} failed: ${error.details}`));
  });
  stream.on("error", (error) => {
    if (error.code === status.CANCELLED) return; // we closed it
    if (error.code !== status.UNAVAILABLE) {
      console.error(`stream refused: ${error.details}`);
      process.exit(1);
    }
    // UNAVAILABLE: the server is away or shutting down; reconnect with capped exponential backoff.
    const wait = Math.min(100 * 2 ** retries++, 10000);
    console.error(`stream lost (${error.details}); reconnecting in ${wait} ms`);
    setTimeout(consume, wait);
  });
}

consume();
