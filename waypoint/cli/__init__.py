"""The `waypoint` command line."""
