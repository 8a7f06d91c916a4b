#!/bin/sh
# Streaming function entry. On AWS the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap, handler
# run.sh) starts this script, waits until GET /health answers on $PORT, then forwards each invocation as an
# HTTP request and streams the response back (AWS_LWA_INVOKE_MODE=response_stream).
# Locally: PORT=8080 sh functions/<group>/run.sh
set -eu
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# The managed runtime puts the layers (/opt/python) on sys.path for its own handlers; a plain `python`
# started here has to be told. Locally /opt/python is absent and the installed package is used.
PYTHONPATH="/opt/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec python -m uvicorn app:app --app-dir "$here" --host 127.0.0.1 --port "${PORT:-8080}" \
    --lifespan off --no-access-log --log-level warning
