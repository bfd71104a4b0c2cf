"""The gRPC entrypoint (grpc.aio) and its generated code."""
