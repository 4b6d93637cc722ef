"""DB-GPT's chat face: /api/v2/chat/completions in DB-GPT's shapes."""
