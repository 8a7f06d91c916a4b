"""The messages function (streaming): POST /v1/messages and POST /v1/messages/count_tokens (Anthropic).

AWS: `run.sh` serves this app with uvicorn behind the Lambda Web Adapter. Vercel: `api/messages.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.serverless import prepare

app = prepare(build_app(["messages"]))
