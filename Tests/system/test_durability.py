"""Uploads across a crash and a full disk: nothing acknowledged is lost, the upload resumes from
HEAD, and the stored file is byte for byte what the client sent."""
import base64
import hashlib
import http.client
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import Server, api_token

TUS = {"Tus-Resumable": "1.0.0"}


def make_big_clip(path: Path):
    """A 3 s clip of about 25 MB (lossless x264 of a noisy pattern): several of the server's 1 MiB
    write batches in each piece sent."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=25:duration=3,noise=alls=30:allf=t", "-f", "lavfi", "-i", "sine=duration=3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(path)], check=True)
    return path.read_bytes()


def create(base, token, length, title):
    metadata = "filename " + base64.b64encode(b"lesson.mp4").decode() + ",title " + base64.b64encode(title.encode()).decode()
    response = requests.post(base + "/api/v1/uploads", headers={
        **TUS, "Authorization": "Bearer " + token, "Upload-Length": str(length), "Upload-Metadata": metadata})
    assert response.status_code == 201, response.text
    return base + response.headers["Location"]


def patch(url, token, offset, data):
    return requests.patch(url, data=data, headers={
        **TUS, "Authorization": "Bearer " + token, "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream"})


def head_offset(url, token):
    response = requests.head(url, headers={**TUS, "Authorization": "Bearer " + token})
    assert response.status_code == 200, response.status_code
    return int(response.headers["Upload-Offset"])


def recording_after(base, token, recording_id, condition, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        recording = requests.get(f"{base}/api/v1/recordings/{recording_id}", headers={"Authorization": "Bearer " + token}).json()
        if condition(recording):
            return recording
        time.sleep(0.1)
    raise AssertionError(f"recording {recording_id} never got there: {recording}")


def recording_after_processing(base, token, recording_id):
    return recording_after(base, token, recording_id, lambda r: r["state"] != "uploading", 30)


def test_kill_9_mid_patch_loses_nothing_acknowledged(tmp_path):
    data = make_big_clip(tmp_path / "lesson.mp4")
    server = Server(tmp_path / "storage", "--transcode-worker", "false").start()
    try:
        token = api_token(server.base)
        url = create(server.base, token, len(data), "断电续传")
        half = len(data) // 2
        first = patch(url, token, 0, data[:half])
        assert first.status_code == 204 and int(first.headers["Upload-Offset"]) == half

        # A second PATCH that declares the rest but sends only part of it, then the server dies.
        connection = http.client.HTTPConnection("127.0.0.1", server.port)
        path = url[len(server.base):]
        connection.putrequest("PATCH", path)
        for name, value in {**TUS, "Authorization": "Bearer " + token, "Upload-Offset": str(half),
                            "Content-Type": "application/offset+octet-stream",
                            "Content-Length": str(len(data) - half)}.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(data[half:half + (len(data) - half) // 2])
        part = next((tmp_path / "storage" / "uploads").glob("*.part"))
        for _ in range(100):
            if part.stat().st_size > half:
                break
            time.sleep(0.05)
        server.kill()
        connection.close()
        # The dead request's bytes reached the file but were never acknowledged.
        assert part.stat().st_size > half

        server.start()
        offset = head_offset(url, token)
        assert offset == half
        resumed = patch(url, token, offset, data[offset:])
        assert resumed.status_code == 204, resumed.text
        assert int(resumed.headers["Upload-Offset"]) == len(data)
        recordings = requests.get(server.base + "/api/v1/recordings?q=断电续传", headers={"Authorization": "Bearer " + token}).json()["items"]
        assert len(recordings) == 1
        recording = recording_after_processing(server.base, token, recordings[0]["id"])
        # The SHA-256 the server computed (running hash rebuilt after the restart) is the client's.
        assert recording["sourceSha256"] == hashlib.sha256(data).hexdigest()
        assert recording["state"] == "queued", recording.get("failure")
        assert requests.get(server.base + "/healthz").ok
    finally:
        server.stop()


@pytest.fixture()
def small_disk():
    mountpoint = Path(tempfile.mkdtemp(prefix="lessonlink-tmpfs-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        shutil.rmtree(mountpoint, ignore_errors=True)
        pytest.skip("mounting a tmpfs needs root: " + mounted.stderr.strip())
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)
    shutil.rmtree(mountpoint, ignore_errors=True)


def test_disk_full_mid_patch_keeps_what_was_accepted(tmp_path, small_disk):
    data = make_big_clip(tmp_path / "lesson.mp4")
    server = Server(small_disk / "storage", "--transcode-worker", "false").start()
    filler = small_disk / "filler"
    try:
        token = api_token(server.base)
        url = create(server.base, token, len(data), "磁盘已满")
        quarter = len(data) // 4
        assert patch(url, token, 0, data[:quarter]).status_code == 204

        # Leave 1 MiB free, then send the rest: the disk fills part-way through the PATCH.
        free = shutil.disk_usage(small_disk).free
        with open(filler, "wb") as out:
            out.write(b"\0" * max(0, free - (1 << 20)))
        full = patch(url, token, quarter, data[quarter:])
        assert full.status_code == 507, full.text
        assert full.json()["error"]["code"] == "disk_full"
        assert requests.get(server.base + "/healthz").ok
        # The accepted quarter is intact; the failed chunk's bytes are gone from the disk.
        assert head_offset(url, token) == quarter
        uploads = list((small_disk / "storage" / "uploads").iterdir())
        assert [p.stat().st_size for p in uploads if p.is_file()] == [quarter]

        filler.unlink()
        resumed = patch(url, token, quarter, data[quarter:])
        assert resumed.status_code == 204, resumed.text
        recordings = requests.get(server.base + "/api/v1/recordings?q=磁盘已满", headers={"Authorization": "Bearer " + token}).json()["items"]
        recording = recording_after_processing(server.base, token, recordings[0]["id"])
        assert recording["sourceSha256"] == hashlib.sha256(data).hexdigest()
        assert recording["state"] == "queued", recording.get("failure")
    finally:
        server.stop()
        filler.unlink(missing_ok=True)


def start_long_transcode(tmp_path, title):
    """A server transcoding a 60 s clip with one thread; returns it once the job shows progress.
    Leases last 5 s, so a job whose server was killed goes back to the queue soon after."""
    clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=25:duration=60", "-f", "lavfi", "-i", "sine=duration=60",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    str(clip)], check=True)
    data = clip.read_bytes()
    server = Server(tmp_path / "storage", "--transcode-threads", "1", "--transcode-lease-seconds", "5").start()
    token = api_token(server.base)
    headers = {"Authorization": "Bearer " + token}
    url = create(server.base, token, len(data), title)
    assert patch(url, token, 0, data).status_code == 204
    recording_id = requests.get(server.base + "/api/v1/recordings", params={"q": title}, headers=headers).json()["items"][0]["id"]
    for _ in range(600):
        job = requests.get(f"{server.base}/api/v1/recordings/{recording_id}", headers=headers).json().get("transcode") or {}
        if job.get("state") == "running" and job.get("progress", 0) > 0:
            break
        time.sleep(0.05)
    assert job.get("state") == "running"
    return server, token, recording_id


def test_sigterm_mid_transcode_parks_the_job_without_using_an_attempt(tmp_path):
    server, token, recording_id = start_long_transcode(tmp_path, "关机停放")
    try:
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0, "a graceful shutdown"
        with sqlite3.connect(tmp_path / "storage" / "lessonlink.sqlite") as db:
            state, attempts = db.execute("SELECT state, attempts FROM transcodeJob WHERE recordingId = ?", (recording_id,)).fetchone()
        assert (state, attempts) == ("queued", 0)
        assert not [p for p in (tmp_path / "storage" / "media" / str(recording_id)).iterdir()], "the child's files were removed"

        server.start()
        recording = recording_after(server.base, token, recording_id, lambda r: r["state"] in ("ready", "failed"))
        assert recording["state"] == "ready" and recording["transcode"]["attempts"] == 1
    finally:
        server.stop()


def test_kill_9_of_the_server_mid_transcode_requeues_the_job(tmp_path):
    server, token, recording_id = start_long_transcode(tmp_path, "转码中断电")
    try:
        server.kill()

        # The restarted server is a new worker node: the job comes back only once the dead
        # node's lease has expired, never while another live worker might hold it.
        server.start()
        recording = recording_after(server.base, token, recording_id, lambda r: r["state"] in ("ready", "failed"))
        assert recording["state"] == "ready", recording.get("failure")
        media = sorted(p.name for p in (tmp_path / "storage" / "media" / str(recording_id)).iterdir())
        assert media == [f"v{recording['transcode']['jobId']}"], "exactly one version and nothing half-made"
        assert requests.get(server.base + "/healthz").ok
    finally:
        server.stop()
