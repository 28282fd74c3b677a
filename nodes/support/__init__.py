"""Nodes of the `support` workflow (customer refund desk); `graphs/support.py` wires them."""
