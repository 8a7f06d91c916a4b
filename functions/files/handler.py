"""AWS entry of the files function: `handler.handler`, Mangum without the ASGI lifespan (buffered routes)."""

from app import app

from qwen_server.serverless.handler import mangum_handler

handler = mangum_handler(app)
