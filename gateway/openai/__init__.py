"""OpenAI's API face: chat completions, the Responses API, embeddings and models."""
