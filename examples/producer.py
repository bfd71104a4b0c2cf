"""Enqueue one job: python examples/producer.py [ADDRESS]"""

import json
import sys

import grpc

from stackduck.entrypoints.grpc.generated import stackduck_pb2 as pb
from stackduck.entrypoints.grpc.generated.stackduck_pb2_grpc import StackDuckServiceStub

address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
with grpc.insecure_channel(address) as channel:
    stub = StackDuckServiceStub(channel)
    reply = stub.EnqueueJob(
        pb.EnqueueJobRequest(
            job_type="email_send",
            payload=json.dumps({"to": "user@example.com", "subject": "Welcome!"}),
            priority=1,  # 1 high .. 3 low
            max_retries=3,  # retried after 30 s, 60 s, 120 s, then dead-lettered
        )
    )
    print(reply.job_id)
