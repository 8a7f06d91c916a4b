"""AWS entry of the meta function: `handler.handler`, Mangum without the ASGI lifespan (buffered routes)."""

from app import app

from qwen_server.serverless.handler import mangum_handler

handler = mangum_handler(app)
