"""Media input: every image, audio clip, video and document a client sends, before any upstream sees it.

`resolve` turns a `MediaPart` into bytes and a sniffed media type (a data: URL decoded, an http(s) URL read
through the guarded fetcher in `fetch`, a `file_id` asked of the file source handed down); `limits` holds the
per-kind size caps and the web accounts' count and mix rules; `capability` refuses a medium the model does
not take; `prepare` runs all of it once per request, before admission.
"""
