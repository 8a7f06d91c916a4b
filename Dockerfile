# The local all-in-one server as an image: slim, non-root, state under a volume.
#   docker build -t qwen-api-server .
#   docker run -p 1325:1325 -v qwen-data:/data -e QWEN_ACCOUNTS='[...]' qwen-api-server [--workers N]

# Build stage: the project and its dependencies into a virtualenv, so no source, pip cache or build files ship.
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY layers/core/qwen_server layers/core/qwen_server
# with the audio extra (PyAV): opus and aac speech, gateway-side speed, uploads in any container
RUN /opt/venv/bin/pip install '.[audio]'

FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    QWEN_SERVER_SHARED_DIR=/opt/shared
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin qwen \
    && mkdir /data && chown qwen:qwen /data
COPY --from=build /opt/venv /opt/venv
COPY shared /opt/shared
USER qwen
WORKDIR /data
VOLUME ["/data"]
EXPOSE 1325
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:1325/health', timeout=4)"]
# Extra arguments are passed to `serve`, e.g. `--workers 2` (the default is one worker per CPU the container sees).
ENTRYPOINT ["qwen-server", "serve", "--host", "0.0.0.0", "--port", "1325"]
