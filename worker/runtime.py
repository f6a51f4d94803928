"""What a worker process loads once and keeps: its torch threads and each model on its device.

Loaded in the process that runs the jobs (Celery's solo pool: the worker process itself), never
in a parent that forks, so CUDA is initialised exactly where it is used.
"""

from __future__ import annotations

import functools
import logging

import torch

import bgrm

from .config import settings

log = logging.getLogger("bgrm.worker")


@functools.cache
def model(name: str = "rvm") -> bgrm.Model:
    """Matting model ``name`` on this worker's device, loaded on its first job (pulled if
    missing) and kept: a worker that has run both models holds both."""
    config = settings()
    if config.threads:
        torch.set_num_threads(config.threads)
    loaded = bgrm.load_model(config.device, model=name, on_notice=log.warning)
    log.info("model %s loaded on %s; %s", name, loaded.device, describe())
    return loaded


def describe() -> str:
    """One line for the worker's start: threads and the folders it may read and write."""
    config = settings()
    note = "" if config.roots_from_env else " (BGRM_INPUT_ROOTS/BGRM_OUTPUT_ROOT not set)"
    roots = ", ".join(str(root) for root in config.input_roots)
    return (
        f"{torch.get_num_threads()} torch thread(s); reads only under {roots}, "
        f"writes only under {config.output_root}{note}"
    )
