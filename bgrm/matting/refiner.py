"""Deep Guided Filter: lifts the low-resolution prediction back to full resolution."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DeepGuidedFilterRefiner(nn.Module):
    """A guided filter whose local linear coefficients are predicted by a small network.

    fine_src [N, 3, H, W], base_src [N, 3, h, w], base_fgr_res [N, 3, h, w],
    base_pha [N, 1, h, w], base_hid [N, 16, h, w] -> (fgr_res [N, 3, H, W], pha [N, 1, H, W]).
    """

    def __init__(self, hid_ch: int = 16):
        super().__init__()
        self.box_filter = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.conv1 = nn.Conv2d(4 * 2 + hid_ch, hid_ch, 1)
        self.conv2 = nn.Conv2d(hid_ch, hid_ch, 1)
        self.conv3 = nn.Conv2d(hid_ch, 4, 1)

    def forward(
        self,
        fine_src: Tensor,
        base_src: Tensor,
        base_fgr_res: Tensor,
        base_pha: Tensor,
        base_hid: Tensor,
    ) -> tuple[Tensor, Tensor]:
        fine_x = torch.cat([fine_src, fine_src.mean(1, keepdim=True)], dim=1)
        base_x = torch.cat([base_src, base_src.mean(1, keepdim=True)], dim=1)
        base_y = torch.cat([base_fgr_res, base_pha], dim=1)

        mean_x = self.box_filter(base_x)
        mean_y = self.box_filter(base_y)
        cov_xy = self.box_filter(base_x * base_y) - mean_x * mean_y
        var_x = self.box_filter(base_x * base_x) - mean_x * mean_x

        a = torch.cat([cov_xy, var_x, base_hid], dim=1)
        a = self.conv3(F.relu(self.conv2(F.relu(self.conv1(a)))))
        b = mean_y - a * mean_x

        size = fine_src.shape[-2:]
        a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
        out = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
        out.addcmul_(a, fine_x)  # a * fine_x + b, without another full-resolution temporary
        fgr_res, pha = out.split([3, 1], dim=1)
        return fgr_res, pha
