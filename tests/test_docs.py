"""The documentation: the site builds with no warning, its references are complete, and the
README stays a short front door whose links lead somewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

import bgrm
from bgrm._cli import app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built as CI builds it: `mkdocs build --strict` (a broken link, a missing page
    or anchor, a docstring the API reference cannot read: each is a warning, and fails)."""
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    warnings = [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert done.returncode == 0, "\n".join(warnings) or done.stderr[-2000:]
    return folder


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text()


def commands(command: Any, path: str = "bgrm"):
    """Every command of the CLI (Typer's own Click objects) with its path, a group's subcommands
    after it."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_the_cli_reference_has_every_command_and_option_of_the_cli(site):
    """Generated from the Typer app: a flag added to the code appears without an edit."""
    html = page(site, "reference/cli")
    for path, command in commands(typer.main.get_command(app)):
        assert f'id="{path.replace(" ", "-")}"' in html, f"{path} is not in the CLI reference"
        options = [p for p in command.params if p.param_type_name == "option"]
        for flag in (flag for option in options for flag in option.opts):
            assert flag in html, f"{path} {flag} is not in the CLI reference"


def test_the_api_reference_documents_every_public_name(site):
    """A name added to bgrm.__all__ must get a `::: bgrm.NAME` line in docs/reference/api.md."""
    html = page(site, "reference/api")
    missing = [
        name
        for name in bgrm.__all__
        if name != "__version__"
        and f'id="bgrm.{name}"' not in html
        and f'id="bgrm.{name}.{name}"' not in html
    ]
    assert not missing, f"not in docs/reference/api.md: {missing}"
    assert "__version__" in html
    assert "Parameters:" in html and "bgrm.process" in html  # docstrings rendered, not just names


def test_the_pages_show_their_pictures(site):
    """The pictures the README and the guide show are copied into the site and referenced."""
    pictures = ("demo.png", "light-wrap.png", "grayscale.png", "preview.png", "selfie-vs-rvm.png")
    for picture in pictures:
        assert (site / picture).is_file(), picture
    assert 'src="demo.png"' in (site / "index.html").read_text()
    assert 'src="../../light-wrap.png"' in page(site, "guide/backgrounds")


def test_the_site_loads_nothing_from_the_network(site):
    """No web fonts or scripts from elsewhere: the site reads offline, as it was built."""
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, html
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text), html


def test_the_readme_is_a_short_front_door_whose_links_lead_somewhere():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    for heading in ("## Two commands", "## Using it", "## Python API", "## Documentation"):
        assert f"\n{heading}\n" in readme, heading
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert "docs/reference/cli.md" in local and "docs/reference/api.md" in local
    for link in local:
        assert (ROOT / link).exists(), f"the README links to {link}, which does not exist"


def first_block(text: str, heading: str, language: str) -> str:
    """The first ``language`` code block after ``heading``."""
    after = ("\n" + text)[("\n" + text).index(f"\n{heading}\n") :]
    return re.search(rf"```{language}\n(.*?)```", after, re.S).group(1)


def test_the_guide_shows_the_readme_examples_that_tests_run():
    """tests/test_readme.py runs the README's examples; the guide's copies must be the same."""
    readme = (ROOT / "README.md").read_text()
    guide = (ROOT / "docs" / "guide" / "index.md").read_text()
    python = (ROOT / "docs" / "guide" / "python.md").read_text()
    assert first_block(guide, "## Everyday commands", "bash") == first_block(
        readme, "## Using it", "bash"
    )
    assert first_block(python, "# Python", "python") == first_block(
        readme, "## Python API", "python"
    )
