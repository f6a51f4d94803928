"""What a worker process loads once and keeps: its device, torch threads, the model.

Loaded in the process that runs the jobs (Celery's solo pool: the worker process itself), never
in a parent that forks, so CUDA is initialised exactly where it is used.
"""

from __future__ import annotations

import functools
import logging

import torch

from bgrm.device import resolve_device
from bgrm.matting.model import MattingNetwork
from bgrm.pipeline import load_model
from worker.app import settings

log = logging.getLogger("bgrm.worker")


@functools.cache
def model() -> MattingNetwork:
    """The matting network on this worker's device, loaded on first use (pulled if missing)."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = resolve_device(settings.device)
    network = load_model(on_notice=log.warning).to(device).eval()
    log.info("model loaded on %s; %s", device, describe())
    return network


def describe() -> str:
    """One line for the worker's start: threads and the folders it may read and write."""
    note = "" if settings.roots_from_env else " (BGRM_INPUT_ROOTS/BGRM_OUTPUT_ROOT not set)"
    roots = ", ".join(str(root) for root in settings.input_roots)
    return (
        f"{torch.get_num_threads()} torch thread(s); reads only under {roots}, "
        f"writes only under {settings.output_root}{note}"
    )
