"""Media in an S3-compatible store: moto's S3 server on loopback, the server with
`storage.media: s3` and no worker of its own, a `lessonlink runner` transcoding. The published
version goes to the bucket (the server's disk keeps its playlists and poster), ffmpeg plays it
through presigned links and then through the server's proxy, a pack publishes its objects to the
bucket and a school's mirror fetches them from there; a store that does not answer is a clear
502, not a hung player."""
import hashlib
import json
import subprocess
import time
from urllib.parse import urlparse

import boto3
import pytest
import requests

from conftest import BINARY, ROOT, Server, api_token, free_port
from test_backup import plays
from test_durability import recording_after
from test_runners import Runner, auth, clip, registration_token, upload

BUCKET = "lessonlink-media"


@pytest.fixture(scope="module")
def store():
    port = free_port()
    process, client = start_moto(port)
    yield f"http://127.0.0.1:{port}", client
    process.kill()  # moto's server does not stop on SIGTERM
    process.wait()


def s3(endpoint, links):
    return ["--storage-media", "s3", "--storage-s3-endpoint", endpoint, "--storage-s3-bucket", BUCKET, "--storage-s3-access-key",
            "testing", "--storage-s3-secret-key", "testing", "--storage-s3-links", links, "--storage-s3-part-megabytes", "5"]


def keys(client, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def test_media_and_packs_live_in_the_bucket(store, tmp_path):
    endpoint, client = store
    storage = tmp_path / "storage"
    server = Server(storage, "--transcode-worker", "false", *s3(endpoint, "presigned")).start()
    runner = None
    try:
        base = server.base
        teacher = api_token(base, "teacher")
        runner = Runner(server, tmp_path / "runner", "runner-s3").start(registration_token(server))
        recording = upload(base, teacher, clip(4, 440, "640x360"), "对象存储 咏鹅")
        ready = recording_after(base, teacher, recording, lambda r: r["state"] == "ready", seconds=180)
        version = ready["mediaVersion"]

        # Every file of the version is in the bucket; the disk keeps only playlists and the poster.
        stored = keys(client, f"media/{recording}/{version}/")
        names = {key.split("/", 3)[3] for key in stored}
        assert "master.m3u8" in names and "poster.jpg" in names
        segments = sorted(name for name in names if name.endswith(".m4s"))
        assert segments and any(name.endswith("/init.mp4") for name in names), names
        local = storage / "media" / str(recording) / version
        kept = {str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()}
        assert kept and all(name.endswith(".m3u8") or name == "poster.jpg" for name in kept), kept
        assert kept <= names

        # Players get media playlists naming each segment by a presigned link into the store.
        playback = requests.get(f"{base}/api/v1/recordings/{recording}/playback", headers=auth(teacher)).json()
        master = requests.get(base + playback["url"])
        assert master.status_code == 200 and "X-Amz-Signature" not in master.text
        tier = next(line for line in master.text.splitlines() if line.endswith("/index.m3u8"))
        media = requests.get(base + playback["url"].rsplit("/", 1)[0] + "/" + tier)
        assert media.status_code == 200
        links = [line for line in media.text.splitlines() if line and not line.startswith("#")]
        assert links and all(link.startswith(endpoint + f"/{BUCKET}/media/{recording}/{version}/") and "X-Amz-Signature=" in link
                             for link in links)
        assert f'URI="{endpoint}/{BUCKET}/' in media.text, "the init segment is presigned too"
        first = requests.get(links[0])
        assert first.status_code == 200
        key = urlparse(links[0]).path.split(f"/{BUCKET}/", 1)[1]
        assert first.content == client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        # A segment asked of the server is a redirect to the store.
        direct = requests.get(base + playback["url"].rsplit("/", 1)[0] + "/" + segments[0], allow_redirects=False)
        assert direct.status_code == 302 and direct.headers["Location"].startswith(endpoint)
        assert plays(base, teacher, recording), "ffmpeg plays the lesson through presigned links"

        # A pack: its lesson's segments come back from the store to be assembled, and every object
        # of the version goes to the bucket before it is published.
        schools = requests.get(base + "/api/v1/schools", headers=auth(teacher)).json()["items"]
        member = next(s["id"] for s in schools if s["name"] == "桥头小学")
        pack = requests.post(base + "/api/v1/packs", headers=auth(teacher), json={
            "title": "对象存储资源包", "targets": [{"schoolId": member, "grades": [3]}]}).json()["id"]
        assert requests.post(f"{base}/api/v1/packs/{pack}/items", headers=auth(teacher), json={"recordingId": recording}).status_code == 201
        worksheet = b"%PDF-1.4\n" + bytes(range(256)) * 4000
        assert requests.post(f"{base}/api/v1/packs/{pack}/attachments", params={"name": "练习单.pdf"}, headers=auth(teacher),
                             data=worksheet).status_code == 201
        published = requests.post(f"{base}/api/v1/packs/{pack}/publish", headers=auth(teacher))
        assert published.status_code == 201, published.text
        screen = api_token(base, "classroom")
        manifest = requests.get(f"{base}/api/v1/packs/{pack}/versions/1/manifest", headers=auth(screen)).json()
        objects = keys(client, "objects/")
        for entry in manifest["files"]:
            assert objects.get(f"objects/{entry['sha256'][:2]}/{entry['sha256']}") == entry["size"], entry["path"]
        sheet = next(entry for entry in manifest["files"] if entry["path"].endswith("练习单.pdf"))
        redirected = requests.get(f"{base}/api/v1/packs/{pack}/versions/1/files/{sheet['path']}", headers=auth(screen),
                                  allow_redirects=False)
        assert redirected.status_code == 302 and redirected.headers["Location"].startswith(endpoint)

        # A school's mirror follows the redirects to the store and checks every file's SHA-256.
        folder = tmp_path / "mirror"
        run = subprocess.run([str(BINARY), "mirror", "--server", base, "--token=" + screen, "--dir", str(folder)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout.strip().splitlines()[-1])["complete"]
        mirrored = {p.name: p for p in (folder / "objects").glob("??/*") if len(p.name) == 64}
        for entry in manifest["files"]:
            assert hashlib.sha256(mirrored[entry["sha256"]].read_bytes()).hexdigest() == entry["sha256"]
    finally:
        if runner:
            runner.stop()
        server.stop()

    # Assembling the pack fetched the lesson's segments back to the disk; the sweep trims them
    # after an hour. Trimmed now, so what follows is served from the store.
    for path in local.rglob("*"):
        if path.is_file() and not (path.name.endswith(".m3u8") or path.name == "poster.jpg"):
            path.unlink()

    # The same storage served with proxied links: the server fetches segments from the store.
    proxied = Server(storage, *s3(endpoint, "proxied"), seed=False).start()
    try:
        base = proxied.base
        teacher = api_token(base, "teacher")
        playback = requests.get(f"{base}/api/v1/recordings/{recording}/playback", headers=auth(teacher)).json()
        folder_url = base + playback["url"].rsplit("/", 1)[0]
        media = requests.get(f"{folder_url}/{tier}")
        assert "X-Amz-Signature" not in media.text
        segment = requests.get(f"{folder_url}/{segments[0]}")
        assert segment.status_code == 200 and segment.headers["Content-Type"] == "video/iso.segment"
        assert segment.content == client.get_object(Bucket=BUCKET, Key=f"media/{recording}/{version}/{segments[0]}")["Body"].read()
        part = requests.get(f"{folder_url}/{segments[0]}", headers={"Range": "bytes=10-109"})
        assert part.status_code == 206 and part.content == segment.content[10:110]
        past = requests.get(f"{folder_url}/{segments[0]}", headers={"Range": f"bytes={len(segment.content) + 10}-"})
        assert past.status_code == 416 and past.json()["error"]["code"] == "range_not_satisfiable"
        assert plays(base, teacher, recording), "ffmpeg plays the lesson through the server's proxy"
    finally:
        proxied.stop()

    # A store that does not answer: the player gets a clear error and the server keeps serving.
    unreachable = Server(storage, *s3(f"http://127.0.0.1:{free_port()}", "proxied"), seed=False).start()
    try:
        base = unreachable.base
        teacher = api_token(base, "teacher")
        playback = requests.get(f"{base}/api/v1/recordings/{recording}/playback", headers=auth(teacher)).json()
        failed = requests.get(base + playback["url"].rsplit("/", 1)[0] + "/" + segments[0], timeout=60)
        assert failed.status_code == 502 and failed.json()["error"]["code"] == "storage_unavailable"
        assert requests.get(base + "/healthz").status_code == 200
    finally:
        unreachable.stop()


def start_moto(port):
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    for _ in range(200):
        try:
            client.create_bucket(Bucket=BUCKET)
            return process, client
        except Exception:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("moto_server did not start")


def test_a_store_that_is_down_loses_no_result(tmp_path):
    # The store is down when the runner finishes: the server keeps the result and says 503, the
    # runner asks again, and once the store is back the version is published — one version, whole.
    port = free_port()
    server = Server(tmp_path / "storage", "--transcode-worker", "false", *s3(f"http://127.0.0.1:{port}", "presigned")).start()
    runner, moto = None, None
    try:
        base = server.base
        teacher = api_token(base, "teacher")
        runner = Runner(server, tmp_path / "runner", "runner-patient").start(registration_token(server))
        recording = upload(base, teacher, clip(2, 550), "对象存储 暂停")
        deadline = time.monotonic() + 120
        while "could not take the result yet" not in runner.output():
            assert time.monotonic() < deadline, runner.output()
            time.sleep(0.2)
        assert requests.get(f"{base}/api/v1/recordings/{recording}", headers=auth(teacher)).json()["state"] != "ready"
        moto, client = start_moto(port)
        ready = recording_after(base, teacher, recording, lambda r: r["state"] == "ready", seconds=180)
        stored = keys(client, f"media/{recording}/{ready['mediaVersion']}/")
        assert "master.m3u8" in {key.split("/", 3)[3] for key in stored}
        assert any(key.endswith(".m4s") for key in stored)
        assert plays(base, teacher, recording)
    finally:
        if runner:
            runner.stop()
        server.stop()
        if moto:
            moto.kill()
            moto.wait()


def test_a_setting_that_cannot_work_is_refused(tmp_path):
    for flags, message in [
        (["--storage-media", "s4"], "storage.media is s4; it must be disk or s3"),
        (["--storage-media", "s3"], "storage.s3.endpoint must be set"),
        (["--storage-media", "s3", "--storage-s3-endpoint", "ftp://store", "--storage-s3-bucket", "media"], "http:// or https://"),
    ]:
        run = subprocess.run([str(BINARY), "serve", "--storage-root", str(tmp_path / "storage"), *flags], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert run.returncode != 0 and message in run.stderr, run.stderr
