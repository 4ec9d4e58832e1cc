"""The offline install bundle: wheels found or refused at bundle time, and the Kaggle dataset it becomes."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_kaggle import FakeKaggle, fake_kaggle, kaggle_env  # noqa: F401
from tests.fake_kaggle_kernels import FakeKernels, isolate_pip, make_wheel
from kagglekit.kaggle import bundle
from kagglekit.kaggle.bundle import BundleError
from kagglekit.errors import KaggleApiError


@pytest.fixture(autouse=True)
def _no_pip_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees no index or find-links of this machine: what a bundle needs must come from the test."""
    isolate_pip(monkeypatch)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bundle.Bundle]:
    """One offline bundle of kagglekit and a probe wheel from a --find-links folder (building takes seconds)."""
    wheels = tmp_path_factory.mktemp("wheels")
    make_wheel(wheels, "kk-probe", "1.2")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_pip(monkeypatch)
        yield bundle.build_bundle(tmp_path_factory.mktemp("out") / "bundle", extras=["kk-probe"], find_links=[wheels], offline=True)


def test_every_kagglekit_requirement_is_either_in_kaggles_image_or_in_the_bundle() -> None:
    required = bundle.requirement_names("kagglekit")
    lacks = {bundle.normalize(n) for n in bundle.KAGGLE_IMAGE_LACKS}
    assert not lacks & bundle.KAGGLE_IMAGE_HAS
    unsorted = required - bundle.KAGGLE_IMAGE_HAS - lacks
    assert not unsorted, f"sort {unsorted} into KAGGLE_IMAGE_HAS or KAGGLE_IMAGE_LACKS in kagglekit/kaggle/bundle.py"
    assert lacks <= required


def test_bundle_holds_kagglekit_and_the_extra_wheels_with_pinned_requirements(built: bundle.Bundle) -> None:
    names = sorted(w.name for w in built.wheels)
    assert names == ["kagglekit-0.1.0-py3-none-any.whl", "kk_probe-1.2-py3-none-any.whl"]
    assert bundle.read_requirements(built.directory) == ["kagglekit==0.1.0", "kk-probe"]
    with zipfile.ZipFile(built.directory / names[0]) as wheel:
        members = wheel.namelist()
    assert "kagglekit/kaggle/kernels.py" in members and "kagglekit/kaggle/bundle.py" in members
    assert not any("__pycache__" in m for m in members)
    assert [p.name for p in built.directory.parent.iterdir()] == ["bundle"]  # no staging folder left


def test_a_missing_wheel_is_an_error_at_bundle_time(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no wheel for kk-missing, which Kaggle's image lacks, and none could be built: put its wheel in a --find-links folder"):
        bundle.build_bundle(tmp_path / "bundle", extras=["kk-missing"], find_links=[tmp_path], offline=True)
    assert not (tmp_path / "bundle").exists()


def test_a_wheel_built_for_this_platform_is_refused(tmp_path: Path) -> None:
    make_wheel(tmp_path / "wheels", "kk-native", "1.0", tag="cp311-cp311-linux_x86_64")
    with pytest.raises(BundleError, match="kk_native-1.0-cp311-cp311-linux_x86_64.whl is built for this machine's platform"):
        bundle.build_bundle(tmp_path / "bundle", extras=["kk-native"], find_links=[tmp_path / "wheels"], offline=True)


def test_publish_creates_the_dataset_then_adds_versions(built: bundle.Bundle, fake_kaggle: FakeKaggle, kaggle_env: Path, tmp_path: Path) -> None:
    kernels = FakeKernels(fake_kaggle, tmp_path)
    first = bundle.publish_bundle(built.directory, poll_seconds=0)
    assert (first.ref, first.created) == ("kagglekit-tester/kagglekit-bundle", True)
    dataset = kernels.datasets[first.ref]
    assert sorted(dataset.files) == ["kagglekit-0.1.0-py3-none-any.whl", "kk_probe-1.2-py3-none-any.whl", "requirements.txt"]
    assert dataset.files["kk_probe-1.2-py3-none-any.whl"] == (built.directory / "kk_probe-1.2-py3-none-any.whl").read_bytes()
    assert dataset.is_private
    again = bundle.publish_bundle(built.directory, notes="second", poll_seconds=0)
    assert (again.ref, again.created, dataset.versions, dataset.notes) == (first.ref, False, 2, ["second"])
    assert bundle.bundle_ref_from(built.directory) == first.ref


def test_publish_to_another_users_dataset_is_refused(built: bundle.Bundle, fake_kaggle: FakeKaggle, kaggle_env: Path, tmp_path: Path) -> None:
    FakeKernels(fake_kaggle, tmp_path)
    with pytest.raises(KaggleApiError, match=r"refused access to dataset someone-else/kagglekit-bundle \(403\)"):
        bundle.publish_bundle(built.directory, dataset="someone-else/kagglekit-bundle", poll_seconds=0)


def test_publish_with_rejected_credentials_says_so(built: bundle.Bundle, fake_kaggle: FakeKaggle, kaggle_env: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    FakeKernels(fake_kaggle, tmp_path)
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key")
    with pytest.raises(KaggleApiError, match="Kaggle rejected your credentials"):
        bundle.publish_bundle(built.directory, poll_seconds=0)


def test_the_embed_checkpoint_travels_beside_the_wheels_and_the_notebook_points_at_it(tmp_path: Path) -> None:
    from kagglekit.kaggle.kernels import INSTALL_SOURCE

    wheels, checkpoint = tmp_path / "wheels", tmp_path / "minilm"
    make_wheel(wheels, "kk-probe", "1.2")
    checkpoint.mkdir()
    for name in bundle.CHECKPOINT_FILES:
        (checkpoint / name).write_text(f"{name} content")
    built = bundle.build_bundle(tmp_path / "bundle", extras=["kk-probe"], find_links=[wheels], offline=True, checkpoint=checkpoint)
    assert [(built.directory / name).read_text() for name in bundle.CHECKPOINT_FILES] == [f"{n} content" for n in bundle.CHECKPOINT_FILES]
    assert built.checkpoint_bytes == sum(len(f"{n} content") for n in bundle.CHECKPOINT_FILES)
    assert 'os.environ["KAGGLEKIT_EMBED_CHECKPOINT"] = str(bundle)' in INSTALL_SOURCE
    (checkpoint / "vocab.txt").unlink()
    with pytest.raises(BundleError, match="lacks vocab.txt"):
        bundle.build_bundle(tmp_path / "bundle2", extras=["kk-probe"], find_links=[wheels], offline=True, checkpoint=checkpoint)
