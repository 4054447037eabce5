"""Models: the shared encoder builder, task heads and the kerasfer models built on them."""

from kerasfer.models.au_classifier import AUClassifier
from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.domain_independent import DomainIndependentClassifier
from kerasfer.models.fairvae import FairVAE
from kerasfer.models.encoder import FEATURE_MAP_LAYER, SIZES, build_encoder
from kerasfer.models.heads import build_au_head, build_emotion_head
from kerasfer.models.saving import load_model
from kerasfer.models.thresholds import apply_thresholds, best_thresholds, tune_thresholds

__all__ = [
    "AUClassifier",
    "DomainIndependentClassifier",
    "EmotionClassifier",
    "FEATURE_MAP_LAYER",
    "FairVAE",
    "SIZES",
    "apply_thresholds",
    "best_thresholds",
    "build_au_head",
    "build_emotion_head",
    "build_encoder",
    "load_model",
    "tune_thresholds",
]
