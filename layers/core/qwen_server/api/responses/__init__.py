"""OpenAI's Responses API over the neutral model: schemas, mapping in, events out, stored responses."""
