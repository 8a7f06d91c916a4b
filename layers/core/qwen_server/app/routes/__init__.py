"""Route handlers: each module wires one endpoint group to the gateway; no logic of its own."""
