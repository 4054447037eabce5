"""`compare` with labels in one source and protected groups in another (FER+ with UTKFace)."""

import json

import numpy as np
import pytest

import kerasfer.comparison.two_sources as two_sources
from kerasfer.comparison import compare
from kerasfer.comparison.two_sources import rate_figures, two_source_methods
from kerasfer.data import FaceData, make_synthfaces
from kerasfer.fairness.rates import NEGATIVE_EMOTIONS, negative_mask
from kerasfer import EMOTIONS

PHONE = dict(size="phone", width=8, latent_dim=8)
NEGATIVE = negative_mask(NEGATIVE_EMOTIONS, EMOTIONS)


def sources(n_labelled=160, n_grouped=200, size=32, seed=0):
    """Labelled faces without groups; grouped faces without labels, split in a training and a test part."""
    faces = make_synthfaces(n_labelled + n_grouped, seed=seed, image_size=size)
    labelled = FaceData(images=faces.images[:n_labelled], labels=faces.labels[:n_labelled])

    def grouped(part):
        return FaceData(images=faces.images[n_labelled:][part],
                        attributes={k: v[n_labelled:][part] for k, v in faces.attributes.items()},
                        group_names=faces.group_names)

    half = n_grouped // 2
    return labelled, grouped(slice(0, half)), grouped(slice(half, None))


def test_rate_figures_are_the_gaps_of_the_predicted_rates():
    happy, angry = EMOTIONS.index("happy"), EMOTIONS.index("angry")
    # group 0: 20 faces all happy; group 1: 20 faces half angry; group 2: 5 faces (too few) all angry
    groups = np.array([0] * 20 + [1] * 20 + [2] * 5 + [-1] * 3)
    predicted = np.array([happy] * 20 + [angry, happy] * 10 + [angry] * 5 + [angry] * 3)
    figures = rate_figures(predicted, groups, 3, len(EMOTIONS), negative_classes=NEGATIVE)
    assert figures["demographic_parity_difference"] == pytest.approx(0.5)
    assert figures["negative_rate_difference"] == pytest.approx(0.5)
    assert figures["negative_rate"] == pytest.approx([0.0, 0.5, 1.0])
    one_group = rate_figures(predicted[:20], groups[:20], 3, len(EMOTIONS), negative_classes=NEGATIVE)
    assert one_group["demographic_parity_difference"] is None


def test_methods_that_need_joint_labels_are_left_out_or_refused():
    assert two_source_methods(("baseline", "balanced", "fairvae", "group_dro"), explicit=False) == ("baseline", "fairvae")
    with pytest.raises(ValueError, match="balanced, group_dro need faces that carry both"):
        two_source_methods(("baseline", "balanced", "fairvae", "group_dro"), explicit=True)


def test_the_rule_picks_the_smallest_rate_gap_among_the_accurate(monkeypatch):
    labelled, grouped, grouped_test = sources(n_labelled=60, n_grouped=60)
    figures = {"baseline": (0.70, 0.30), "fairvae": (0.695, 0.10), "erasure": (0.60, 0.01)}

    def fake_run(name, *args, **kwargs):
        accuracy, gap = figures[name]
        scores = {"accuracy": accuracy, "macro_f1": accuracy, "demographic_parity_difference": gap,
                  "negative_rate_difference": gap / 2, "negative_rate": [0.1, 0.2, 0.3]}
        return {"train_seconds": 1.0, "validation": scores, "test": scores, "metrics": {},
                "leakage": {"skin": {"balanced_accuracy": 0.4, "chance": 1 / 3}}}

    monkeypatch.setattr(two_sources, "_run", fake_run)
    result = compare(labelled, labelled, groups_data=grouped, groups_test=grouped_test, methods="fairvae,erasure",
                     seeds=2, attribute="skin", verbose=0)
    # erasure has the smallest gap but is 10 points less accurate than the baseline: fairvae is chosen
    assert result["recommended"] == "fairvae" and result["sources"] == 2
    assert "demographic-parity difference of skin" in result["rule"] and "need no labels" in result["rule"]
    assert result["test_check"]["demographic_parity_reduction"] == pytest.approx(1 - 0.10 / 0.30)
    assert "not fewer errors" in result["validation"]["statement"]
    figures["fairvae"] = (0.67, 0.10)  # now more than 2 points below the baseline
    assert compare(labelled, labelled, groups_data=grouped, groups_test=grouped_test, methods="fairvae,erasure",
                   seeds=1, attribute="skin", verbose=0)["recommended"] == "baseline"


@pytest.mark.slow  # 15 s; the CLI test below trains the same way in the fast suite
def test_compare_trains_on_both_sources_and_reuses_finished_runs(tmp_path, monkeypatch):
    labelled, grouped, grouped_test = sources()
    out = tmp_path / "cmp"
    result = compare(labelled, labelled, groups_data=grouped, groups_test=grouped_test, methods="fairvae", seeds=1,
                     epochs=1, attribute="skin", out=out, verbose=0, **PHONE)
    assert set(result["methods"]) == {"baseline", "fairvae"}
    for row in result["methods"].values():
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["rates"]["demographic_parity_difference"] <= 1
        assert len(row["rates"]["negative_rate"]) == len(grouped.group_names["skin"])
        assert row["leakage"]["skin"]["chance"] == pytest.approx(1 / 3)
    saved = json.loads((out / "compare.json").read_text())
    assert saved["recommended"] == result["recommended"] and saved["settings"]["n_groups"] == len(grouped)
    assert (out / "runs" / "fairvae" / "seed0" / "model.keras").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("kerasfer.training.train_model", no_training)
    again = compare(labelled, labelled, groups_data=grouped, groups_test=grouped_test, methods="fairvae", seeds=1,
                    epochs=1, attribute="skin", out=out, verbose=0, **PHONE)
    assert again["methods"]["fairvae"]["accuracy"] == result["methods"]["fairvae"]["accuracy"]


@pytest.mark.parametrize("kwargs, match", [
    ({"groups_test": None}, "needs both `groups_data`"),
    ({"validation": "labelled"}, "trusted `validation` set needs faces with both"),
    ({"attribute": ["skin", "gender"]}, "ranks by one attribute"),
    ({"attribute": "race"}, "the groups data has no 'race' attribute"),
    ({"methods": "balanced"}, "balanced need faces that carry both"),
    ({"seed": 3}, r"compare sets \['seed'\]"),
])
def test_bad_two_source_settings_are_refused(kwargs, match):
    labelled, grouped, grouped_test = sources(n_labelled=40, n_grouped=40)
    arguments = {"groups_data": grouped, "groups_test": grouped_test, "seeds": 1, "epochs": 1, "verbose": 0, **kwargs}
    if arguments.get("validation") == "labelled":
        arguments["validation"] = labelled
    with pytest.raises(ValueError, match=match):
        compare(labelled, labelled, **arguments)


def test_the_cli_compares_on_ferplus_with_utkface_groups(tmp_path, capsys, monkeypatch):
    from kerasfer.cli.main import main
    from test_two_sources import _ferplus_folder, _utkface_folder

    _ferplus_folder(tmp_path / "ferplus", 60, seed=1)
    utk = _utkface_folder(tmp_path / "UTKFace", 120, races=4)
    out = tmp_path / "cmp"
    args = ["compare", "--data", f"ferplus:{tmp_path / 'ferplus'}", "--groups-data", f"utkface:{utk}",
            "--attribute", "race", "--methods", "fairvae", "--seeds", "1", "--epochs", "1", "--size", "phone",
            "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "recommended:" in printed and "DPD race" in printed and "leakage" in printed
    saved = json.loads((out / "compare.json").read_text())
    assert saved["attribute"] == "race" and set(saved["methods"]) == {"baseline", "fairvae"}
    page = (out / "compare.html").read_text()
    assert "Which method works on these two sources?" in page and saved["recommended"] in page
    for group in saved["group_names"]:
        assert f"negative rate {group}" in page

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    with monkeypatch.context() as patched:  # the same command again reuses both finished runs
        patched.setattr("kerasfer.training.train_model", no_training)
        assert main(args) == 0
    assert json.loads((out / "compare.json").read_text())["methods"] == saved["methods"]
    capsys.readouterr()
    assert main([*args, "--methods", "balanced"]) == 2
    assert "balanced need faces that carry both" in capsys.readouterr().err
    assert main(["compare", "--data", f"ferplus:{tmp_path / 'ferplus'}", "--groups-share", "0.5"]) == 2
    assert "--groups-share needs --groups-data" in capsys.readouterr().err
