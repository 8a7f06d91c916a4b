"""Uploaded and generated files: metadata in the state store, bytes in the blob store, one tenant each.

Both APIs share one record per file; `api` says which API's shapes and listing it belongs to.
"""

from qwen_server.files.records import FileRecord
from qwen_server.files.service import Files

__all__ = ["FileRecord", "Files"]
