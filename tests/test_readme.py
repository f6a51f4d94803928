"""The README's examples, run in the order a newcomer runs them, right after the demo."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from samples.demo import OUTPUTS
from tests.conftest import bgrm

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def code_block(heading: str, language: str) -> str:
    """The first ``language`` code block after ``heading`` in the README."""
    after = README[README.index(f"\n{heading}\n") :]
    return re.search(rf"```{language}\n(.*?)```", after, re.S).group(1)


def files_in(folder: Path) -> dict[Path, int]:
    """Every file under ``folder`` and its modification time (ns)."""
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


@pytest.fixture
def after_the_demo(samples, weights_file, tmp_path) -> Path:
    """A scratch copy of the repository's samples/media as `scripts/demo.sh` leaves it: the
    fetched sample, photo and street clip, and the demo's own outputs."""
    media = tmp_path / "samples" / "media"
    media.mkdir(parents=True)
    for name in ("talk", "background", "bikes"):
        shutil.copy(samples[name], media / samples[name].name)
    for name in OUTPUTS.values():
        shutil.copy(samples["talk"], media / name)  # stands for the demo's result: it exists
    return tmp_path


@pytest.mark.slow
def test_the_using_it_examples_run_in_order_after_the_demo(after_the_demo):
    """Each line succeeds and writes something: none fails with "output exists" because an
    earlier one (or the demo) wrote its output, and none is skipped in silence (a batch with
    --skip-existing must not keep what an earlier example wrote in the same folder)."""
    folder = after_the_demo
    commands = []
    for line in code_block("## Using it", "bash").splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["cd", "samples/media"]:
            folder = folder / "samples" / "media"
        elif words and words[0] == "bgrm" and words[1:] != ["models", "pull"]:
            commands.append((folder, words[1:]))
    assert len(commands) >= 8
    for cwd, words in commands:
        before = files_in(after_the_demo)
        done = bgrm(*words, cwd=cwd)
        assert done.returncode == 0, (words, done.stderr)
        assert "skipped" not in done.stderr, (words, done.stderr)
        written = {
            path for path, mtime in files_in(after_the_demo).items() if before.get(path) != mtime
        }
        assert written, f"{shlex.join(words)} wrote nothing"
    assert (folder / "blurred" / "talk.bgrm.mp4").exists()


@pytest.mark.slow
def test_the_python_example_runs_and_writes_only_under_samples_media(after_the_demo):
    """Run from the repository root, as the README says: it prints its results and the
    "output exists" of its last call, and leaves nothing outside samples/media (which git
    ignores)."""
    code = code_block("## Python API", "python")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=after_the_demo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "person pixels over the clip:" in done.stdout
    assert "output exists" in done.stdout
    written = set(files_in(after_the_demo)) - set(files_in(after_the_demo / "samples" / "media"))
    assert not written, written
    media = after_the_demo / "samples" / "media"
    assert {"talk.beach.mp4", "talk.cutout.mov", "talk.matte.mkv"} <= {
        p.name for p in media.iterdir()
    }
