"""The meta function (buffered): GET /v1/models, /v1/models/{id}, /v1/metrics, /health, the admin routes
(/admin/accounts and its actions, /admin/usage, /admin/queues, /admin/errors) and the admin page (GET /admin).

AWS: `handler.py` (Mangum behind the HTTP API). Vercel: `api/meta.py`.
"""

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell
from qwen_server.serverless import prepare

runtime = RuntimeCell()  # built on the first request, from the settings the secrets loaded
app = prepare(build_app(["meta", "admin"], runtime))
