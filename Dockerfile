# syntax=docker/dockerfile:1
# Handyman KPI images, in stages:
#   spa    builds the dashboard with Node (npm ci && npm run build)
#   build  installs the locked Python packages (uv) into /app/.venv
#   nginx  the reverse proxy, with the dashboard's built files (docker build --target nginx)
#   app    the default target: `kpi serve --workers N` (gunicorn), `kpi worker`, `kpi scheduler`,
#          `kpi backup ...` and the backup loop; runs as an unprivileged user
# Configuration comes only from the environment at run time (see .env.example): no secret,
# no .env file and no data is ever copied into an image (.dockerignore keeps them out).

FROM node:22.14.0-bookworm-slim AS spa
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
# vite writes the build to ../kpi_core/web/frontend_dist (frontend/vite.config.ts).
RUN mkdir -p /src/kpi_core/web && npm run build

FROM python:3.11.11-slim-bookworm AS build
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY plugins ./plugins
COPY kpi_core ./kpi_core
COPY --from=spa /src/kpi_core/web/frontend_dist ./kpi_core/web/frontend_dist
RUN uv sync --frozen --all-packages --no-dev --no-editable

FROM nginxinc/nginx-unprivileged:1.27.3-bookworm AS nginx
# The official image renders /etc/nginx/templates/*.template into conf.d/ at start (envsubst).
ENV NGINX_LISTEN=8080 \
    NGINX_SPA_ROOT=/usr/share/nginx/kpi \
    NGINX_UPSTREAM_SERVERS="server app:8000 max_fails=1 fail_timeout=10s;" \
    NGINX_ENVSUBST_FILTER=^NGINX_
USER 0
RUN rm -f /etc/nginx/conf.d/default.conf
USER 101
COPY deploy/nginx/kpi.conf.template /etc/nginx/templates/kpi.conf.template
COPY --from=spa /src/kpi_core/web/frontend_dist /usr/share/nginx/kpi
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:8080/nginx-healthz"]

FROM python:3.11.11-slim-bookworm AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH" \
    KPI_DATA_DIR=/var/lib/kpi \
    KPI_HOST=0.0.0.0 \
    KPI_PORT=8000 \
    KPI_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/kpi-metrics
# Pango, HarfBuzz and fonts for the PDF reports (WeasyPrint); pg_dump and pg_restore for backups.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 kpi \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin kpi \
    && mkdir -p /var/lib/kpi/backups \
    && chown -R 10001:10001 /var/lib/kpi
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY --chmod=0755 deploy/backup-loop /usr/local/bin/kpi-backup-loop
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('KPI_PORT', '8000'), timeout=4)"]
CMD ["kpi", "serve", "--workers", "2"]
