# Build: docker build -t portfolio .        (make image builds and checks it with podman)
# Run:   docker run -p 8000:8000 -e PORTFOLIO_DATABASE_URL=postgresql+asyncpg://... portfolio
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# uv trusts the system's certificates, as pip does (a proxy's own certificate installed there
# included), rather than only its bundled roots.
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never \
    UV_SYSTEM_CERTS=1
# uv, pinned with its hashes, in a virtualenv of its own (only /opt/venv goes on).
COPY tools/uv-requirements.txt ./
RUN python -m venv /opt/uv && /opt/uv/bin/pip install --require-hashes --no-deps -r uv-requirements.txt
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, exactly as locked (versions and hashes): a change of the code alone
# rebuilds only the layers below. `make lock` renews the lock from pyproject.toml; make test
# installs the same pins (requirements-dev.lock is this lock plus the development tools).
COPY requirements.lock ./
RUN /opt/uv/bin/uv pip sync --python /opt/venv/bin/python --require-hashes requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN /opt/uv/bin/uv pip install --python /opt/venv/bin/python --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.3.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="portfolio" \
      org.opencontainers.image.description="Self-hosted crypto portfolio tracker: Ethereum and Solana wallets, exact balances in USD, as a REST service." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
RUN useradd --create-home --uid 10001 --user-group portfolio && mkdir /data && chown portfolio /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORTFOLIO_DATABASE_URL=sqlite+aiosqlite:////data/portfolio.db \
    PORTFOLIO_LOG_JSON=true \
    PORTFOLIO_SERVE_HOST=0.0.0.0 \
    PORTFOLIO_SERVE_PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health/live', timeout=2).status != 200)"]
# dumb-init is PID 1 and passes signals on: a process that is PID 1 itself ignores a SIGTERM
# that comes before it has installed a handler (Python starting up). The launcher stops at
# once on SIGTERM while it migrates or the app still imports, then serves with uvicorn (which
# drains gracefully). Forwarded headers are believed only from
# PORTFOLIO_FORWARDED_ALLOW_IPS. With several replicas, run `alembic upgrade head` once as its
# own job and start the replicas without --migrate.
ENTRYPOINT ["dumb-init", "--"]
CMD ["python", "-m", "portfolio.main.launch", "--migrate"]
