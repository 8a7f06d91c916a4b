"""The meta function: /v1/models, /v1/metrics, /health."""

from qwen_server.app.factory import build_app

app = build_app(["meta"])
