"""``python -m unifydb`` runs the command-line interface."""

from .cli import main

main()
