"""Remote transcoding runners: the server with no worker of its own, `lessonlink runner` processes
on loopback taking its jobs over HTTP. Ten jobs spread over two runners; a runner killed with -9
mid-job loses its lease and the other finishes the job, publishing one version; a runner that
sends a tampered result is refused and the job retried; a revoked runner is refused; a cancel
reaches the runner at its next update."""
import base64
import hashlib
import io
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import requests
from tusclient import client

from conftest import BINARY, ROOT, Server, api_token, sign_in
from test_durability import recording_after
from test_pages import wait


def auth(token):
    return {"Authorization": "Bearer " + token}


def clip(seconds, tone, size="320x240"):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lesson.mp4"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=25:duration={seconds}", "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True)
        return path.read_bytes()


def upload(base, token, data, title):
    """A whole upload through tus; returns the recording's id."""
    created = requests.post(base + "/api/v1/uploads", headers={
        **auth(token), "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
        "Upload-Metadata": "title " + base64.b64encode(title.encode()).decode()})
    assert created.status_code == 201, created.text
    patched = requests.patch(base + created.headers["Location"], data=data, headers={
        **auth(token), "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert patched.status_code == 204
    items = requests.get(base + "/api/v1/recordings", params={"q": title}, headers=auth(token)).json()["items"]
    return next(item["id"] for item in items if item["title"] == title)


class Runner:
    """One `lessonlink runner` process with a state folder of its own."""

    def __init__(self, server, state: Path, name: str):
        self.server, self.state, self.name = server, state, name
        self.log = state.with_suffix(".log")
        self.process = None

    def start(self, token=None):
        arguments = ["runner", "--server", self.server.base, "--name", self.name, "--state-dir", str(self.state), "--threads", "1"]
        if token:
            arguments += ["--token", token]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(BINARY), *arguments], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return self

    def output(self):
        return self.log.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)


def registration_token(server):
    done = subprocess.run([str(BINARY), "runner-token", "--storage-root", str(server.storage)], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def job_row(server, recording):
    with sqlite3.connect(f"file:{server.storage / 'lessonlink.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT id, state, leaseOwner, lastError FROM transcodeJob WHERE recordingId = ? ORDER BY id DESC LIMIT 1",
                          (recording,)).fetchone()


def wait_for(condition, seconds=60, what="the condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened")


def test_runners_share_the_queue_survive_a_kill_and_are_held_to_their_results(tmp_path, browser):
    # No disk is 101 % free: the admin's pages warn of low space.
    server = Server(tmp_path / "storage", "--transcode-worker", "false", "--transcode-lease-seconds", "4",
                    "--transcode-retry-delay-seconds", "1", "--storage-min-free-percent", "101").start()
    runners = []
    try:
        base = server.base
        teacher, admin = api_token(base, "teacher"), api_token(base, "county-admin")

        # A runner that lies: it registers, takes a job, and reports a result that is not what it sent.
        forger_token = requests.post(base + "/api/v1/runners/register", json={
            "registrationToken": registration_token(server), "name": "forger"}).json()["runnerToken"]
        again = requests.post(base + "/api/v1/runners/register", json={"registrationToken": "llr_" + "0" * 64, "name": "x"})
        assert again.status_code == 401 and again.json()["error"]["code"] == "unauthenticated"
        forged = upload(base, teacher, clip(2, 330), "远程转码 伪造结果")
        offers = wait_for(lambda: requests.post(base + "/api/v1/runners/jobs/request", headers=auth(forger_token)).json()["jobs"],
                          what="a job offered")
        job = offers[0]["id"]
        assignment = requests.post(f"{base}/api/v1/runners/jobs/{job}/accept", headers=auth(forger_token)).json()
        lease = {**auth(forger_token), "LessonLink-Job-Token": assignment["jobToken"]}
        source = requests.get(f"{base}/api/v1/runners/jobs/{job}/source", headers={**lease, "Range": "bytes=0-99"})
        assert source.status_code == 206 and len(source.content) == 100
        # Result files go over tus, into its own job only: hidden names and other jobs' tokens are refused.
        files = f"{base}/api/v1/runners/jobs/{job}/files"
        tus = {**lease, "Tus-Resumable": "1.0.0"}

        def create(path, length, headers=tus):
            return requests.post(files, headers={**headers, "Upload-Length": str(length),
                                                 "Upload-Metadata": "path " + base64.b64encode(path.encode()).decode()})

        options = requests.options(files)
        assert options.headers["Tus-Version"] == "1.0.0" and "creation" in options.headers["Tus-Extension"]
        assert create(".hidden", 1).status_code == 400
        assert create("master.m3u8", 5, {**tus, "LessonLink-Job-Token": "guess"}).status_code == 409
        assert requests.post(files, headers={**lease, "Upload-Length": "5"}).status_code == 412, "Tus-Resumable is required"
        # A cut upload goes on from the offset the server reports.
        playlist = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n360p/index.m3u8\n"
        created = create("master.m3u8", len(playlist))
        assert created.status_code == 201 and created.headers["Tus-Resumable"] == "1.0.0", created.text
        location = base + created.headers["Location"]
        patch = {**tus, "Content-Type": "application/offset+octet-stream"}
        assert requests.patch(location, headers={**patch, "Upload-Offset": "0"}, data=playlist[:10]).headers["Upload-Offset"] == "10"
        head = requests.head(location, headers=tus)
        assert head.headers["Upload-Offset"] == "10" and head.headers["Upload-Length"] == str(len(playlist))
        assert "master.m3u8" not in {f["path"] for f in requests.get(files, headers=lease).json()["files"]}, "not received until whole"
        wrong = requests.patch(location, headers={**patch, "Upload-Offset": "0"}, data=playlist)
        assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "offset_mismatch"
        assert requests.patch(location, headers={**patch, "Upload-Offset": "10"}, data=playlist[10:]).status_code == 204
        # tuspy, a tus client of its own, sends another in small chunks.
        poster = b"not really a jpeg"
        client.TusClient(files, headers=lease).uploader(file_stream=io.BytesIO(poster), chunk_size=5,
                                                        metadata={"path": "poster.jpg"}).upload()
        received = {f["path"]: f["size"] for f in requests.get(files, headers=lease).json()["files"]}
        assert received == {"master.m3u8": len(playlist), "poster.jpg": len(poster)}
        claimed = hashlib.sha256(b"#EXTM3U\n# what it claims\n").hexdigest()
        refused = requests.post(f"{base}/api/v1/runners/jobs/{job}/success", headers=lease, json={
            "files": [{"path": "master.m3u8", "size": len(playlist), "sha256": claimed},
                      {"path": "poster.jpg", "size": len(poster), "sha256": hashlib.sha256(poster).hexdigest()}],
            "video": [], "audio": [], "duration": 2})
        assert refused.status_code == 422 and "master.m3u8 has SHA-256" in refused.json()["error"]["message"], refused.text
        _, state, owner, error = job_row(server, forged)
        assert state == "queued" and owner is None and "runner forger sent a result that does not hold together" in error
        assert not list((server.storage / "media" / str(forged)).glob("v*")), "nothing of it was published"
        # The lease went with the refusal: the forger's job token is no longer good.
        assert requests.post(f"{base}/api/v1/runners/jobs/{job}/update", headers=lease, json={"progress": 0.5}).status_code == 409
        # Revoked, its next call is refused.
        forger_id = next(r["id"] for r in requests.get(base + "/api/v1/runners", headers=auth(admin)).json()["items"] if r["name"] == "forger")
        assert requests.post(f"{base}/api/v1/runners/{forger_id}/revoke", headers=auth(admin)).status_code == 204
        revoked = requests.post(base + "/api/v1/runners/jobs/request", headers=auth(forger_token))
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]

        # Two honest runners: the forged job is retried by one of them, then ten more spread over both.
        runners = [Runner(server, tmp_path / f"runner-{n}", f"runner-{n}").start(registration_token(server)) for n in (1, 2)]
        recording_after(base, teacher, forged, lambda r: r["state"] == "ready", seconds=120)
        lessons = [upload(base, teacher, clip(2, 400 + 17 * n), f"远程转码 第{n}课") for n in range(10)]
        for lesson in lessons:
            recording_after(base, teacher, lesson, lambda r: r["state"] == "ready", seconds=180)
        listed = {r["name"]: r for r in requests.get(base + "/api/v1/runners", headers=auth(admin)).json()["items"]}
        assert listed["runner-1"]["jobsDone"] > 0 and listed["runner-2"]["jobsDone"] > 0, listed
        assert listed["runner-1"]["jobsDone"] + listed["runner-2"]["jobsDone"] == 11
        assert listed["runner-1"]["speed"] > 0 and listed["forger"]["revokedAt"] and listed["forger"]["failures"] == 1
        for lesson in lessons + [forged]:
            assert len(list((server.storage / "media" / str(lesson)).iterdir())) == 1, "one version each"

        # A runner killed with -9 mid-job: its lease runs out and the other runner finishes the job.
        long = upload(base, teacher, clip(40, 520, size="640x360"), "远程转码 中途被杀")
        owner = wait_for(lambda: (job_row(server, long) or (0, "", None, None))[2], what="the long job leased")
        holder_id = int(owner.split("-")[1])
        by_id = {r["id"]: r["name"] for r in requests.get(base + "/api/v1/runners", headers=auth(admin)).json()["items"]}
        holder = next(r for r in runners if r.name == by_id[holder_id])
        survivor = next(r for r in runners if r is not holder)
        time.sleep(1)
        holder.stop(signal.SIGKILL)
        recording_after(base, teacher, long, lambda r: r["state"] == "ready", seconds=180)
        job_id, state, _, error = job_row(server, long)
        assert state == "succeeded" and [p.name for p in (server.storage / "media" / str(long)).iterdir()] == [f"v{job_id}"]
        assert f"job={job_id}" in survivor.output() and "job published" in survivor.output()

        # A cancel reaches the runner at its next update; nothing is published.
        holder.start()  # registered already: its token is in its state folder
        cancelled = upload(base, teacher, clip(40, 610, size="640x360"), "远程转码 取消")
        wait_for(lambda: (job_row(server, cancelled) or (0, "", None, None))[2], what="the job to cancel leased")
        time.sleep(1)
        subprocess.run([str(BINARY), "jobs", "cancel", str(cancelled), "--storage-root", str(server.storage)], cwd=ROOT, check=True,
                       capture_output=True)
        wait_for(lambda: any("job stopped by the server" in r.output() for r in runners), seconds=20, what="the runner told to stop")
        assert job_row(server, cancelled)[1] == "cancelled"
        time.sleep(2)
        assert not list((server.storage / "media" / str(cancelled)).glob("v*"))
        listing = subprocess.run([str(BINARY), "runners", "--storage-root", str(server.storage)], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout
        assert "runner-1" in listing and "revoked" in listing and "queue: " in listing

        # The admin's server page: the runners with their work, a new registration token, the disk warning.
        sign_in(browser, base, "county-admin")
        wait(browser, lambda b: b.current_url.rstrip("/") == base)
        browser.get(base + "/admin")
        rows = wait(browser, lambda b: [r.text for r in b.find_elements("css selector", "#runners tbody tr")] or None)
        assert any(r.startswith("runner-1 ") for r in rows) and any(r.startswith("forger ") and "已吊销" in r for r in rows), rows
        assert "磁盘剩余" in browser.find_element("id", "server-status").text
        assert "存储空间不足" in wait(browser, lambda b: b.find_elements("id", "storage-warning"))[0].text
        browser.find_element("id", "new-runner-token").click()
        token = wait(browser, lambda b: b.find_element("id", "runner-token").text or None)
        assert token.startswith("llr_")
        registered = requests.post(base + "/api/v1/runners/register", json={"registrationToken": token, "name": "网页令牌"})
        assert registered.status_code == 201
    finally:
        for runner in runners:
            runner.stop(signal.SIGKILL)
        server.stop()
