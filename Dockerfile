# Handyman KPI application image. Configuration comes only from the
# environment (see .env.example); no secret is baked in.
FROM python:3.11-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    KPI_DATA_DIR=/var/lib/kpi \
    KPI_HOST=0.0.0.0 \
    KPI_PORT=8000

# Pango, HarfBuzz and fonts: WeasyPrint renders the PDF reports with them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv==0.13.9

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY kpi_core ./kpi_core
COPY plugins ./plugins
RUN uv sync --frozen --all-packages --no-dev --no-editable \
    && useradd --system --uid 10001 --home-dir /app kpi \
    && mkdir -p /var/lib/kpi && chown kpi /var/lib/kpi

USER kpi
ENV PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["kpi", "serve"]
