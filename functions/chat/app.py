"""The chat function: POST /v1/chat/completions."""

from qwen_server.app.factory import build_app

app = build_app(["chat"])
