"""chatrpc core: the gRPC ChatService process and the chat pipeline."""
