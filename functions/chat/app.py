"""The chat function (streaming): POST /v1/chat/completions.

AWS: `run.sh` serves this app with uvicorn behind the Lambda Web Adapter. Vercel: `api/chat.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell
from qwen_server.serverless import prepare

runtime = RuntimeCell()  # built on the first request, from the settings the secrets loaded
app = prepare(build_app(["chat"], runtime))
