"""LessonLink run as a service would run it: output to a log file, not a terminal."""
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from conftest import BINARY, FAST, ROOT, free_port


def test_first_start_hands_the_admin_password_to_a_log_file_at_once_and_to_a_private_file():
    storage = Path(tempfile.mkdtemp(prefix="lessonlink-first-start-"))
    port = free_port()
    log = storage / "server.log"
    arguments = ["--storage-root", str(storage), *FAST]
    with open(log, "wb") as out:
        server = subprocess.Popen([str(BINARY), "serve", "--http-port", str(port), *arguments], cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        # While the server runs: stdout to a file is block-buffered unless flushed.
        password = None
        for _ in range(200):
            found = re.search(r"one-time password (\S+)", log.read_text(errors="replace"))
            if found:
                password = found.group(1)
                break
            time.sleep(0.05)
        assert password, log.read_text(errors="replace")
        secret = storage / "secrets" / "initial-admin-password"
        assert secret.read_text().strip() == password
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        signed_in = requests.post(f"http://127.0.0.1:{port}/api/v1/sessions", json={"username": "admin", "password": password})
        assert signed_in.status_code == 201 and signed_in.json()["person"]["mustChangePassword"], signed_in.text

        # Once the admin has a password of their own, the one-time one is gone from the disk.
        subprocess.run([str(BINARY), "user", "passwd", "admin", *arguments], cwd=ROOT, input=b"a-new-password-2026\n", check=True,
                       capture_output=True)
        assert not secret.exists()
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(storage, ignore_errors=True)
