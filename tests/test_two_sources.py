"""Two sources in one run: labelled faces without groups beside grouped faces without labels."""

import json

import numpy as np
import pytest
from PIL import Image

from kerasfer.data import FaceData, make_synthfaces
from kerasfer.data.union import GROUPED, LABELLED, join_sources, source_shares
from kerasfer.models.mitigations.balanced import balanced_multiplicities
from kerasfer.training import train_model
from kerasfer.training.epochs import epoch_stream

PHONE = dict(size="phone", width=8, latent_dim=8)


def halves(n_labelled=120, n_grouped=80, size=32, seed=0):
    """Expression faces with votes and no attributes, and attribute faces with no labels."""
    faces = make_synthfaces(n_labelled + n_grouped, seed=seed, image_size=size)
    votes = np.random.default_rng(seed).dirichlet(np.ones(7), n_labelled)
    labelled = FaceData(images=faces.images[:n_labelled], labels=faces.labels[:n_labelled], soft_labels=votes)
    grouped = FaceData(images=faces.images[n_labelled:], attributes={k: v[n_labelled:] for k, v in faces.attributes.items()},
                       group_names=faces.group_names)
    return labelled, grouped


def test_the_union_keeps_what_each_source_knows_and_marks_the_rest_unknown():
    labelled, grouped = halves()
    data, sources = join_sources(labelled, grouped)
    assert len(data) == 200 and list(np.bincount(sources)) == [120, 80]
    assert (data.labels[sources == GROUPED] == -1).all() and (data.labels[sources == LABELLED] >= 0).all()
    assert set(data.attribute_names) == {"gender", "skin", "age"}
    assert (data.attributes["skin"][sources == LABELLED] == -1).all()
    np.testing.assert_array_equal(data.attributes["skin"][sources == GROUPED], grouped.attributes["skin"])
    np.testing.assert_allclose(data.soft_labels[:120], labelled.soft_labels)
    assert not data.soft_labels[120:].any()  # zeros: no distribution known
    np.testing.assert_array_equal(data.images[120:], grouped.images)


def test_sources_that_do_not_fit_together_are_refused():
    labelled, grouped = halves()
    with pytest.raises(ValueError, match=r"one image format.*\(32, 32, 3\).*\(48, 48, 1\)"):
        join_sources(labelled, FaceData(images=np.zeros((4, 48, 48, 1), np.uint8), attributes={"gender": [0, 1, 0, 1]}))
    with pytest.raises(ValueError, match="no protected attribute"):
        join_sources(labelled, labelled)
    with pytest.raises(ValueError, match="no emotion labels"):
        join_sources(grouped, grouped)
    renamed = FaceData(images=grouped.images, attributes={"skin": grouped.attributes["skin"]},
                       group_names={"skin": ("a", "b", "c")})
    with pytest.raises(ValueError, match="groups of 'skin' differently"):
        join_sources(FaceData(images=labelled.images, labels=labelled.labels, attributes={"skin": [0] * 120}), renamed)
    for bad in (0, 1, 1.5, "half"):
        with pytest.raises(ValueError, match="groups_share"):
            source_shares(bad)


def test_mixed_epochs_draw_the_sources_at_the_share_asked_seeded():
    sources = np.repeat([LABELLED, GROUPED], [900, 100])
    drawn = [balanced_multiplicities(sources, np.random.default_rng([0, e]), source_shares(0.4)) for e in range(20)]
    share = np.mean([d[sources == GROUPED].sum() / d.sum() for d in drawn])
    assert share == pytest.approx(0.4, abs=0.01) and all(d.sum() == 1000 for d in drawn)
    again = balanced_multiplicities(sources, np.random.default_rng([0, 3]), source_shares(0.4))
    np.testing.assert_array_equal(again, drawn[3])


def test_the_epoch_stream_mixes_and_resumes_at_the_same_batch():
    labelled, grouped = halves(60, 40, size=16)
    data, sources = join_sources(labelled, grouped)
    mix = (sources, source_shares(0.5))

    def grouped_per_batch(start=0):
        stream = epoch_stream(data, 20, epochs=2, seed=1, start_step=start, mix=mix)
        return [int((b["attributes"]["skin"].numpy() >= 0).sum()) for b in stream]

    whole = grouped_per_batch()
    assert len(whole) == 10 and 85 <= sum(whole) <= 115  # half of 2 × 100 draws, give or take (the data: 40 %)
    assert grouped_per_batch(start=3) == whole[3:]
    with pytest.raises(ValueError, match="give one"):
        epoch_stream(data, 20, epochs=1, mix=mix, balance="label")


def test_fairvae_trains_on_both_and_joint_label_methods_are_refused(tmp_path):
    labelled, grouped = halves()
    test = make_synthfaces(70, seed=9, image_size=32)
    model, metrics = train_model("fairvae", labelled, test, groups_data=grouped, groups_share=0.3, epochs=1, seed=0,
                                 verbose=0, out=tmp_path, **PHONE)
    assert np.isfinite(metrics["accuracy"]) and (tmp_path / "model.keras").exists()
    assert model.protected == {"gender": 2, "skin": 3, "age": 3}  # the groups came from the second source
    for name in ("balanced", "reweighted", "group_dro", "domain_independent"):
        with pytest.raises(ValueError, match=f"{name} needs faces that carry both an emotion label and a protected"):
            train_model(name, labelled, groups_data=grouped, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="reweighting balances"):
        train_model("baseline", labelled, groups_data=grouped, reweight_attribute="skin", epochs=1, verbose=0)
    with pytest.raises(ValueError, match="there is none"):
        train_model("baseline", labelled, groups_share=0.3, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="label noise learns T_g"):
        train_model("fairvae", labelled, groups_data=grouped, label_noise="skin", epochs=1, verbose=0)
    assert model.transition is None  # FairVAE's default label noise is off: no face has a label and a group


def test_a_source_on_disk_is_read_into_memory_beside_one_in_memory(tmp_path):
    labelled, grouped = halves(20, 10, size=16)
    paths = []
    for k, image in enumerate(grouped.images):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(image).save(paths[-1])
    on_disk = FaceData(paths=paths, image_size=(16, 16), channels=3, attributes=grouped.attributes,
                       group_names=grouped.group_names)
    data, sources = join_sources(labelled, on_disk)
    assert data.images is not None and len(data) == 30
    np.testing.assert_array_equal(data.images[sources == GROUPED], grouped.images)  # PNG is lossless


def test_audit_is_reachable_from_the_package():
    import kerasfer
    from kerasfer.fairness import audit

    assert kerasfer.audit is audit and "audit" in kerasfer.__all__
    with pytest.raises(AttributeError, match="no attribute 'auditt'"):
        kerasfer.auditt


def _ferplus_folder(root, n, seed):
    rng = np.random.default_rng(seed)
    for split, count in (("FER2013Train", n), ("FER2013Test", n // 2)):
        folder = root / split
        folder.mkdir(parents=True)
        rows = []
        for k in range(count):
            name = f"fer{seed:02d}{k:05d}.png"
            Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / name)
            votes = np.zeros(10, int)
            votes[rng.integers(0, 7)] = 7
            votes[rng.integers(0, 7)] += 3
            rows.append(f'{name},"(0, 0, 48, 48)",{",".join(map(str, votes))}\n')
        (folder / "label.csv").write_text("".join(rows))


def _utkface_folder(root, n, races, seed=2):
    """`n` plain-colour faces named in UTKFace's scheme: adults aged 20–79, both genders, `races` races."""
    root.mkdir()
    rng = np.random.default_rng(seed)
    for k in range(n):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        Image.new("RGB", (24, 24), colour).save(root / f"{20 + k % 60}_{k % 2}_{k % races}_2017010100{k:07d}.jpg.chip.jpg")
    return root


def test_the_cli_trains_fairvae_on_ferplus_with_utkface_groups(tmp_path, capsys):
    from kerasfer.cli.main import main

    _ferplus_folder(tmp_path / "ferplus", 60, seed=1)
    utk = _utkface_folder(tmp_path / "UTKFace", 60, races=5)
    out = tmp_path / "run"
    args = ["train", "--model", "fairvae", "--data", f"ferplus:{tmp_path / 'ferplus'}", "--groups-data", f"utkface:{utk}",
            "--epochs", "1", "--size", "phone", "--attribute", "race", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and "test accuracy" in capsys.readouterr().out
    assert main([*args[:-2], "--out", str(tmp_path / "x"), "--model", "balanced"]) == 2
    assert "balanced needs faces that carry both" in capsys.readouterr().err
