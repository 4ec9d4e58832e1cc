"""The HTML report in a real browser: headless Chromium loads it offline, every plot decodes, the page is not blank.

CI installs the browser with `apt-get install -y chromium` (Debian's package, /usr/bin/chromium).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from kagglekit.analysis.report import build_report
from kagglekit.engine.trainer import RunResult
from tests.test_analysis import make_small_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
# Reports images' decoded sizes after load; added to a copy of the report, which itself has no scripts.
PROBE = """<script>window.addEventListener("load", () => {
  const sizes = [...document.images].map(img => `${img.naturalWidth}x${img.naturalHeight}`);
  const probe = Object.assign(document.createElement("pre"), {id: "probe", textContent: sizes.join(" ")});
  document.body.append(probe);
});</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a fresh profile, no network services, no sandbox (containers run it as root)."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    result = make_small_run(tmp_path_factory.mktemp("workspace"))
    return result, build_report(result.run)


def test_browser_shows_leaderboard_sections_and_every_plot(report: tuple[RunResult, Path], tmp_path: Path) -> None:
    result, path = report
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()).stdout

    rows = re.findall(r'<tr data-key="([^"]+)"[^>]*>', dom.split('id="leaderboard-table"')[1].split("</table>")[0])
    assert rows == result.leaderboard["model"].tolist() and {"baseline", "bigram", "ensemble_mean"} <= set(rows)
    for section in ("leaderboard", "ensembles", "plots", "errors", "adversarial", "submissions", "config"):
        assert f'<section id="{section}">' in dom
    plots = sorted((result.run.directory / "plots").glob("*.png"))
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"', dom)
    assert len(images) == len(plots) == 5  # the run's four plots and the adversarial validation's
    sizes = re.search(r'<pre id="probe">([^<]*)</pre>', dom).group(1).split()
    expected = []
    for plot in plots:
        with Image.open(plot) as image:
            expected.append(f"{image.width}x{image.height}")
    assert sorted(sizes) == sorted(expected)  # every embedded PNG decoded at its real size
    assert "&lt;b&gt;fire&lt;/b&gt;" in dom and "<b>fire</b>" not in dom  # a tweet's tags stay text


def test_screenshot_is_a_rendered_page(report: tuple[RunResult, Path], tmp_path: Path) -> None:
    _, path = report
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}", path.as_uri())
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        gray = image.convert("L")
        assert len(gray.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # text, tables and plots, not a blank page
        darkest, lightest = gray.getextrema()
        assert darkest < 80 and lightest > 240  # dark text on a light background
