"""Graph wiring, one module per workflow."""
