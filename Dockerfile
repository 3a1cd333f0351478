# One image for the API and the GPU workers. The CUDA base gives the workers the driver
# libraries FAISS-GPU needs; torch brings its own CUDA runtime from its wheel.
ARG CUDA_BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
FROM ${CUDA_BASE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PIP_NO_CACHE_DIR=1 \
    LOOKALIKE_DATA_DIR=/data \
    TORCH_HOME=/models/torch

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/lookalike
ENV PATH=/opt/lookalike/bin:$PATH

WORKDIR /app
# Dependencies first, so that code changes do not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p embedder index engine api workers cli bench \
    && for p in embedder index engine api workers cli bench; do touch $p/__init__.py; done \
    && pip install --upgrade pip \
    && pip install ".[gpu]"
COPY . .
RUN pip install --no-deps ".[gpu]"

VOLUME ["/data", "/models"]
EXPOSE 8000
CMD ["lookalike", "serve", "--host", "0.0.0.0", "--workers", "0"]
