"""Building blocks of the IN2 generator: encoder (stem + DPBs), attention body, implicit decoder."""

from .body import NHAB, AttentionBody, FFCBody, NeighborhoodAttention, NHABGroup
from .channel_attention import CAB, ChannelAttention
from .decoder import INRB, PyramidDecoder
from .encoder import DPB, Encoder, Stem
from .ffc import FFC, FFCResBlock, FourierUnit, SpectralTransform

__all__ = [
    "AttentionBody", "CAB", "ChannelAttention", "DPB", "Encoder", "FFC", "FFCBody", "FFCResBlock",
    "FourierUnit", "INRB", "NHAB", "NHABGroup", "NeighborhoodAttention", "PyramidDecoder",
    "SpectralTransform", "Stem",
]
