"""Batches on both APIs: validated at creation, split into chunks of lines, processed by workers that lease
chunks from the store (so many instances share a batch and a crashed worker's chunk is taken over), each line's
result written exactly once, then gathered into the API's output (OpenAI output/error files, Anthropic results).
"""
