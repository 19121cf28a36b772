"""The web app in a real browser: ``python app.py`` with the bundled demo model, driven by headless Chromium.

Needs ``requirements-app.txt`` (Gradio, Selenium) and Debian's ``chromium`` and ``chromium-driver`` (``.ci/run``
installs them); nothing is downloaded at run time. ``UPDATE_SCREENSHOT=1`` also writes the README's
``figures/app_screenshot.png``.
"""
from __future__ import annotations

import importlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from utils.metrics import psnr

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DEMO_OPT = 'options/test/test_InvMIHNet_4images_demo.yml'
KODAK = ROOT / 'datasets' / 'kodak_demo' / 'test'
COVER_NAME, SECRET_NAMES = 'kodim15.png', [f'kodim{i}.png' for i in (16, 17, 18, 19)]
CROP = 128                       # center crops of the 256 x 256 photos: a quarter of the work of hiding them whole
MIN_MEAN_SECRET_PSNR = 20.0      # the demo model: 26.8 dB on these crops (21.3 to 32.2 per secret)
MIN_SECRET_PSNR = 15.0           # a reveal that went wrong gives noise, ~10 dB
SCREENSHOT = ROOT / 'figures' / 'app_screenshot.png'
# Failure bounds only, far above the usual (app ready in ~10 s, each step in seconds): on a shared, overloaded
# machine importing torch and Gradio alone has taken over two minutes.
STARTUP_TIMEOUT = 300            # seconds
STEP_TIMEOUT = 600
CHROMIUM_FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--disable-dev-shm-usage', '--window-size=1280,1600']


@dataclass
class Photos:
    """The cover and the four secrets the test uploads."""
    cover: Path
    secrets: list[Path]


@dataclass
class Browser:
    """A Selenium-driven Chromium and the folder its downloads land in."""
    driver: Any
    downloads: Path


@dataclass
class ServedApp:
    """A running ``app.py``: its address, process, log, and the folders it was given as TMPDIR and HOME."""
    url: str
    process: subprocess.Popen
    log: Path
    tmp: Path
    home: Path


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT,
             details: Callable[[], str] = str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` (and ``details()``) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f'timed out after {timeout} s waiting for {what}\n{details()}')
        time.sleep(0.2)


def top_level(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture(scope='module')
def photos(tmp_path_factory: pytest.TempPathFactory) -> Photos:
    """CROP x CROP center crops of bundled Kodak photographs, under their own names."""
    folder = tmp_path_factory.mktemp('photos')
    for name in [COVER_NAME, *SECRET_NAMES]:
        image = cv2.imread(str(KODAK / name))
        top, left = (image.shape[0] - CROP) // 2, (image.shape[1] - CROP) // 2
        cv2.imwrite(str(folder / name), image[top:top + CROP, left:left + CROP])
    return Photos(folder / COVER_NAME, [folder / name for name in SECRET_NAMES])


@pytest.fixture(scope='module')
def served_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """``python app.py`` on a free loopback port; on the way out, checks it wrote nothing outside its temp folder."""
    base = tmp_path_factory.mktemp('app')
    tmp, home = base / 'tmp', base / 'home'
    tmp.mkdir()
    home.mkdir()
    log = base / 'app.log'
    port = free_port()
    env = {**os.environ, 'TMPDIR': str(tmp), 'HOME': str(home), 'GRADIO_ANALYTICS_ENABLED': 'False',
           'PYTHONDONTWRITEBYTECODE': '1'}
    repo_before = top_level(ROOT)
    with log.open('w') as out:
        process = subprocess.Popen([sys.executable, 'app.py', '--opt', DEMO_OPT, '--port', str(port), '--cpu'],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    app = ServedApp(f'http://127.0.0.1:{port}/', process, log, tmp, home)
    try:
        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f'app.py exited with {process.returncode}:\n{log.read_text()}')
            try:
                with urllib.request.urlopen(app.url, timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False
        wait_for(ready, f'app.py to serve {app.url}', STARTUP_TIMEOUT, log.read_text)
        yield app
    finally:
        process.terminate()
        process.wait(timeout=STEP_TIMEOUT)
    assert process.returncode == 0, log.read_text()
    assert list(tmp.iterdir()) == [], f'app.py left files in its temporary folder: {list(tmp.rglob("*"))}'
    assert list(home.iterdir()) == [], f'app.py wrote into HOME: {list(home.rglob("*"))}'
    assert top_level(ROOT) == repo_before, f'app.py wrote into the repository: {top_level(ROOT) - repo_before}'


@pytest.fixture(scope='module')
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Debian Chromium under Selenium, with a fresh profile and its own download folder."""
    try:
        webdriver = importlib.import_module('selenium.webdriver')
    except ImportError:
        pytest.fail('selenium is missing: pip install -r requirements-app.txt')
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    driver_path = shutil.which('chromedriver')
    if not chromium or not driver_path:
        pytest.fail('Chromium or its driver is missing: apt-get install chromium chromium-driver')
    base = tmp_path_factory.mktemp('browser')
    downloads = base / 'downloads'
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f'--user-data-dir={base / "profile"}']:
        options.add_argument(flag)
    options.add_experimental_option('prefs', {'download.default_directory': str(downloads),
                                              'download.prompt_for_download': False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        yield Browser(driver, downloads)
    finally:
        driver.quit()


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def upload(driver: Any, element_id: str, files: list[Path]) -> None:
    """Give files to the upload widget ``#element_id`` as a user choosing them in the file dialog would."""
    field = wait_for(lambda: by_css(driver, f'#{element_id} input[type=file]'), f'the upload field #{element_id}')
    field[0].send_keys('\n'.join(str(f) for f in files))


def open_tab(driver: Any, name: str) -> None:
    tab = wait_for(lambda: [t for t in by_css(driver, 'button[role=tab]') if t.text.strip() == name],
                   f'the {name} tab')
    tab[0].click()


def download_links(driver: Any, element_id: str, count: int) -> list[Any]:
    """The ``count`` download links of the file list ``#element_id``, once they are all there."""
    return wait_for(lambda: (links := by_css(driver, f'#{element_id} a[download]')) and len(links) == count
                    and links, f'{count} download links in #{element_id}')


def download(browser: Browser, link: Any) -> Path:
    """Click a download link; the file as it lands in the browser's download folder."""
    name = link.get_attribute('download')
    target = browser.downloads / name
    link.click()
    wait_for(lambda: target.is_file() and not any(browser.downloads.glob('*.crdownload')), f'{name} to download')
    return target


def read_rgb(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def error_toast(driver: Any) -> str:
    """The text of the error boxes now shown on the page."""
    return ' '.join(t.text for t in by_css(driver, '.toast-body') if t.text.strip())


def test_wrong_secret_count_shows_the_error_and_the_app_keeps_serving(served_app: ServedApp, browser: Browser,
                                                                     photos: Photos) -> None:
    page = browser.driver
    page.get(served_app.url)
    upload(page, 'hide-cover', [photos.cover])
    upload(page, 'hide-secrets', photos.secrets[:3])
    wait_for(lambda: len(by_css(page, '#hide-secrets img')) == 3, 'three secret thumbnails')
    by_css(page, '#hide-button')[0].click()
    message = wait_for(lambda: error_toast(page), 'an error message')
    assert 'exactly N=4 secrets, got 3' in message
    assert served_app.process.poll() is None
    with urllib.request.urlopen(served_app.url, timeout=10) as response:
        assert response.status == 200


def test_hide_download_and_reveal_in_the_browser(served_app: ServedApp, browser: Browser, photos: Photos,
                                                tmp_path: Path) -> None:
    page = browser.driver
    page.get(served_app.url)
    upload(page, 'hide-cover', [photos.cover])
    upload(page, 'hide-secrets', photos.secrets)
    wait_for(lambda: len(by_css(page, '#hide-secrets img')) == 4, 'four secret thumbnails')
    wait_for(lambda: f'Stego size: {CROP} x {CROP}' in by_css(page, '#hide-size')[0].text, 'the stego size')
    by_css(page, '#hide-button')[0].click()

    links = download_links(page, 'hide-downloads', 2)
    files = {p.name: p for p in (download(browser, link) for link in links)}
    assert set(files) == {'stego.png', 'stego.key.json'}
    stego = files['stego.png'].read_bytes()
    assert read_rgb(stego).shape == (CROP, CROP, 3)
    report = by_css(page, '#hide-report')[0].text
    page_secret_psnr = float(re.search(r'Recovered secrets PSNR: ([\d.]+) dB', report).group(1))
    wait_for(lambda: by_css(page, '#hide-comparison img'), 'the cover | stego | difference view')
    page.save_screenshot(str(tmp_path / 'app_screenshot.png'))
    if os.environ.get('UPDATE_SCREENSHOT') == '1':
        shutil.copyfile(tmp_path / 'app_screenshot.png', SCREENSHOT)

    open_tab(page, 'Reveal')
    upload(page, 'reveal-stego', [files['stego.png']])
    upload(page, 'reveal-key', [files['stego.key.json']])
    wait_for(lambda: by_css(page, '#reveal-stego img') and by_css(page, '#reveal-key a'), 'both uploads')
    by_css(page, '#reveal-button')[0].click()

    links = download_links(page, 'reveal-downloads', 5)
    assert len(by_css(page, '#reveal-gallery img')) == 4
    archive = download(browser, next(link for link in links if link.get_attribute('href').endswith('.zip')))
    with zipfile.ZipFile(archive) as opened:
        revealed = {name: read_rgb(opened.read(name)) for name in opened.namelist()}
    assert sorted(revealed) == [f'{i:02d}_{p.stem}.png' for i, p in enumerate(photos.secrets, 1)]
    values = [psnr(read_rgb(secret.read_bytes()), image)
              for image, secret in zip((revealed[n] for n in sorted(revealed)), photos.secrets)]
    assert min(values) > MIN_SECRET_PSNR and np.mean(values) > MIN_MEAN_SECRET_PSNR, values
    assert abs(np.mean(values) - page_secret_psnr) < 0.01, 'Hide promised another PSNR than Reveal delivered'
