"""The local all-in-one app: every function group's routes in one process, and the video worker."""

from qwen_server.app.factory import all_groups, build_app
from qwen_server.generation.ticker import add_video_worker

app = build_app(all_groups())
add_video_worker(app)
