"""MediaPipe's selfie segmenter (the Meet segmentation model), ported to PyTorch.

    mask = SelfieSegmenter()(x)   # x [N, 3, 144, 256] (landscape) or [N, 3, 256, 256] in [0, 1]

mask [N, 1, H, W] is the probability that a pixel shows the person. The trained weights
(float16 in the TFLite file, float32 here) come in two sizes of input with one architecture:
weights.py converts both (see convert.py). The network has no state of its own; smoothing.py and
network.py make a video matting model of it.
"""

from __future__ import annotations

from torch import Tensor, nn

from bgrm.matting.selfie.decoder import SelfieDecoder
from bgrm.matting.selfie.encoder import SelfieEncoder
from bgrm.matting.selfie.head import GatedHead

LANDSCAPE_SIZE = (144, 256)
SQUARE_SIZE = (256, 256)


class SelfieSegmenter(nn.Module):
    """Encoder -> gated head -> decoder; x [N, 3, H, W] in [0, 1] -> mask [N, 1, H, W]."""

    def __init__(self):
        super().__init__()
        # Registration order is execution order; convert.py maps the TFLite convolutions by it.
        self.encoder = SelfieEncoder()
        self.head = GatedHead()
        self.decoder = SelfieDecoder()

    def forward(self, x: Tensor) -> Tensor:
        s1, s2, s3, f4 = self.encoder(x)
        return self.decoder(self.head(f4), s1, s2, s3)
