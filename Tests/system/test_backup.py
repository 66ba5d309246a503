"""Backup and restore of a running county: `lessonlink backup` while a teacher's upload is half
way and a transcode runs, `lessonlink restore` into a new root, a server on it (lessons play with
ffmpeg as the HLS client, the pack downloads, the upload resumes from its acknowledged offset), a
second backup that copies only what is new, and a flipped byte found by `--verify`."""
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import zipfile
from pathlib import Path

import requests

from conftest import BINARY, ROOT, Server, api_token, ready_lesson
from test_durability import create, head_offset, patch, recording_after


def auth(token):
    return {"Authorization": "Bearer " + token}


def lessonlink(*arguments, check=True):
    return subprocess.run([str(BINARY), *arguments], cwd=ROOT, capture_output=True, text=True, check=check)


def manifest(snapshot: Path):
    return {entry["path"]: entry for entry in json.loads((snapshot / "lessonlink-backup.json").read_text())["files"]}


def recordings(base, token):
    items = requests.get(base + "/api/v1/recordings", params={"limit": 100}, headers=auth(token)).json()["items"]
    return sorted((item["id"], item["title"]) for item in items)


def plays(base, token, recording):
    """ffmpeg as the HLS client: the master playlist and every segment of its first tiers decode."""
    playback = requests.get(f"{base}/api/v1/recordings/{recording}/playback", headers=auth(token))
    assert playback.status_code == 200, playback.text
    played = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", base + playback.json()["url"], "-f", "null", "-"],
                            capture_output=True, text=True, timeout=120)
    return played.returncode == 0 and played.stderr.strip() == ""


def test_backup_of_a_busy_county_restores_whole(tmp_path):
    storage, backups, restored = tmp_path / "storage", tmp_path / "backups", tmp_path / "restored"
    # Short leases: the transcode cut off by the backup's moment is taken up again soon after the restore.
    source = Server(storage, "--transcode-lease-seconds", "4").start()
    arguments = ["--storage-root", str(storage)]
    try:
        base = source.base
        teacher, admin = api_token(base, "teacher"), api_token(base, "county-admin")
        lesson = ready_lesson(base, "备份测试 春晓", seconds=4)

        # A published pack with a worksheet: its objects must come back.
        schools = requests.get(base + "/api/v1/schools", headers=auth(teacher)).json()["items"]
        member = next(s["id"] for s in schools if s["name"] == "桥头小学")
        pack = requests.post(base + "/api/v1/packs", headers=auth(teacher), json={
            "title": "备份测试资源包", "targets": [{"schoolId": member, "grades": [1]}]}).json()["id"]
        assert requests.post(f"{base}/api/v1/packs/{pack}/items", headers=auth(teacher), json={"recordingId": lesson}).status_code == 201
        worksheet = os.urandom(200_000)
        assert requests.post(f"{base}/api/v1/packs/{pack}/attachments", params={"name": "练习.pdf"}, headers=auth(teacher),
                             data=worksheet).status_code == 201
        assert requests.post(f"{base}/api/v1/packs/{pack}/publish", headers=auth(teacher)).status_code == 201

        # An upload half way (acknowledged) and a longer lesson being transcoded, when the backup starts.
        def clip(tone):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "lesson.mp4"
                subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                                "testsrc2=size=640x360:rate=25:duration=30", "-f", "lavfi", "-i", f"sine=frequency={tone}:duration=30",
                                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
                               check=True)
                return path.read_bytes()
        data, long = clip(520), clip(610)
        half = len(data) // 2
        pending = create(base, teacher, len(data), "备份测试 上传中")
        assert patch(pending, teacher, 0, data[:half]).status_code == 204
        busy_url = create(base, teacher, len(long), "备份测试 转码中")
        assert patch(busy_url, teacher, 0, long).status_code == 204
        busy = next(i for i, title in recordings(base, admin) if title == "备份测试 转码中")
        recording_after(base, teacher, busy, lambda r: r["state"] == "processing")
        before = recordings(base, admin)

        first = lessonlink("backup", "--to", str(backups), *arguments)
        snapshots = sorted(p for p in backups.iterdir() if not p.name.startswith("."))
        assert len(snapshots) == 1 and str(snapshots[0]) in first.stdout, first.stdout
        one = snapshots[0]
        with sqlite3.connect(one / "lessonlink.sqlite") as db:
            caught = db.execute("SELECT state FROM transcodeJob WHERE recordingId = ?", (busy,)).fetchone()
            acknowledged = db.execute('SELECT "offset" FROM upload WHERE completedAt IS NULL').fetchall()
        assert caught == ("running",), "the backup was taken while the transcode ran"
        assert acknowledged == [(half,)] and (one / "uploads").exists()
        assert lessonlink("backup", "--verify", str(one)).stdout.strip() == f"{one}: intact ({len(manifest(one))} files)"

        # Restored into a new root, a server on it has the same county.
        done = lessonlink("restore", "--from", str(backups), "--to", str(restored))
        assert f"from {one} into {restored}" in done.stdout
        copy = Server(restored, seed=False).start()
        try:
            assert recordings(copy.base, admin) == before
            assert plays(copy.base, teacher, lesson)
            screen = api_token(copy.base, "classroom")
            archive = requests.get(f"{copy.base}/api/v1/packs/{pack}/versions/1/zip", headers=auth(screen))
            assert archive.status_code == 200
            names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
            worksheet_name = next(n for n in names if n.endswith("练习.pdf"))
            assert zipfile.ZipFile(io.BytesIO(archive.content)).read(worksheet_name) == worksheet
            # The half-way upload resumes from the offset it had acknowledged.
            resumed = pending.replace(base, copy.base)
            assert head_offset(resumed, teacher) == half
            finished = patch(resumed, teacher, half, data[half:])
            assert finished.status_code == 204 and int(finished.headers["Upload-Offset"]) == len(data)
            # The transcode the backup caught half way runs again and publishes.
            recording_after(copy.base, teacher, busy, lambda r: r["state"] == "ready", seconds=180)
            assert plays(copy.base, teacher, busy)
        finally:
            copy.stop()

        # The source finishes its transcode; the second backup copies that and links the rest.
        recording_after(base, teacher, busy, lambda r: r["state"] == "ready", seconds=180)
        second = lessonlink("backup", "--to", str(backups), *arguments)
        two = sorted(p for p in backups.iterdir() if not p.name.startswith("."))[-1]
        assert two != one and str(two) in second.stdout
        new = [path for path in manifest(two)
               if not (one / path).exists() or (one / path).stat().st_ino != (two / path).stat().st_ino]
        assert all(p == "lessonlink.sqlite" or p.startswith(("uploads/", f"media/{busy}/")) for p in new), new
        assert any(p.startswith(f"media/{busy}/") for p in new), "the newly published version is copied"
        assert (one / "sources").exists() and all(
            (one / p).stat().st_ino == (two / p).stat().st_ino for p in manifest(one) if p.startswith(("sources/", "objects/", f"media/{lesson}/")))

        # A flipped byte in a backup is found and named, and the backup is not restored.
        segment = next(p for p in new if p.endswith(".m4s"))
        damaged = bytearray((two / segment).read_bytes())
        damaged[len(damaged) // 2] ^= 0x40
        (two / segment).write_bytes(bytes(damaged))
        verify = lessonlink("backup", "--verify", str(two), check=False)
        assert verify.returncode != 0 and f"{segment}: SHA-256" in verify.stderr, verify.stderr
        refused = lessonlink("restore", "--from", str(two), "--to", str(tmp_path / "again"), check=False)
        assert refused.returncode != 0 and segment in refused.stderr
        assert not (tmp_path / "again" / "lessonlink.sqlite").exists()
        # The first snapshot, which shares no bytes with that segment, is still whole.
        assert lessonlink("backup", "--verify", str(one)).returncode == 0
    finally:
        source.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)
