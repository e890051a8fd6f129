"""``python -m unifydb`` runs the command-line interface."""

from .cli import run

run()
