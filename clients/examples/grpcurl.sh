#!/usr/bin/env bash
# grpcurl against a local core (`make run`): list, describe, invoke over server reflection.
set -euo pipefail
TARGET=${TARGET:-localhost:50051}
GRPCURL=${GRPCURL:-$(command -v grpcurl || echo "$(dirname "$0")/../../.venv/bin/grpcurl")}

"$GRPCURL" -plaintext "$TARGET" list
"$GRPCURL" -plaintext "$TARGET" describe chatrpc.v1.ChatService
"$GRPCURL" -plaintext "$TARGET" chatrpc.v1.ChatService/ListModels
"$GRPCURL" -plaintext -d '{"service": ""}' "$TARGET" grpc.health.v1.Health/Check

"$GRPCURL" -plaintext -d '{"messages": [{"role": "ROLE_USER", "content": "What is the capital of France?"}],
                           "generation_config": {"max_tokens": 48}}' \
  "$TARGET" chatrpc.v1.ChatService/Chat

"$GRPCURL" -plaintext -d '{"messages": [{"role": "ROLE_USER", "content": "你好,请介绍一下你自己。"}],
                           "generation_config": {"max_tokens": 48}}' \
  "$TARGET" chatrpc.v1.ChatService/StreamChat

"$GRPCURL" -plaintext -d '{"inputs": ["green tea", "black tea"]}' "$TARGET" chatrpc.v1.ChatService/Embed
