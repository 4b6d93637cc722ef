"""What every face shares: the request context, bodies, errors, deadlines, SSE, connections."""
