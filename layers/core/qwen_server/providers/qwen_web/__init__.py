"""The Qwen Chat web upstream (chat.qwen.ai's private API). Every protocol detail lives in one module here."""
