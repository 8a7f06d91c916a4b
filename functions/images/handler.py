"""AWS entry of the images function: `handler.handler`, Mangum without the ASGI lifespan; the EventBridge
schedule's events run one video worker pass (`generation.schedule`)."""

from app import app

from qwen_server.generation.schedule import with_schedule
from qwen_server.serverless.handler import mangum_handler

handler = with_schedule(mangum_handler(app))
