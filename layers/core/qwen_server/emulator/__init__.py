"""A stand-in for the Qwen Chat web API (chat.qwen.ai), speaking its private wire protocol.

Used by tests, benchmarks and the no-credentials demo. Nothing here is imported by the gateway's request path.
"""
