"""The images function (buffered): POST /v1/images/generations, /v1/images/edits, OpenAI's Videos API
(/v1/videos...), the signed blob links (GET /v1/blobs/{token}) and the video worker's cron route
(/internal/cron/videos).

AWS: `handler.py` (Mangum behind the HTTP API, plus the EventBridge schedule). Vercel: `api/images.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell
from qwen_server.serverless import prepare

runtime = RuntimeCell()  # built on the first request, from the settings the secrets loaded
app = prepare(build_app(["images", "blobs"], runtime))
