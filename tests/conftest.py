"""Shared fixtures: the real sample clip and the real model weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgrm.matting import weights
from tests.media import sample_clips


@pytest.fixture(scope="session")
def samples() -> dict[str, Path]:
    """Paths by name: talk (a real man talking, 176x144, 120 frames, AAC), background, bikes."""
    return sample_clips()


@pytest.fixture(scope="session")
def weights_file() -> Path:
    """The converted weights in the user's cache, pulled once if missing (CI pulls them first)."""
    if not weights.weights_path().is_file() or not weights.onnx_path().is_file():
        weights.pull()
    return weights.weights_path()
