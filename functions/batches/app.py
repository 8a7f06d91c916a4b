"""The batches function (buffered): /v1/batches (OpenAI), /v1/messages/batches (Anthropic) and the scheduled
tick route /internal/batches/tick (Vercel's cron).

AWS: `handler.py` (Mangum behind the HTTP API, plus the EventBridge schedule's worker entry). Vercel:
`api/batches.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell
from qwen_server.serverless import prepare

runtime = RuntimeCell()  # built on the first request, from the settings the secrets loaded
app = prepare(build_app(["batches"], runtime))
