"""How one matte is judged against another (DESIGN.md): agreement and flicker on still pixels.

    iou, mean_diff = agreement(alpha, reference)
    flicker_alpha, flicker_reference = flicker(alpha, reference, rgb)

alpha and reference are uint8 [T, H, W] mattes of the same frames, rgb uint8 [T, H, W, 3].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

STILL_LUMA = 2.0
"""A pixel is still between two frames when the luma (0-255) of every pixel of its 5x5
neighbourhood changed by less than this."""


def agreement(alpha: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """IoU of the person (alpha > 127) over all frames, and the mean |difference| in 1/255."""
    person, other = alpha > 127, reference > 127
    union = np.logical_or(person, other).sum()
    iou = np.logical_and(person, other).sum() / union if union else 1.0
    difference = np.abs(alpha.astype(np.int16) - reference.astype(np.int16)).mean()
    return float(iou), float(difference)


def still_pixels(rgb: np.ndarray) -> np.ndarray:
    """bool [T-1, H, W]: pixels still between frames t and t+1 (luma, 5x5 neighbourhood)."""
    luma = torch.from_numpy(rgb).float() @ torch.tensor([0.299, 0.587, 0.114])
    change = (luma[1:] - luma[:-1]).abs().unsqueeze(1)
    return (F.max_pool2d(change, 5, 1, 2)[:, 0] < STILL_LUMA).numpy()


def flicker(alpha: np.ndarray, reference: np.ndarray, rgb: np.ndarray) -> tuple[float, float]:
    """Mean frame-to-frame change (1/255) of each matte over the same still pixels."""
    still = still_pixels(rgb)
    if not still.any():
        return 0.0, 0.0

    def change(matte: np.ndarray) -> float:
        steps = np.abs(np.diff(matte.astype(np.int16), axis=0))
        return float(steps[still].mean())

    return change(alpha), change(reference)
