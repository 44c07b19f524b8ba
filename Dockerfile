# syntax=docker/dockerfile:1
# One image recipe for all five services:
#   docker build --build-arg SERVICE=predictor -t mlbus-predictor .
# Installs exactly the locked dependencies of `mlbus[SERVICE]` (the predictor carries no
# scikit-learn) and runs `python -m services.SERVICE` as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
RUN case "$SERVICE" in ingest|trainer|registry|predictor|monitor) ;; \
      *) echo "build with --build-arg SERVICE=ingest|trainer|registry|predictor|monitor" >&2; exit 1 ;; \
    esac
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the lock or the extras change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project --extra "$SERVICE"
COPY README.md ./
COPY contracts contracts
COPY services services
COPY mlbus mlbus
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --extra "$SERVICE"

FROM ${PYTHON_IMAGE}
ARG SERVICE
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/mlbus mlbus \
    && mkdir -p /data \
    && chown mlbus:mlbus /data
COPY --from=build /opt/venv /opt/venv
# Every service listens on all interfaces in a container; each reads only its own prefix.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLBUS_SERVICE=${SERVICE} \
    MLBUS_INGEST_HOST=0.0.0.0 \
    MLBUS_TRAINER_HOST=0.0.0.0 \
    MLBUS_REGISTRY_HOST=0.0.0.0 \
    MLBUS_PREDICTOR_HOST=0.0.0.0 \
    MLBUS_MONITOR_HOST=0.0.0.0 \
    MLBUS_REGISTRY_DATA_DIR=/data/registry
USER mlbus
WORKDIR /home/mlbus
# exec: python becomes PID 1 and receives SIGTERM from `docker stop` directly.
CMD ["sh", "-c", "exec python -m \"services.${MLBUS_SERVICE}\""]
