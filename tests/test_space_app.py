"""The Space app of the exported folders (`videotext.hub_cards.space`), in a real browser.

For every registered method, the tiny model is exported (`save_hub_folder` writes app.py and requirements.txt next
to it) and `python app.py --port N --model-dir DIR` is started on localhost in a process that refuses
`import videotext`. Headless Chromium (Debian's `chromium` + `chromium-driver`, driven by selenium) then uses the
page as a person would:

- captioner: upload a synthetic clip, set beams and length, click Caption, read the caption: it must equal
  `model.generate` in this process with the same settings;
- retriever: the gallery of `examples/` clips shows on load; type a query, click Search, read the ranked gallery:
  its order (and the scores of the ranking table) must equal the cosine ranking of the model's features here; an
  uploaded clip joins the gallery and the next search ranks it too.

A screenshot of each page is saved under the test's tmp dir (`<method>-<task>.png`). Without Chromium the tests
fail (CI installs it in `.ci/run`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from test_pipelines import (
    Exported,
    build_tiny,
    ranked,
    reference_captions,
    reference_ranking,
    shape_clip,
    write_clips,
)

from videotext.modeling import METHODS

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1400"]  # fmt: skip
STARTUP_S = 240  # the app imports torch, transformers and gradio: slow on a busy 2-core machine
ACTION_S = 90
QUERY = "a red circle moves left"

# runs app.py as `python app.py ...` would, with `import videotext` refused
LAUNCHER = textwrap.dedent(
    """
    import importlib.abc, runpy, sys

    class RefuseVideotext(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname == "videotext" or fullname.startswith("videotext."):
                raise ImportError(fullname + " is blocked: the Space app must run without videotext")

    sys.meta_path.insert(0, RefuseVideotext())
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class App:
    """One app.py process on localhost."""

    def __init__(self, method: str, folder: Path, work: Path):
        self.method, self.folder, self.port = method, folder, _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = work / f"{method}-app.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_TEMP_DIR": str(work / f"{method}-gradio"), "HF_HUB_OFFLINE": "1"}  # fmt: skip
        launcher = work / "launch_app.py"
        launcher.write_text(LAUNCHER)
        cmd = [sys.executable, str(launcher), str(folder / "app.py"), "--port", str(self.port),
               "--model-dir", str(folder), "--host", "127.0.0.1"]  # fmt: skip
        self.started = time.monotonic()
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)

    def wait_ready(self) -> None:
        deadline = self.started + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.method} app exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(1)
        pytest.fail(f"{self.method} app not up after {STARTUP_S}s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, str]:
    return write_clips(tmp_path_factory.mktemp("space_clips"))


@pytest.fixture(scope="module")
def apps(tmp_path_factory, clips):
    """Every method exported (retrievers with the clips as `examples/`), every app started at once (each test waits
    for its own, while the browser starts)."""
    from videotext.export import save_hub_folder
    from videotext.hub_cards.space import write_space_app

    root, work = tmp_path_factory.mktemp("space_models"), tmp_path_factory.mktemp("space_work")
    started = {}
    try:
        for name, entry in METHODS.items():
            model, processor = build_tiny(name)
            folder = save_hub_folder(model, processor, root / name)
            if entry.task == "retrieval":
                write_space_app(folder, entry.task, examples=list(clips.values()))
            started[name] = (App(name, folder, work), Exported(name, entry.task, model, processor, folder))
        yield started
    finally:
        for app, _ in started.values():
            app.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Debian Chromium via its chromedriver; a missing browser fails the test (CI installs it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Chromium and chromedriver are needed: apt-get install -y chromium chromium-driver (.ci/run)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(ACTION_S)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, what: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, ACTION_S, poll_frequency=0.25).until(condition)
    except TimeoutException:
        pytest.fail(f"timed out waiting for {what}")


def _set_number(driver, elem_id: str, value) -> None:
    """Type into a Gradio slider's number box; the slider must follow."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.clear()
    box.send_keys(str(value), Keys.TAB)
    slider = f"#{elem_id} input[type=range]"
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, slider).get_attribute("value") == str(value), elem_id)


def _gallery_labels(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, "#results .gallery-item .caption-label")]


def _thumbnails_loaded(driver) -> bool:
    images = driver.find_elements("css selector", "#results .gallery-item img")
    return bool(images) and all(driver.execute_script("return arguments[0].naturalWidth > 0", img) for img in images)


# ------------------------------------------------------------------------------------------------- tests
def test_write_space_app_files(tmp_path, clips):
    from videotext.hub_cards.space import APP_FILE, SPACE_PACKAGES, write_space_app

    app = write_space_app(tmp_path / "model", "retrieval", examples=[clips["red_circle"]])
    assert app.read_text() == APP_FILE.read_text()
    requirements = (tmp_path / "model" / "requirements.txt").read_text().splitlines()
    names = [line.split("<")[0].split(">")[0].split("=")[0].split("!")[0] for line in requirements]
    assert names == list(SPACE_PACKAGES)
    assert {"gradio", "torch", "transformers", "decord"} <= set(names)
    assert [p.name for p in (tmp_path / "model" / "examples").iterdir()] == ["red_circle.mp4"]
    with pytest.raises(ValueError, match="unknown task"):
        write_space_app(tmp_path / "other", "segmentation")


@pytest.mark.parametrize("method", sorted(m for m, e in METHODS.items() if e.task == "captioning"))
def test_captioner_page_captions_an_upload(apps, browser, clips, screenshots, method):
    from selenium.webdriver.common.by import By

    app, exported = apps[method]
    app.wait_ready()
    browser.get(app.url)
    upload = "#video input[type=file]"
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, upload), "the video upload box")
    browser.find_element(By.CSS_SELECTOR, upload).send_keys(clips["red_circle"])
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#video video"), "the uploaded video's player")
    _set_number(browser, "num_beams", 3)
    _set_number(browser, "max_new_tokens", 8)
    browser.find_element(By.ID, "caption-button").click()
    box = "#caption textarea"
    caption = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, box).get_attribute("value"), "the caption")
    browser.save_screenshot(str(screenshots / f"{method}-captioning.png"))
    want = reference_captions(exported, clips["red_circle"], num_beams=3, max_new_tokens=8)[0][0]
    assert caption == (want or "(the model generated an empty caption)")  # a random tiny model may generate nothing


@pytest.mark.parametrize("method", sorted(m for m, e in METHODS.items() if e.task == "retrieval"))
def test_retriever_page_ranks_the_gallery(apps, browser, clips, screenshots, tmp_path, method):
    from selenium.webdriver.common.by import By

    from videotext.processing.video_writer import write_video

    app, exported = apps[method]
    app.wait_ready()
    examples = sorted((app.folder / "examples").iterdir())  # the app's gallery order
    names = [p.name for p in examples]

    browser.get(app.url)
    _wait(browser, lambda d: sorted(_gallery_labels(d)) == sorted(names), "the example gallery")

    def search(expected_names: list[str], paths: list) -> None:
        query = browser.find_element(By.CSS_SELECTOR, "#query textarea, #query input")
        query.clear()
        query.send_keys(QUERY)
        browser.find_element(By.ID, "search-button").click()
        n = len(expected_names)
        _wait(browser, lambda d: len(_gallery_labels(d)) == n and _gallery_labels(d)[0].startswith("1. "), "ranks")
        _wait(browser, lambda d: len(d.find_element(By.ID, "ranking").find_elements(By.TAG_NAME, "tr")) == n + 1,
              "the ranking table")  # fmt: skip
        scores = reference_ranking(exported, [QUERY], paths)[0]
        want = ranked(expected_names, scores)
        labels = _gallery_labels(browser)
        assert [label.split(" ", 1)[1].rsplit(" (", 1)[0] for label in labels] == want
        rows = browser.find_element(By.ID, "ranking").find_elements(By.TAG_NAME, "tr")[1:]
        by_name = dict(zip(expected_names, scores.tolist()))
        for rank, (row, name) in enumerate(zip(rows, want), start=1):
            cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
            assert cells[:2] == [str(rank), name]
            assert float(cells[2]) == pytest.approx(by_name[name], abs=2e-4)
        _wait(browser, _thumbnails_loaded, "the first-frame thumbnails")

    search(names, [str(p) for p in examples])
    browser.save_screenshot(str(screenshots / f"{method}-retrieval.png"))

    # an uploaded clip joins the gallery
    extra = write_video(tmp_path / "yellow_circle.mp4", shape_clip("circle", (230, 210, 40), size=(36, 60)), fps=8)
    browser.find_element(By.CSS_SELECTOR, "#uploads input[type=file]").send_keys(str(extra))
    _wait(browser, lambda d: len(_gallery_labels(d)) == len(names) + 1, "the uploaded clip in the gallery")
    search([*names, "yellow_circle.mp4"], [*map(str, examples), str(extra)])
