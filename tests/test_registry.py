"""The registry of training methods: a method declared once is trained by `train_model`, offered by
``kerasfer train --model`` and `compare`, and the built-in declarations say what the trainer did by name."""

import json

import pytest

from kerasfer import make_synthfaces
from kerasfer.cli import main
from kerasfer.cli.train import model_help
from kerasfer.comparison import DEFAULT_METHODS, check_methods
from kerasfer.training import MODELS, REWEIGHTED_BY_DEFAULT, Method, build_model, register, train_model, unregister
from kerasfer.training.methods import ALWAYS, BUILT_IN, METHODS, get_method
from kerasfer.training.train import BALANCED_SAMPLING, GROUP_AWARE

PHONE = dict(size="phone", width=8, latent_dim=8)
TOY = "toy_balanced"


def record_finish(model, plan) -> dict:
    """The toy's after-training step: note that it ran, on what, and leave a mark on the model."""
    model.toy_finished = True
    return {"toy_finish": {"attribute": plan.attribute, "steps_per_epoch": plan.steps_per_epoch,
                           "weighted": plan.sample_weight is not None}}


def toy_metrics(model, plan) -> dict:
    return {"toy_metric": {"finished_first": getattr(model, "toy_finished", False)}}


@pytest.fixture
def toy():
    """A baseline variant defined here: balanced batches, always reweighted, an after-training step."""
    method = register(Method(TOY, "the baseline on balanced, reweighted batches (a test)",
                             model="kerasfer.models.classifier:EmotionClassifier", needs_attribute=True,
                             balanced_sampling=True, reweight=ALWAYS, finish=record_finish, metrics=toy_metrics))
    try:
        yield method
    finally:
        unregister(TOY)


@pytest.fixture(scope="module")
def faces():
    return make_synthfaces(128, seed=4, image_size=32, bias="demo")


def test_built_in_declarations_say_what_the_trainer_branched_on():
    assert tuple(MODELS) == BUILT_IN == ("baseline", "reweighted", "balanced", "group_dro", "domain_independent",
                                         "erasure", "fairvae")
    assert MODELS == BUILT_IN and DEFAULT_METHODS == MODELS
    assert tuple(BALANCED_SAMPLING) == ("balanced", "group_dro")
    assert tuple(GROUP_AWARE) == ("balanced", "group_dro", "domain_independent", "erasure")
    assert tuple(REWEIGHTED_BY_DEFAULT) == ("reweighted", "fairvae")
    assert get_method("erasure").finish is not None and get_method("group_dro").metrics is not None
    assert all(get_method(name).help for name in MODELS)


def test_a_registered_method_trains_by_name_and_is_gone_once_unregistered(toy, faces, tmp_path):
    assert TOY in MODELS and TOY in REWEIGHTED_BY_DEFAULT and TOY in BALANCED_SAMPLING
    assert check_methods(f"balanced,{TOY}") == ("baseline", "balanced", TOY) and TOY in DEFAULT_METHODS
    model, metrics = train_model(TOY, faces, faces, epochs=1, batch_size=32, verbose=0, out=tmp_path,
                                 reweight_attribute=None, **PHONE)  # ALWAYS: reweighted even so
    assert metrics["model"] == TOY and metrics["attribute"] == "skin" and metrics["reweight_attribute"] == "skin"
    assert metrics["toy_finish"] == {"attribute": "skin", "steps_per_epoch": 4, "weighted": True}
    assert metrics["toy_metric"] == {"finished_first": True}  # the after-training step ran before the metrics
    assert model.toy_finished and {"accuracy", "per_group"} <= set(metrics)
    assert json.loads((tmp_path / "metrics.json").read_text())["toy_finish"]["attribute"] == "skin"
    assert not (tmp_path / "backup").exists()
    assert type(build_model(TOY, (32, 32, 3), **PHONE)).__name__ == "EmotionClassifier"
    bare = make_synthfaces(64, seed=1, image_size=32)
    bare.attributes.clear()
    with pytest.raises(ValueError, match=f"{TOY} works on a protected attribute"):
        train_model(TOY, bare, epochs=1, verbose=0, **PHONE)
    unregister(TOY)
    assert TOY not in MODELS and TOY not in METHODS
    with pytest.raises(ValueError, match=f"unknown model '{TOY}'"):
        train_model(TOY, faces, epochs=1, verbose=0, **PHONE)
    with pytest.raises(ValueError, match="unknown method"):
        check_methods(TOY)


def test_the_cli_offers_a_registered_method(toy, tmp_path, capsys):
    """The parser is built at every `main` call, so ``--model`` choices and help read the registry then."""
    assert f"{TOY} (the baseline on balanced, reweighted batches (a test))" in model_help()
    argv = ["train", "--model", TOY, "--n-train", "96", "--n-test", "42", "--image-size", "32", "--epochs", "1",
            "--size", "phone", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == TOY and metrics["toy_finish"]["attribute"] == "skin"
    capsys.readouterr()
    unregister(TOY)
    assert main(argv) == 2
    assert f"invalid choice: '{TOY}'" in capsys.readouterr().err


def test_a_builder_function_is_a_model_too(faces):
    """`model` may be a callable: here a builder that narrows the baseline."""
    from kerasfer.models import EmotionClassifier

    def narrow(input_shape, **kwargs):
        return EmotionClassifier(input_shape=input_shape, **{**kwargs, "head_units": 16})

    register(Method("toy_narrow", "a narrow head (a test)", model=narrow))
    try:
        model, metrics = train_model("toy_narrow", faces, epochs=1, batch_size=64, verbose=0, **PHONE)
        assert model.head_units == 16 and metrics["size"] == "phone" and metrics["reweight_attribute"] is None
        assert get_method("toy_narrow").default_size() == "standard"  # no `size` of its own: the encoder's default
    finally:
        unregister("toy_narrow")


def test_declarations_are_checked(toy):
    with pytest.raises(ValueError, match="registered already"):
        register(Method(TOY, "again", model="kerasfer.models.classifier:EmotionClassifier"))
    with pytest.raises(ValueError, match="`reweight` must be one of"):
        Method("toy_bad", "bad", model="kerasfer.models.classifier:EmotionClassifier", reweight="sometimes")
    with pytest.raises(ValueError, match="identifier"):
        Method("toy,bad", "bad", model="kerasfer.models.classifier:EmotionClassifier")
