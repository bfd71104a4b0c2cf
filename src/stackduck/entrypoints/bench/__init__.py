"""`stackduck bench`: throughput and latency of a real server over real gRPC,
with producers and workers in processes of their own."""
