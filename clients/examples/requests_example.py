"""Python requests against the gateway (`make run`): a reply, then a stream read line by line."""

from __future__ import annotations

import json
import sys

import requests

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"
url = f"{BASE}/v1/chat/completions"
headers = {"Content-Type": "application/json"}
data = {"messages": [{"role": "user", "content": "你好,请介绍一下你自己。"}], "max_tokens": 64}

response = requests.post(url, headers=headers, json=data, timeout=120)
print(response.json()["choices"][0]["message"]["content"])

data["stream"] = True
with requests.post(url, headers=headers, json=data, stream=True, timeout=120) as response:
    for line in response.iter_lines():
        if not line.startswith(b"data: "):
            continue
        payload = line[6:].decode()
        if payload == "[DONE]":
            break
        chunk = json.loads(payload)
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            print(chunk["choices"][0]["delta"]["content"], end="", flush=True)
print()
