"""The audio function (streaming): POST /v1/audio/speech, /v1/audio/transcriptions, /v1/audio/translations
and /v1/embeddings. The audio codecs load on a request's first need, so embeddings never pay for them.

AWS: `run.sh` serves this app with uvicorn behind the Lambda Web Adapter. Vercel: `api/audio.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell
from qwen_server.serverless import prepare

runtime = RuntimeCell()  # built on the first request, from the settings the secrets loaded
app = prepare(build_app(["audio"], runtime))
