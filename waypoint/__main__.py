"""`python -m waypoint` is the `waypoint` command."""

from waypoint.cli.app import main

main()
