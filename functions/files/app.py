"""The files function (buffered): /v1/files on both APIs (upload, list, metadata, content, delete).

AWS: `handler.py` (Mangum behind the HTTP API). Vercel: `api/files.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell
from qwen_server.serverless import prepare

runtime = RuntimeCell()  # built on the first request, from the settings the secrets loaded
app = prepare(build_app(["files"], runtime))
