#!/usr/bin/env bash
# curl against the gateway (`make run`): non-stream, stream, models, an error.
set -euo pipefail
BASE=${BASE:-http://localhost:8000}

curl -s "$BASE/v1/models"; echo

curl -s -X POST "$BASE/v1/chat/completions" \
  -H "Content-Type: application/json" \
  -d '{"messages": [{"role": "user", "content": "你好,请介绍一下你自己。"}], "max_tokens": 64}'
echo

curl -sN -X POST "$BASE/v1/chat/completions" \
  -H "Content-Type: application/json" \
  -d '{"messages": [{"role": "user", "content": "Tell me about tea."}], "max_tokens": 48,
       "stream": true, "stream_options": {"include_usage": true}}'

curl -s -X POST "$BASE/v1/chat/completions" \
  -H "Content-Type: application/json" \
  -d '{"messages": [{"role": "user", "content": "hi"}], "temperature": 5}'
echo

curl -s -X POST "$BASE/v1/embeddings" \
  -H "Content-Type: application/json" \
  -d '{"model": "smollm2-135m-instruct", "input": ["I love green tea.", "The train leaves at nine."]}'
echo
