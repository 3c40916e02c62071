"""``python -m flowforge`` runs the command line."""

from flowforge.cli import main

main()
