"""Serving the graphs: auth for LangGraph servers and the checkpoint fence for Aegra."""
