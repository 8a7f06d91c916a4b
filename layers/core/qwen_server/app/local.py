"""The local all-in-one app: every function group's routes in one process."""

from qwen_server.app.factory import all_groups, build_app

app = build_app(all_groups())
