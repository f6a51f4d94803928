"""`python -m bgrm` runs the CLI."""

from bgrm._cli import main

main()
