"""Models: the shared encoder builder, task heads and the kerasfer models built on them."""

from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.fairvae import FairVAE
from kerasfer.models.encoder import FEATURE_MAP_LAYER, build_encoder
from kerasfer.models.heads import build_au_head, build_emotion_head
from kerasfer.models.saving import load_model

__all__ = [
    "EmotionClassifier",
    "FEATURE_MAP_LAYER",
    "FairVAE",
    "build_au_head",
    "build_emotion_head",
    "build_encoder",
    "load_model",
]
