# One image recipe for all five services, built with BuildKit (Docker's default builder since
# 23.0; set DOCKER_BUILDKIT=1 on older engines):
#   docker build --build-arg SERVICE=predictor -t mlbus-predictor .
# Installs exactly the locked dependencies of `mlbus[SERVICE]` (the predictor carries no
# scikit-learn) and runs `python -m services.SERVICE` as a non-root user.
# Build arguments besides SERVICE:
#   PYTHON_IMAGE  any Debian-like image whose `python3` is 3.11+ with its venv module
#                 (python:3.11-slim by default; tests/containers builds on a debootstrapped
#                 Debian bookworm with python3 and python3-venv, made without any registry).
#   UV_VERSION    the uv release installed from PyPI, so no image registry beyond the base's
#                 is needed.
# No `# syntax=` line: BuildKit's built-in frontend handles the cache mounts below, and that
# line would fetch a frontend image from a public registry.

ARG PYTHON_IMAGE=python:3.11-slim

# uv, shared by the five builds; then the service's dependencies in a venv of their own,
# rebuilt only when the lock, the extras or the base change. The pip and uv caches are
# BuildKit cache mounts shared by all five images, so each wheel is downloaded once.
FROM ${PYTHON_IMAGE} AS uv
ARG UV_VERSION=0.13.9
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"

FROM uv AS deps
ARG SERVICE
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_PROJECT_ENVIRONMENT=/opt/venv
COPY pyproject.toml uv.lock /src/
RUN --mount=type=cache,target=/root/.cache/uv \
    case "$SERVICE" in ingest|trainer|registry|predictor|monitor) ;; \
      *) echo "build with --build-arg SERVICE=ingest|trainer|registry|predictor|monitor" >&2; exit 1 ;; \
    esac \
    && cd /src && /opt/uv/bin/uv sync --locked --no-dev --no-install-project --extra "$SERVICE"

# The project's own packages, gathered into one directory so the final stage copies them in
# one step (a code change rebuilds only that step, not the dependencies).
FROM scratch AS source
COPY contracts /opt/mlbus/contracts
COPY services /opt/mlbus/services
COPY mlbus /opt/mlbus/mlbus

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/mlbus mlbus \
    && mkdir -p /data \
    && chown mlbus:mlbus /data
ARG SERVICE
COPY --from=deps /opt/venv /opt/venv
COPY --from=source /opt/mlbus /opt/mlbus
# Every service listens on all interfaces in a container; each reads only its own prefix.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/mlbus \
    PYTHONDONTWRITEBYTECODE=1 \
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
