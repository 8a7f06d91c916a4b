"""Speech, transcription and embeddings: the endpoints beside chat that reach the same account pool."""
