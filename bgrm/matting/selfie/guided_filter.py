"""The guided filter (He, Sun, Tang) that gives the low-resolution mask the frame's edges.

Its local linear model, q = a * I + b over each window, is what RVM's refiner applies at full
resolution (``DeepGuidedFilterRefiner.refine``): computed here at a reduced size, averaged, and
upsampled there against the full-resolution frame, as in the fast guided filter (He, Sun 2015).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over each (2r+1)^2 window, x [N, C, h, w] -> same shape (edges: the pixels inside)."""
    return F.avg_pool2d(x, 2 * radius + 1, 1, radius, count_include_pad=False)


def guided_coefficients(
    guide: Tensor, mask: Tensor, radius: int, eps: float
) -> tuple[Tensor, Tensor]:
    """guide [N, 1, h, w] (the frame's mean of R, G, B), mask [N, 1, h, w] in [0, 1] ->
    window-averaged a, b [N, 1, h, w] such that a * guide + b follows the mask and the guide's
    edges. ``eps`` (in squared intensity) sets how strong an edge must be to be followed."""
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(mask, radius)
    cov_ip = box_mean(guide * mask, radius) - mean_i * mean_p
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius), box_mean(b, radius)
