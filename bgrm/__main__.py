"""`python -m bgrm` runs the CLI."""

from bgrm.cli import main

main()
