# Build: docker build -t portfolio .
# Run:   docker run -p 8000:8000 -e PORTFOLIO_DATABASE_URL=postgresql+asyncpg://... portfolio
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install .

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 portfolio && mkdir /data && chown portfolio /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORTFOLIO_DATABASE_URL=sqlite+aiosqlite:////data/portfolio.db \
    PORTFOLIO_LOG_JSON=true
USER portfolio
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2).status != 200)"]
# Migrations run before the server starts; with several replicas, run `alembic upgrade head`
# once as a separate job instead and start the replicas with the uvicorn line alone.
CMD ["sh", "-c", "alembic upgrade head && exec uvicorn --factory portfolio.main.app:create_app --host 0.0.0.0 --port 8000 --no-access-log --no-server-header --proxy-headers"]
