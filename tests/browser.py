"""Open a report.html in Debian's headless Chromium, driven by Playwright: what loaded, what failed, how
wide the page is, and a screenshot. tests/reports/test_report_browser.py uses it, and so does the screenshot
in docs/ (remake it with: `python tests/browser.py docs/report-screenshot.png`, MNIST_ROOT set).

Playwright only drives the system's /usr/bin/chromium (`apt-get install chromium`); it never downloads a
browser of its own.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from specs import FAST

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENS = {"phone": {"width": 390, "height": 844, "mobile": True},
           "laptop": {"width": 1366, "height": 768, "mobile": False}}
INSTALL = ("install Debian's chromium package (as root: apt-get update && apt-get install -y chromium) "
           "and the test extra (pip install -e '.[test]', which brings playwright)")

# Everything the page shows of itself, measured in the page.
MEASURE = """() => {
  const root = document.documentElement;
  const wide = [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
  const images = [...document.images].map(i => ({alt: i.alt, src: i.src, complete: i.complete,
    natural: [i.naturalWidth, i.naturalHeight], shown: i.getBoundingClientRect().width}));
  return {client_width: root.clientWidth, scroll_width: root.scrollWidth, too_wide: wide, images};
}"""


def chromium() -> str | None:
    return shutil.which("chromium")


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return f"the Python package playwright is not installed: {INSTALL}"
    if chromium() is None:
        return f"no chromium on PATH: {INSTALL}"
    return None


@dataclass
class Image:
    alt: str
    png: bytes | None  # the embedded bytes, for a data: URL
    complete: bool
    natural: tuple[int, int]  # 0 x 0 when it failed to load
    shown: float  # width on the page, CSS pixels

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.png).hexdigest() if self.png is not None else None


@dataclass
class View:
    screen: str
    client_width: int
    scroll_width: int
    too_wide: list[str]  # elements that reach past the right edge
    images: list[Image]
    errors: list[str] = field(default_factory=list)  # script errors, console errors, failed requests


def data_url_bytes(src: str) -> bytes | None:
    head, _, data = src.partition(",")
    return base64.b64decode(data) if head.startswith("data:") and head.endswith(";base64") else None


def view(report: Path, screen: str, screenshot: Path | None = None) -> View:
    """Load `report` in a fresh Chromium profile at one of SCREENS and measure it."""
    from playwright.sync_api import sync_playwright

    size = SCREENS[screen]
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium(), headless=True, args=FLAGS, is_mobile=size["mobile"],
            has_touch=size["mobile"], viewport={"width": size["width"], "height": size["height"]},
            device_scale_factor=1, offline=True)
        try:
            page = context.new_page()
            page.on("pageerror", lambda err: errors.append(f"script error: {err}"))
            page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" else None)
            page.on("requestfailed", lambda req: errors.append(f"failed to load {req.url[:80]}: {req.failure}"))
            page.goto(report.resolve().as_uri(), wait_until="load")
            got = page.evaluate(MEASURE)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    images = [Image(i["alt"], data_url_bytes(i["src"]), i["complete"], tuple(i["natural"]), i["shown"])
              for i in got["images"]]
    return View(screen, got["client_width"], got["scroll_width"], got["too_wide"], images, errors)


def grade_short(submissions: dict[str, Path], folder: Path, out: Path, config: Path = FAST) -> dict[str, Path]:
    """Grade each submission (name -> file) under `config` with grade-all; name -> its report folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, file in submissions.items():
        shutil.copy(file, folder / f"{name}{file.suffix}")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                           "--jobs", "2", "--config", str(config)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"grade-all failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return {name: out / "submissions" / name for name in submissions}


def main() -> int:
    parser = argparse.ArgumentParser(description="Grade reference/cnn.py under the short config "
                                     "(tests/grading-fast.yml) and screenshot its report.html.")
    parser.add_argument("png", type=Path, help="where to write the laptop-width screenshot")
    parser.add_argument("--phone", type=Path, default=None, help="also a phone-width one (default: none)")
    args = parser.parse_args()
    problem = missing()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        report = grade_short({"reference": ROOT / "reference" / "cnn.py"}, Path(tmp) / "in",
                             Path(tmp) / "out")["reference"] / "report.html"
        for screen, png in (("laptop", args.png), ("phone", args.phone)):
            if png is not None:
                seen = view(report, screen, screenshot=png)
                print(f"{png}: {screen}, {seen.client_width} px wide, page {seen.scroll_width} px, "
                      f"{len(seen.images)} images, {len(seen.errors)} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
