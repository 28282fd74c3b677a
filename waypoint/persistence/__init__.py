"""One database holds checkpoints, Waypoint's own tables, and side-effect keys."""
