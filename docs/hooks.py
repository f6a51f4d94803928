"""MkDocs hook: the `bgrm` command as a click object, for the CLI reference (mkdocs-click).

The reference is generated from the Typer app itself, so every flag and its help come from the
code. This file makes itself importable as `bgrm_cli_reference` for `::: mkdocs-click`.
"""

from __future__ import annotations

import sys

import typer.main

from bgrm._cli import app

command = typer.main.get_command(app)
sys.modules.setdefault("bgrm_cli_reference", sys.modules[__name__])
