"""Deep Guided Filter: lifts the low-resolution prediction back to full resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DeepGuidedFilterRefiner(nn.Module):
    """A guided filter whose local linear coefficients are predicted by a small network.

    ``coefficients`` works at the model's resolution; ``refine`` brings them to the full one:
    fgr = clamp(a_rgb * src + b_rgb + src), pha = clamp(a_mean * mean(src) + b_alpha), with a
    and b upsampled bilinearly (bgrm/finish/fused.py computes the same in one pass). A model
    that predicts no colour (the selfie segmenter) gives a, b of one channel, the alpha's:
    its foreground is the frame itself, and the three colour channels are never computed.
    """

    def __init__(self, hid_ch: int = 16):
        super().__init__()
        self.box_filter = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.conv1 = nn.Conv2d(4 * 2 + hid_ch, hid_ch, 1)
        self.conv2 = nn.Conv2d(hid_ch, hid_ch, 1)
        self.conv3 = nn.Conv2d(hid_ch, 4, 1)

    def coefficients(
        self, base_src: Tensor, base_fgr_res: Tensor, base_pha: Tensor, base_hid: Tensor
    ) -> tuple[Tensor, Tensor]:
        """base_src [N, 3, h, w], base_fgr_res [N, 3, h, w], base_pha [N, 1, h, w],
        base_hid [N, 16, h, w] -> a, b [N, 4, h, w]."""
        base_x = torch.cat([base_src, base_src.mean(1, keepdim=True)], dim=1)
        base_y = torch.cat([base_fgr_res, base_pha], dim=1)

        mean_x = self.box_filter(base_x)
        mean_y = self.box_filter(base_y)
        cov_xy = self.box_filter(base_x * base_y) - mean_x * mean_y
        var_x = self.box_filter(base_x * base_x) - mean_x * mean_x

        a = torch.cat([cov_xy, var_x, base_hid], dim=1)
        a = self.conv3(F.relu(self.conv2(F.relu(self.conv1(a)))))
        b = mean_y - a * mean_x
        return a, b

    @staticmethod
    def refine(a: Tensor, b: Tensor, fine_src: Tensor) -> tuple[Tensor, Tensor]:
        """a, b [N, 4, h, w] (or [N, 1, h, w]: alpha only), fine_src [N, 3, H, W] -> fgr
        [N, 3, H, W] (fine_src itself for alpha only), pha [N, 1, H, W], clamped to [0, 1];
        the full-resolution temporaries are reused in place."""
        size = fine_src.shape[-2:]
        if a.shape[1] == 1:
            pha = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
            up_a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
            return fine_src, pha.addcmul_(up_a, fine_src.mean(1, keepdim=True)).clamp_(0.0, 1.0)
        fine_x = torch.cat([fine_src, fine_src.mean(1, keepdim=True)], dim=1)
        out = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
        out.addcmul_(F.interpolate(a, size=size, mode="bilinear", align_corners=False), fine_x)
        fgr_res, pha = out.split([3, 1], dim=1)
        return fgr_res.add_(fine_src).clamp_(0.0, 1.0), pha.clamp_(0.0, 1.0)
