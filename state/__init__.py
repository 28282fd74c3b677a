"""Typed state schemas, one module per workflow."""
