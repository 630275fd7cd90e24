"""The dashboard in real headless Chromium, driven by Selenium through Debian's chromedriver, against
``nanoclient serve -v`` in a subprocess: sign in through the fragment, see a model made with the SDK,
upload two images through the file input, train until "trained", try an image and see 3 labels,
open the evaluation report that ``nanoclient evaluate --report`` stored; hostile names show as
text; another key's model is 404; the key is in no URL the browser requested and not in the
server's log; the page's policy blocks injected script. Screenshots at 1280 and 390 px wide.

Skipped where Chromium, chromedriver or selenium is missing. With NANOCLIENT_DOCS_SCREENSHOTS=1
the screenshots are also written to docs/ (those the README shows).
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
import requests
from helpers import ServerProcess, run_cli
from PIL import Image, ImageDraw

from nanoclient import Client

KEY = "sk-dashboard-0123456789-SECRET"
OTHER_KEY = "sk-dashboard-other-key-SECRET"
SHAPES = ("Circle", "Square", "Triangle")
HOSTILE = ('<img src=x onerror=alert(1)>', 'Tom "&" <b>Jerry</b>')
DOCS = Path(__file__).resolve().parent.parent / "docs"
WAIT = 30  # seconds for anything the page does; training gets longer


def _shape(path: Path, shape: str, seed: int, size: int = 64) -> Path:
    """A picture of one shape on a noisy background, made with Pillow."""
    rng = random.Random(f"{shape}-{seed}")
    back = tuple(rng.randint(150, 255) for _ in range(3))
    fore = tuple(rng.randint(0, 90) for _ in range(3))
    image = Image.new("RGB", (size, size), back)
    draw = ImageDraw.Draw(image)
    margin = rng.randint(8, 14)
    box = [margin, margin, size - margin, size - margin]
    if shape == "Circle":
        draw.ellipse(box, fill=fore)
    elif shape == "Square":
        draw.rectangle(box, fill=fore)
    else:
        draw.polygon([(size // 2, margin), (size - margin, size - margin), (margin, size - margin)], fill=fore)
    pixels = image.load()
    for _ in range(size * 6):
        x, y = rng.randrange(size), rng.randrange(size)
        pixels[x, y] = tuple(min(255, c + rng.randint(-40, 40)) for c in pixels[x, y])
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


# ---------------------------------------------------------------------- the browser and the server


def _tools() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed: apt-get install chromium")
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).is_file()), None)
    if not driver:
        pytest.skip("chromedriver not installed: apt-get install chromium-driver")
    pytest.importorskip("selenium", reason="selenium not installed: pip install 'nanoclient[test]'")
    return chromium, driver


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``nanoclient serve -v --min-images 2`` in a subprocess, its stderr (the log) captured in a file."""
    _tools()
    process = ServerProcess(tmp_path_factory.mktemp("dashboard") / "data", ["--min-images", "2", "-v"])
    process.start()
    yield process
    process.stop()


class Browser:
    """Headless Chromium under Selenium, remembering every URL it requested."""

    def __init__(self, profile: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, chromedriver = _tools()
        options = webdriver.ChromeOptions()
        options.binary_location = chromium  # with the driver's path below, Selenium Manager fetches nothing
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run",
                         "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                         "--window-size=1280,900", f"--user-data-dir={profile}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        self.driver.set_page_load_timeout(WAIT)
        self.requested: list[dict] = []
        self.console: list[dict] = []

    def collect(self) -> None:
        """Move the browser's logs so far into ``requested`` (every request: URL and headers) and ``console``."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requested.append(message["params"]["request"])
        self.console.extend(self.driver.get_log("browser"))

    def wait(self, condition, timeout: float = WAIT, message: str = ""):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message)

    def by_id(self, element_id: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, element_id: str) -> str:
        return self.by_id(element_id).text

    def screenshot(self, path: Path, width: int, height: int, *, full_page: bool = True) -> Path:
        """A PNG of the page at ``width`` CSS pixels (the whole page, or the first ``height`` pixels)."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        self.driver.execute_script("return new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))")
        if full_page:
            tall = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": tall})
            self.driver.execute_script("return new Promise(r => requestAnimationFrame(() => setTimeout(r, 300)))")
        assert self.driver.save_screenshot(str(path))
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return path

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def browser(tmp_path_factory, server):
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


def client_model(server: ServerProcess, model_id: str):
    with Client(KEY, server.url) as client:
        return client.get_model(model_id)


def _sign_in(browser: Browser, server: ServerProcess, key: str) -> None:
    browser.driver.get(server.root + "/#key=" + key)
    browser.wait(lambda d: not browser.by_id("view-models").get_attribute("hidden"), message="models view")


def _assert_key_nowhere(browser: Browser, server: ServerProcess, *keys: str) -> None:
    browser.collect()
    assert browser.requested, "no request was recorded"
    for key in keys:
        assert not [r["url"] for r in browser.requested if key in r["url"]], "a key went into a requested URL"
        assert key not in browser.driver.current_url
        assert key not in server.log(), "a key is in the server's log"
    csp = [e["message"] for e in browser.console if "Content Security Policy" in e["message"]]
    assert not csp, csp  # the page itself never trips its own policy


def _screenshots(browser: Browser, tmp_path: Path, name: str, *, docs: bool = False) -> list[Path]:
    shots = [browser.screenshot(tmp_path / f"{name}.png", 1280, 900),
             browser.screenshot(tmp_path / f"{name}-phone.png", 390, 844)]
    for shot, width in zip(shots, (1280, 390), strict=True):
        with Image.open(shot) as image:
            assert image.size[0] == width and image.size[1] >= 600
            colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 200  # text, badges and thumbnails: not a blank page
        assert max(count for count, _ in colours) < 0.9 * image.size[0] * image.size[1]
    if docs and os.environ.get("NANOCLIENT_DOCS_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        for shot in shots:
            shutil.copyfile(shot, DOCS / shot.name)
    return shots


# ---------------------------------------------------------------------- the tests


def test_sign_in_upload_train_try_and_open_the_report(server, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.support.ui import Select

    with Client(KEY, server.url) as client:
        older = client.create_model(["Bag", "Coat"])
        model = client.create_model(list(SHAPES))
        items = [(_shape(tmp_path / "sdk" / shape / f"{i}.png", shape, i), shape)
                 for shape in ("Circle", "Triangle") for i in range(8)]
        assert len(client.upload_files(model.id, items).uploaded) == 16

    # signed in through the fragment, which leaves the address bar at once
    _sign_in(browser, server, KEY)
    rows = browser.wait(lambda d: browser.all("a.model-row"))
    assert [row.get_attribute("data-model") for row in rows] == [model.id, older.id]  # newest first
    assert "key=" not in browser.driver.current_url and browser.driver.current_url.endswith("/#/")
    assert browser.driver.execute_script("return sessionStorage.getItem('nanoclient.apiKey')") == KEY
    assert "needs more images" in rows[0].text and "Square" in rows[0].text

    rows[0].click()
    browser.wait(lambda d: len(browser.all("#cats .cat")) == 3, message="categories")
    assert browser.by_id("m-id").text == model.id
    assert browser.by_id("m-state").get_attribute("data-state") == "1"
    assert not browser.by_id("train").is_enabled()  # Square has no image yet
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 8, message="thumbnails of Circle")

    # two images through the file input, into Square
    Select(browser.by_id("upload-category")).select_by_visible_text("Square")
    squares = [_shape(tmp_path / "browser" / f"square-{i}.png", "Square", 100 + i) for i in range(2)]
    browser.by_id("upload-input").send_keys("\n".join(str(p) for p in squares))
    browser.wait(lambda d: "2 new" in browser.text("upload-result"), message="upload result")
    assert browser.text("upload-result").startswith("2 images sent to Square")
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 2, message="thumbnails of Square")
    assert sorted(img.get_attribute("alt") for img in browser.all("#strip img")) == ["square-0.png", "square-1.png"]
    with Client(KEY, server.url) as client:
        assert {c.name: c.count for c in client.get_model(model.id).categories} == {
            "Circle": 8, "Square": 2, "Triangle": 8}

    # train, and watch the state change by itself
    browser.wait(lambda d: browser.by_id("train").is_enabled(), message="train enabled")
    browser.by_id("train").click()
    seen = set()

    def trained(d) -> bool:
        seen.add(browser.by_id("m-state").get_attribute("data-state"))
        return browser.by_id("m-state").text == "trained"

    browser.wait(trained, timeout=180, message="trained")
    assert f"model {model.id} trained on 18 images" in server.log()  # -v logs: the key must not be there
    assert seen & {"3", "4"}, seen  # queued or training was shown on the way
    accuracy = client_model(server, model.id).accuracy  # none when too few images were held out
    assert browser.text("m-accuracy") == ("–" if accuracy is None else f"{accuracy * 100:.1f}%")

    # try it: three labels with their bars
    browser.by_id("try-input").send_keys(str(_shape(tmp_path / "try" / "circle.png", "Circle", 999)))
    scores = browser.wait(lambda d: [li for li in browser.all("#try-scores li")] or None, message="scores")
    assert len(scores) == 3
    labels = [li.find_element("css selector", ".lbl").text for li in scores]
    numbers = [float(li.find_element("css selector", ".num").text.rstrip("%")) for li in scores]
    assert sorted(labels) == sorted(SHAPES) and numbers == sorted(numbers, reverse=True)
    assert 99 <= sum(numbers) <= 101 and browser.text("try-verdict") == f"Looks like {labels[0]}"
    assert browser.by_id("try-preview").get_attribute("src").startswith("blob:")

    # the report that `nanoclient evaluate --report` stored opens in a tab of its own
    for shape in SHAPES:
        for i in range(2):
            _shape(tmp_path / "eval" / shape / f"{i}.png", shape, 500 + i)
    evaluated = run_cli(server.url, KEY, "evaluate", tmp_path / "eval", "--report", tmp_path / "report.html",
                        cache=tmp_path / "cache", model_id=model.id)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "report stored on the local server" in evaluated.stderr
    browser.driver.refresh()
    browser.wait(lambda d: browser.by_id("report-link").is_displayed(), message="report link")
    browser.all("#cats .cat")[0].click()  # back to Circle, for the screenshots
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 8, message="thumbnails of Circle")
    home = browser.driver.current_window_handle
    browser.by_id("report-link").click()
    browser.wait(lambda d: len(d.window_handles) == 2, message="report tab")
    browser.driver.switch_to.window([h for h in browser.driver.window_handles if h != home][0])
    browser.wait(lambda d: d.execute_script("return document.readyState") == "complete")
    assert "/local/v1/report-links/" in browser.driver.current_url
    assert browser.driver.title == f"Model {model.id} on {tmp_path / 'eval'}"
    styled, cells, storage = browser.driver.execute_script(
        "return [getComputedStyle(document.body).backgroundColor, document.querySelectorAll('.heatmap .cell').length,"
        " (function(){try{return typeof sessionStorage.length}catch(e){return 'blocked'}})()]")
    assert styled not in ("rgba(0, 0, 0, 0)", "transparent")  # its own inline styles apply
    assert cells == 9 and storage == "blocked"  # its own script ran, in a sandbox away from the key
    browser.driver.close()
    browser.driver.switch_to.window(home)
    browser.driver.refresh()  # the link was used once: opening it again takes a new one
    browser.wait(lambda d: browser.by_id("report-link").is_displayed())
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 8, message="thumbnails of Circle")
    browser.by_id("try-input").send_keys(str(_shape(tmp_path / "try" / "triangle.png", "Triangle", 998)))
    browser.wait(lambda d: len(browser.all("#try-scores li")) == 3, message="scores")

    _screenshots(browser, tmp_path, "dashboard", docs=True)
    browser.driver.get(server.root + "/#/")
    browser.wait(lambda d: browser.all("a.model-row"))
    browser.wait(lambda d: "trained" in browser.all("a.model-row")[0].text, message="trained in the list")
    _screenshots(browser, tmp_path, "dashboard-models")
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert  # noqa: B018 - nothing ever raised a dialog
    _assert_key_nowhere(browser, server, KEY)


def test_hostile_names_show_as_text_and_inject_nothing(server, browser, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    with Client(KEY, server.url) as client:
        model = client.create_model(list(HOSTILE))
        bad_file = _shape(tmp_path / "<img src=y onerror=alert(2)>.png", "Circle", 1)
        assert client.upload_files(model.id, [(bad_file, HOSTILE[0])]).uploaded
    _sign_in(browser, server, KEY)
    row = browser.wait(lambda d: [r for r in browser.all("a.model-row") if r.get_attribute("data-model") == model.id])
    chips = [chip.get_attribute("textContent") for chip in row[0].find_elements("css selector", ".chip .name")]
    assert chips == list(HOSTILE)
    browser.driver.get(server.root + f"/#/models/{model.id}")
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 1, message="the thumbnail")
    names = [cat.find_element("css selector", ".name").get_attribute("textContent")
             for cat in browser.all("#cats .cat")]
    assert names == list(HOSTILE)
    assert [o.get_attribute("textContent") for o in browser.all("#upload-category option")] == list(HOSTILE)
    assert [o.get_attribute("value") for o in browser.all("#upload-category option")] == list(HOSTILE)
    assert browser.all("#strip figcaption")[0].get_attribute("textContent") == bad_file.name
    injected, markup = browser.driver.execute_script(
        "return [document.querySelectorAll('img[src=\"x\"], img[src=\"y\"], b').length,"
        " document.querySelector('#cats').innerHTML]")
    assert injected == 0  # no element came out of a name
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup and 'Tom "&amp;" &lt;b&gt;Jerry&lt;/b&gt;' in markup
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert  # noqa: B018 - no handler ran
    _assert_key_nowhere(browser, server, KEY)
    # and were a name ever parsed as HTML, the policy would still refuse to run its handler
    ran = browser.driver.execute_script(
        "document.body.insertAdjacentHTML('beforeend', '<img id=probe src=x onerror=\"window.pwned=1\">');"
        "return new Promise(r => setTimeout(() => r(window.pwned === undefined), 500))")
    assert ran is True
    browser.collect()
    assert any("inline event handler" in e["message"] and "Content Security Policy" in e["message"]
               for e in browser.console)
    browser.console.clear()  # the probe's refusal, not the page's


def test_another_keys_model_is_404_in_the_api_and_the_page(server, browser):
    with Client(KEY, server.url) as client:
        model = client.create_model(["a", "b"])
        image = _shape(Path(server.data_dir.parent) / "mine.png", "Circle", 7)
        client.upload_files(model.id, [(image, "a")])
    listing = requests.get(f"{server.root}/local/v1/models/{model.id}/images", auth=(KEY, ""), timeout=30).json()
    image_id = listing["images"][0]["id"]
    for path in (f"/models/{model.id}/images", f"/models/{model.id}/images/{image_id}/thumbnail",
                 f"/models/{model.id}/report"):
        assert requests.get(server.root + "/local/v1" + path, auth=(KEY, ""), timeout=30).status_code in (200, 404)
        theirs = requests.get(server.root + "/local/v1" + path, auth=(OTHER_KEY, ""), timeout=30)
        assert theirs.status_code == 404 and theirs.json()["code"] == 404, path
    mine = requests.get(f"{server.root}/local/v1/models/{model.id}/images/{image_id}/thumbnail", auth=(KEY, ""),
                        timeout=30)
    assert mine.status_code == 200 and mine.headers["Content-Type"] == "image/png"
    page = requests.get(server.root + "/", timeout=30)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")
    for answer in (page, mine, requests.get(server.url + "/ImageCategorization/Models/", auth=(KEY, ""), timeout=30)):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"

    browser.driver.execute_script("sessionStorage.clear()")
    _sign_in(browser, server, OTHER_KEY)  # in open mode each key is its own account
    assert browser.all("a.model-row") == [] and browser.by_id("models-empty").is_displayed()
    browser.driver.get(server.root + f"/#/models/{model.id}")
    browser.wait(lambda d: "has no model" in browser.text("notice-text"), message="not this key's model")
    assert browser.all("#strip img") == []
    browser.by_id("sign-out").click()
    browser.wait(lambda d: browser.by_id("view-signin").is_displayed())
    assert browser.driver.execute_script("return sessionStorage.getItem('nanoclient.apiKey')") is None
    browser.by_id("key-input").send_keys(KEY + "\n")  # signing in through the form works too
    browser.wait(lambda d: any(r.get_attribute("data-model") == model.id for r in browser.all("a.model-row")))
    _assert_key_nowhere(browser, server, KEY, OTHER_KEY)


def test_the_strip_pages_through_a_category_newest_first(server, browser, tmp_path):
    with Client(KEY, server.url) as client:
        model = client.create_model(["Circle", "Square"])
        items = [(_shape(tmp_path / f"c{i:02d}.png", "Circle", 200 + i), "Circle") for i in range(26)]
        assert len(client.upload_files(model.id, items, workers=1, batch_size=1).uploaded) == 26
    _sign_in(browser, server, KEY)
    browser.driver.get(server.root + f"/#/models/{model.id}")
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 24, message="the first page")
    assert browser.text("pager-text") == "page 1 of 2" and not browser.by_id("prev").is_enabled()
    first = [img.get_attribute("alt") for img in browser.all("#strip img")]
    assert first == [f"c{i:02d}.png" for i in range(25, 1, -1)]  # newest first
    browser.by_id("next").click()
    browser.wait(lambda d: browser.text("pager-text") == "page 2 of 2", message="the second page")
    browser.wait(lambda d: len(browser.all("#strip img[src^='blob:']")) == 2)
    assert [img.get_attribute("alt") for img in browser.all("#strip img")] == ["c01.png", "c00.png"]
    assert not browser.by_id("next").is_enabled()
    browser.by_id("prev").click()
    browser.wait(lambda d: browser.text("pager-text") == "page 1 of 2")
    _assert_key_nowhere(browser, server, KEY)
