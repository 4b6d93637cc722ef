"""chatrpc gateway: OpenAI-compatible HTTP and SSE in front of the gRPC core, through the SDK."""

__version__ = "0.1.0"
