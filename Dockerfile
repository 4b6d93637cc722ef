# One image for the core and the gateway; compose.yaml runs both from it. The llama.cpp wheel
# is built for the portable baseline of scripts/llama_wheel.py, never -march=native.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN python -m pip install --no-cache-dir --upgrade pip \
    && python scripts/llama_wheel.py install \
    && python -m pip install --no-cache-dir ./clients -e '.[model]' \
    && python scripts/llama_wheel.py smoke
ENV CHATRPC_HOST=0.0.0.0 CHATRPC_GATEWAY_HOST=0.0.0.0
EXPOSE 50051 8000
CMD ["python", "-m", "core"]
