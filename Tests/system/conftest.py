"""System tests: the real `lessonlink serve` process on a loopback port with the demo county,
driven through Debian's Chromium by selenium, or over HTTP while it is killed and restarted."""
import base64
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".build" / "debug" / "lessonlink"
FAST = ["--auth-bcrypt-cost", "4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_ports(count: int) -> range:
    """`count` consecutive UDP ports nobody has bound (SRT listeners, one per live session)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind(("0.0.0.0", port))
            return range(base, base + count)
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free UDP ports")


def wait_until_up(base: str, attempts=200) -> bool:
    """Whether a server at `base` answers /healthz within about ten seconds."""
    for _ in range(attempts):
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                return True
        except requests.ConnectionError:
            time.sleep(0.05)
    return False


class Server:
    """One `lessonlink serve` process over a storage root seeded with the demo county, with its
    live relay on ports of its own (RTMP, and a few UDP ports for SRT)."""

    def __init__(self, storage: Path, *extra: str, seed=True):
        self.storage = storage
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.rtmp_port = free_port()
        self.srt_ports = free_udp_ports(4)
        live = ["--live-rtmp-port", str(self.rtmp_port), "--live-rtmp-host", "127.0.0.1",
                "--live-srt-ports", f"{self.srt_ports.start}-{self.srt_ports.stop - 1}"]
        self.arguments = ["--storage-root", str(storage), *FAST, *live, *extra]
        self.process = None
        if seed:
            subprocess.run([str(BINARY), "seed", "--demo", *self.arguments], cwd=ROOT, check=True, capture_output=True)

    def start(self):
        # The log goes to a file: a pipe nobody drains would stall a chatty server once it fills.
        self.log = Path(tempfile.mkstemp(prefix="lessonlink-server-", suffix=".log")[1])
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(BINARY), "serve", "--http-port", str(self.port), *self.arguments],
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if wait_until_up(self.base):
            return self
        self.process.kill()
        raise RuntimeError("the server did not start: " + self.log.read_text(errors="replace"))

    def output(self) -> str:
        """What the server has logged so far."""
        return self.log.read_text(errors="replace")

    def kill(self):
        """SIGKILL: no graceful shutdown, no chance to commit anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def county():
    """The session's server process (its storage root, its arguments)."""
    storage = Path(tempfile.mkdtemp(prefix="lessonlink-system-"))
    running = Server(storage).start()
    yield running
    running.stop()
    shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="session")
def server(county):
    """The session server's base URL."""
    return county.base


def chromium(*arguments, size="1280,900"):
    """A headless Chromium under selenium (Debian's chromium and chromedriver)."""
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={size}", *arguments]:
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture()
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def sign_in(browser, server, username="teacher", password="demo-password"):
    browser.get(server + "/login")
    browser.find_element("name", "username").send_keys(username)
    browser.find_element("name", "password").send_keys(password)
    browser.find_element("css selector", "#login button").click()


def api_token(server, username="teacher"):
    """A bearer token; `server` is the base URL."""
    response = requests.post(server + "/api/v1/sessions", json={"username": username, "password": "demo-password"})
    response.raise_for_status()
    return response.json()["token"]


def upload_via_api(server, token, data: bytes, title: str):
    metadata = "title " + base64.b64encode(title.encode()).decode()
    created = requests.post(server + "/api/v1/uploads", headers={
        "Authorization": "Bearer " + token, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
        "Upload-Metadata": metadata})
    assert created.status_code == 201
    patched = requests.patch(server + created.headers["Location"], data=data, headers={
        "Authorization": "Bearer " + token, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    assert patched.status_code == 204


def ready_lesson(server, title, size="640x360", seconds=12):
    """A generated lesson (a test pattern with a tone) uploaded by the lead-school teacher and
    transcoded by the server's worker; returns the recording's id once it is ready. The tone's pitch
    follows the title, so two lessons are never the same file (the server refuses duplicates)."""
    token = api_token(server)
    tone = 300 + zlib.crc32(title.encode()) % 600
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "lesson.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=25:duration={seconds}", "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                        str(clip)], check=True)
        upload_via_api(server, token, clip.read_bytes(), title)
    headers = {"Authorization": "Bearer " + token}
    items = requests.get(server + "/api/v1/recordings", params={"q": title}, headers=headers).json()["items"]
    recording = next(item["id"] for item in items if item["title"] == title)
    for _ in range(1200):
        state = requests.get(f"{server}/api/v1/recordings/{recording}", headers=headers).json()["state"]
        if state in ("ready", "failed"):
            break
        time.sleep(0.2)
    assert state == "ready", requests.get(f"{server}/api/v1/recordings/{recording}", headers=headers).json()
    return recording


def make_clip(path: Path, seconds=2):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x240:rate=25:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
