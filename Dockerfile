# xbarnas: API + runner (and, with another command, a Dask worker) on a CPU-only image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    XBARNAS_DATA_DIR=/data XBARNAS_HOST=0.0.0.0 XBARNAS_PORT=8000

WORKDIR /app
# CPU torch first, from PyTorch's CPU index, so that pip does not pull the CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY service service
COPY search search
COPY simulator simulator
COPY surrogate surrogate
RUN pip install . \
    && useradd --create-home --uid 10001 xbarnas \
    && mkdir -p /data && chown xbarnas /data

USER xbarnas
VOLUME ["/data"]
EXPOSE 8000
# The API's liveness probe (docker-compose.yml gives the Dask services their own).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"XBARNAS_PORT\"]}/healthz', timeout=2)"
CMD ["xbarnas", "serve"]
