"""The chat function (streaming): POST /v1/chat/completions.

AWS: `run.sh` serves this app with uvicorn behind the Lambda Web Adapter. Vercel: `api/chat.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.serverless import prepare

app = prepare(build_app(["chat"]))
