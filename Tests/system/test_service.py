"""LessonLink run as a service would run it: output to a log file, not a terminal."""
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from conftest import BINARY, FAST, ROOT, free_port, wait_until_up


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
        assert wait_until_up(f"http://127.0.0.1:{port}")
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


def test_install_writes_units_systemd_accepts_and_keeps_an_admins_configuration(tmp_path):
    destdir, prefix = tmp_path / "root", tmp_path / "prefix"
    installed = subprocess.run([str(BINARY), "install", "--destdir", str(destdir), "--prefix", str(prefix)], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    binary = destdir / str(prefix).lstrip("/") / "bin" / "lessonlink"
    assert binary.exists() and os.access(binary, os.X_OK), installed.stdout
    etc = destdir / "etc" / "lessonlink"
    assert {p.name for p in etc.iterdir()} == {"lessonlink.yaml", "ladder.yaml", "review-rubric.yaml", "demo-county.yaml"}
    units = destdir / "etc" / "systemd" / "system"
    server_unit = (units / "lessonlink.service").read_text()
    for line in ["User=lessonlink", "ProtectSystem=strict", "ReadWritePaths=/var/lib/lessonlink -/var/backups/lessonlink",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure", "TimeoutStopSec=30",
                 f"ExecStart={prefix}/bin/lessonlink serve", "Environment=LESSONLINK_CONFIG=/etc/lessonlink/lessonlink.yaml"]:
        assert line in server_unit.splitlines(), line
    assert f"ExecStart={prefix}/bin/lessonlink worker --transcode-node %H-worker-%i" in (units / "lessonlink-worker@.service").read_text()

    # systemd's own checker, on both units (the binary where ExecStart says it is).
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "lessonlink").symlink_to(binary)
    for unit in ["lessonlink.service", "lessonlink-worker@.service"]:
        verified = subprocess.run(["systemd-analyze", "verify", str(units / unit)], capture_output=True, text=True)
        assert verified.returncode == 0 and verified.stderr.strip() == "", (unit, verified.stderr)

    # The installed configuration reads as an installed server needs it: data in /var/lib, files beside it.
    checked = subprocess.run([str(BINARY), "user", "list", "--config", str(etc / "lessonlink.yaml"), "--storage-root", str(tmp_path / "data")],
                             cwd="/", capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

    # An upgrade replaces binaries and units but never an admin's edits.
    (etc / "lessonlink.yaml").write_text((etc / "lessonlink.yaml").read_text().replace("port: 8080", "port: 8090"))
    again = subprocess.run([str(BINARY), "install", "--destdir", str(destdir), "--prefix", str(prefix)], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    assert f"kept {etc / 'lessonlink.yaml'}" in again.stdout and "port: 8090" in (etc / "lessonlink.yaml").read_text()


def test_configuration_is_found_from_any_folder_and_its_mistakes_are_named(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(ROOT / "config" / "demo-county.yaml", etc / "demo-county.yaml")
    (etc / "lessonlink.yaml").write_text("storage:\n  root: ../data\nauth:\n  bcryptCost: 4\n")
    environment = {**os.environ, "LESSONLINK_CONFIG": str(etc / "lessonlink.yaml")}
    # From /, with the file named by the environment: its relative paths are read from its folder.
    seeded = subprocess.run([str(BINARY), "seed", "--demo"], cwd="/", env=environment, capture_output=True, text=True)
    assert seeded.returncode == 0, seeded.stderr
    assert (tmp_path / "data" / "lessonlink.sqlite").exists()
    listed = subprocess.run([str(BINARY), "user", "list"], cwd="/", env=environment, capture_output=True, text=True, check=True)
    assert "county-admin\tadmin" in listed.stdout

    (etc / "lessonlink.yaml").write_text("storage:\n  root: ../data\nhttp:\n  prot: 8080\n")
    mistaken = subprocess.run([str(BINARY), "serve"], cwd="/", env=environment, capture_output=True, text=True, timeout=30)
    assert mistaken.returncode != 0
    assert f"{etc / 'lessonlink.yaml'}:4: http.prot is not a LessonLink setting (did you mean http.port?)" in mistaken.stderr
    missing = subprocess.run([str(BINARY), "serve", "--config", str(tmp_path / "nowhere.yaml")], cwd="/", capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode != 0 and f"--config: there is no file {tmp_path / 'nowhere.yaml'}" in missing.stderr


def test_version_names_the_schema_and_an_older_binary_refuses_a_newer_database(tmp_path):
    version = subprocess.run([str(BINARY), "--version"], capture_output=True, text=True, check=True).stdout
    newest = re.search(r"newest '([^']+)'", version)
    assert version.startswith("lessonlink ") and newest, version
    storage = tmp_path / "storage"
    subprocess.run([str(BINARY), "user", "list", "--storage-root", str(storage)], cwd=ROOT, capture_output=True, check=True)
    with sqlite3.connect(storage / "lessonlink.sqlite") as db:
        assert db.execute("SELECT version FROM lessonlinkRelease WHERE migration = ?", (newest.group(1),)).fetchone() is not None
        db.execute("INSERT INTO grdb_migrations (identifier) VALUES ('v99 next year')")
        db.execute("INSERT INTO lessonlinkRelease (migration, version) VALUES ('v99 next year', '9.0.0')")
    refused = subprocess.run([str(BINARY), "serve", "--storage-root", str(storage), "--http-port", str(free_port())], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0
    assert "the database has migration 'v99 next year'" in refused.stderr and "run LessonLink 9.0.0 or newer" in refused.stderr
