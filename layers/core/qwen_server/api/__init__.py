"""API flavours: each is schemas + two mappings (request in, events out) + one error renderer."""
