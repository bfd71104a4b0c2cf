"""Process email_send jobs: python examples/worker.py [ADDRESS] [HOW_MANY]"""

import json
import sys

import grpc

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
how_many = int(sys.argv[2]) if len(sys.argv) > 2 else None
with grpc.insecure_channel(address) as channel:
    stub = StackDuckServiceStub(channel)
    stream = stub.ConsumeJobs(pb.ConsumeJobsRequest(worker_id="worker-001", job_types=["email_send"]))
    for done, message in enumerate(stream, start=1):
        job = message.job
        try:
            print("sending to", json.loads(job.payload)["to"])  # the work
            stub.CompleteJob(pb.CompleteJobRequest(job_id=job.id, lease_token=job.lease_token))
        except Exception as exc:
            stub.FailJob(
                pb.FailJobRequest(job_id=job.id, lease_token=job.lease_token, error_message=str(exc))
            )
        if done == how_many:
            stream.cancel()
            break
