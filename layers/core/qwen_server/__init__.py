"""Qwen API Server: OpenAI- and Anthropic-compatible gateway in front of a pool of Qwen accounts."""

__version__ = "0.1.0"
