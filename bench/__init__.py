"""Benchmarks of chatrpc against a bare FastAPI → grpc.aio chain and the LiteLLM proxy."""
