# syntax=docker/dockerfile:1
# The harness as a container image, for fleet runs on AWS Batch or Kubernetes (docs/fleet.md).
# Both Python environments come from the lock files through the Makefile, exactly as `make setup` makes them.
#
#   docker build -t harness:1 .                                        CPU-only torch (x86-64 also gets DeepSparse)
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/harness:1 --push .   Graviton types too
#   docker build --build-arg TORCH_INDEX_URL= -t harness:1-gpu .       torch with CUDA, for GPU instance types
FROM python:3.11-slim-bookworm

# torch==2.13.0 in requirements.lock resolves to 2.13.0+cpu from this index; empty: PyPI's CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# make runs the set-up; libgomp1 is the OpenMP runtime some engines load from the system.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --user-group harness \
 && mkdir -p /opt/harness \
 && chown harness:harness /opt/harness

USER 10001:10001
WORKDIR /opt/harness

# DeepSparse's own environment first: it changes only with its lock file. On arm64 the Makefile
# records it as unavailable and deepsparse configurations become `unsupported` records.
COPY --chown=10001:10001 Makefile requirements-deepsparse.lock ./
RUN --mount=type=cache,target=/home/harness/.cache/pip,uid=10001,gid=10001 \
    make deepsparse-env

# The main environment from requirements.lock, and the harness installed into it.
COPY --chown=10001:10001 requirements.lock pyproject.toml README.md ./
COPY --chown=10001:10001 harness ./harness
RUN --mount=type=cache,target=/home/harness/.cache/pip,uid=10001,gid=10001 \
    if [ -n "$TORCH_INDEX_URL" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL"; fi \
 && make .venv/.installed

COPY --chown=10001:10001 matrices ./matrices
COPY --chown=10001:10001 recipes ./recipes

ENV PATH=/opt/harness/.venv/bin:$PATH \
    HARNESS_RESULTS_DIR=/home/harness/results \
    HARNESS_CACHE_DIR=/home/harness/.cache/harness

ENTRYPOINT ["harness"]
CMD ["--help"]
