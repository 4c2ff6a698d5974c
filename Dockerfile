# qa-service: Chinese question answering over news bulletins.
#
#   docker build -t qa-service .                          # from PyPI
#   scripts/build-wheelhouse && \
#     docker build --network none -t qa-service .         # offline, from ./wheelhouse
#   docker build --build-arg EMBEDDINGS=1 -t qa-service:embeddings .
#
# The image answers at once: the seed corpus is indexed at build time.
# See docs/docker.md for configuration, volumes and re-indexing your own corpus.

# ---------------------------------------------------------------------------
# Build stage: a virtualenv with the project and its dependencies.
# ---------------------------------------------------------------------------
FROM python:3.11-slim AS build

# 1 installs the optional embeddings extra (.[embeddings]: CPU torch, large).
ARG EMBEDDINGS=0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

# A venv: Debian-based pythons mark the system site-packages externally managed.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# .dockerignore keeps the context small; ./wheelhouse/ comes along when present.
COPY . /src

# With ./wheelhouse/*.whl (scripts/build-wheelhouse) nothing is downloaded:
# --no-index --find-links, so `docker build --network none` works.  Without a
# wheelhouse the same requirements come from PyPI.
RUN set -eu; \
    extra=""; \
    if [ "$EMBEDDINGS" = "1" ]; then extra="[embeddings]"; fi; \
    if ls wheelhouse/*.whl >/dev/null 2>&1; then \
        echo "qa-service: installing from ./wheelhouse (no network)"; \
        pip install --no-index --find-links=/src/wheelhouse "/src${extra}"; \
    else \
        echo "qa-service: no ./wheelhouse, installing from the package index"; \
        pip install "/src${extra}"; \
    fi; \
    qa-service --help >/dev/null; \
    # Nothing installs at run time: drop pip (and setuptools, unless the
    # embeddings stack is in) from the venv the runtime stage copies.
    if [ "$EMBEDDINGS" = "1" ]; then pip uninstall --yes pip; \
    else pip uninstall --yes pip setuptools; fi

# ---------------------------------------------------------------------------
# Runtime stage: the venv, the seed corpus, its index and the seed questions
# (`docker run IMAGE eval`); no build context, no compiler, no pip cache.
# ---------------------------------------------------------------------------
FROM python:3.11-slim

LABEL org.opencontainers.image.title="qa-service" \
      org.opencontainers.image.description="Chinese question answering over news bulletins"

# Configuration (all overridable with `docker run -e NAME=value`):
#   QA_HOST / QA_PORT   address gunicorn binds (0.0.0.0:8000)
#   QA_WORKERS          gunicorn worker processes
#   QA_LOG_LEVEL        DEBUG, INFO, WARNING, ERROR
#   QA_INDEX_DIR        where `index` writes and `serve` reads (a volume)
#   QA_CORPUS           what `index` reads when given no paths (the seeds)
#   QA_UPLOAD_DIR       where POST /api/documents stores uploads (a volume)
#   QA_ADMIN_TOKEN      bearer token that enables POST/DELETE /api/documents (16+ characters)
#   QA_HEADER_TIMEOUT   seconds a client has to send its headers (10; slow clients
#                       cost no thread: see qa_service/web/server.py)
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QA_HOST=0.0.0.0 \
    QA_PORT=8000 \
    QA_WORKERS=2 \
    QA_LOG_LEVEL=INFO \
    QA_INDEX_DIR=/app/index \
    QA_CORPUS=/app/seeds \
    QA_UPLOAD_DIR=/app/uploads

# --build-arg OCR=1: Tesseract with its Simplified Chinese data, so scanned PDF pages are read by
# OCR (qa_service/ingest/formats/ocr.py; needs the network at build time, ~40 MB). Off by default.
ARG OCR=0
# hadolint ignore=DL3008
RUN if [ "$OCR" = "1" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-chi-sim \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# A fixed, non-root uid/gid (10001) so mounted folders can be chowned to it.
RUN groupadd --system --gid 10001 qa \
    && useradd --system --uid 10001 --gid qa --home-dir /app --no-create-home \
               --shell /usr/sbin/nologin qa \
    && mkdir -p /app/index /app/uploads /data \
    && chown qa:qa /app /app/index /app/uploads /data

COPY --from=build /opt/venv /opt/venv
COPY seeds/ /app/seeds/
COPY eval/ /app/eval/

WORKDIR /app
USER 10001:10001

# Index the seed corpus now, so a new container answers at once.  A named
# volume mounted on /app/index starts with a copy of this index.  (This also
# leaves jieba's dictionary cache in /tmp, which saves ~1 s at each start.)
RUN qa-service index /app/seeds --index-dir /app/index

# /app/index: the index (a named volume keeps what `index` writes there);
# /app/uploads: documents added with POST /api/documents;
# /data: your own documents, for `docker run ... qa-service index /data`.
VOLUME ["/app/index", "/app/uploads", "/data"]
EXPOSE 8000

# No curl in slim images: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('QA_PORT', '8000'), timeout=4)"]

# The qa-service CLI: `docker run IMAGE index /data`, `docker run IMAGE ask "…"`.
ENTRYPOINT ["qa-service"]
CMD ["serve"]
