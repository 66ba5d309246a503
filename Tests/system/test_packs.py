"""Resource packs end to end: a lead school publishes a pack, its member school downloads the ZIP
with an interrupted Range resume, mirrors it with `lessonlink mirror` (killed mid-transfer, run
again, a file corrupted and repaired), serves the mirror with `lessonlink serve --mirror`, and
carries a version on a "USB stick" with export/import."""
import hashlib
import io
import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

from conftest import BINARY, ROOT, api_token, free_port, ready_lesson, wait_until_up

MIRROR_BINARY = BINARY.parent / "lessonlink-mirror"


def gone(element):
    """True once `element` left the page (a reload replaced it). While the page is being replaced
    Chromium can also answer that the node "does not belong to the document": gone as well."""
    def check(_):
        try:
            element.is_enabled()
            return False
        except WebDriverException:  # StaleElementReferenceException is one of these
            return True
    return check


def auth(token):
    return {"Authorization": "Bearer " + token}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def pack(server):
    """A published pack of 桥头小学: a 12 s lesson, a clip of it, and a 600 KB worksheet."""
    teacher = api_token(server, "teacher")
    recording = ready_lesson(server, "资源包测试 荷花")
    schools = requests.get(server + "/api/v1/schools", headers=auth(teacher)).json()["items"]
    member = next(s["id"] for s in schools if s["name"] == "桥头小学")
    created = requests.post(server + "/api/v1/packs", headers=auth(teacher), json={
        "title": "三年级语文 荷花（桥头小学版）", "description": "两课时", "notes": "先朗读，再观察图片。",
        "targets": [{"schoolId": member, "grades": [3]}]})
    assert created.status_code == 201, created.text
    pack_id = created.json()["id"]
    assert requests.post(f"{server}/api/v1/packs/{pack_id}/items", headers=auth(teacher),
                         json={"recordingId": recording, "note": "全班一起看"}).status_code == 201
    assert requests.post(f"{server}/api/v1/packs/{pack_id}/items", headers=auth(teacher),
                         json={"recordingId": recording, "title": "第二段", "clipStart": 4, "clipEnd": 8}).status_code == 201
    worksheet = os.urandom(600_000)
    attached = requests.post(f"{server}/api/v1/packs/{pack_id}/attachments", params={"name": "练习单.pdf"},
                             headers=auth(teacher), data=worksheet)
    assert attached.status_code == 201, attached.text
    published = requests.post(f"{server}/api/v1/packs/{pack_id}/publish", headers=auth(teacher))
    assert published.status_code == 201, published.text
    screen = api_token(server, "classroom")
    manifest = requests.get(f"{server}/api/v1/packs/{pack_id}/versions/1/manifest", headers=auth(screen))
    assert manifest.status_code == 200
    return {"id": pack_id, "manifest": manifest.json(), "worksheet": worksheet, "screen": screen}


def test_zip_download_resumes_after_an_interruption(server, pack):
    url = f"{server}/api/v1/packs/{pack['id']}/versions/1/zip"
    headers = auth(pack["screen"])
    # The link drops after 40 % of the archive.
    first = requests.get(url, headers=headers, stream=True)
    assert first.status_code == 200
    length = int(first.headers["Content-Length"])
    etag = first.headers["ETag"]
    received = bytearray()
    for chunk in first.iter_content(64 * 1024):
        received += chunk
        if len(received) >= length * 0.4:
            break
    first.close()
    rest = requests.get(url, headers={**headers, "Range": f"bytes={len(received)}-", "If-Range": etag})
    assert rest.status_code == 206
    assert rest.headers["Content-Range"] == f"bytes {len(received)}-{length - 1}/{length}"
    archive = bytes(received) + rest.content
    assert len(archive) == length
    # A valid ZIP (every CRC checks), stored, holding exactly the manifest's files and bytes.
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert z.testzip() is None
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        names = z.namelist()
        assert names[0] == "manifest.json"
        assert json.loads(z.read("manifest.json")) == pack["manifest"]
        assert sorted(names[1:]) == sorted(f["path"] for f in pack["manifest"]["files"])
        for f in pack["manifest"]["files"]:
            assert sha256(z.read(f["path"])) == f["sha256"], f["path"]
        assert z.read("attachments/03-练习单.pdf") == pack["worksheet"]


def mirror(server, token, folder, *extra, timeout=120):
    # "--token=…": a token may begin with "-", which a separate argument would turn into an option.
    return subprocess.run([str(BINARY), "mirror", "--server", server, "--token=" + token, "--dir", str(folder), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def report(run):
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def objects(folder: Path):
    return {p.name: p.stat().st_ino for p in (folder / "objects").glob("??/*") if len(p.name) == 64}


def test_mirror_survives_a_kill_and_repairs_damage(server, pack, tmp_path):
    manifest = pack["manifest"]
    folder = tmp_path / "mirror"
    unique = {f["sha256"] for f in manifest["files"]}
    visible = folder / "packs" / str(pack["id"]) / "v1"

    # Slowed to 2 Mb/s and one file at a time, the first run is killed part way.
    process = subprocess.Popen([str(BINARY), "mirror", "--server", server, "--token", pack["screen"], "--dir", str(folder),
                                "--max-rate", "2Mbps", "--connections", "1"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(objects(folder)) < 3:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    held = objects(folder)
    partial = sum(p.stat().st_size for p in (folder / "partial").glob("*"))
    assert 3 <= len(held) < len(unique), "killed mid-transfer"
    assert not visible.exists(), "a half-synced version must not be visible"
    for name in held:
        assert file_sha256(folder / "objects" / name[:2] / name) == name, "only verified files enter the store"

    # The second run completes without fetching again what was verified.
    second = report(mirror(server, pack["screen"], folder))
    assert second["complete"] and second["versionsPublished"] == 1
    assert second["reused"] == len(held)
    assert second["downloaded"] == len(unique) - len(held)
    # Byte-level resume: the bytes of the file cut off mid-way are not fetched again.
    missing = sum({f["sha256"]: f["size"] for f in manifest["files"] if f["sha256"] not in held}.values())
    assert second["receivedBytes"] == missing - partial
    assert second["resumed"] == (1 if partial else 0)
    after = objects(folder)
    assert all(after[name] == inode for name, inode in held.items()), "verified files were not downloaded again"
    for f in manifest["files"]:
        assert file_sha256(visible / f["path"]) == f["sha256"], f["path"]
    assert json.loads((visible / "manifest.json").read_text()) == manifest

    # Nothing to do when nothing changed.
    third = report(mirror(server, pack["screen"], folder))
    assert third["downloaded"] == 0 and third["versionsPublished"] == 0

    # A damaged file (a written byte) is noticed, fetched again and the version rebuilt.
    segment = next(f for f in manifest["files"] if f["path"].endswith("seg_00001.m4s"))
    target = visible / segment["path"]
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    repaired = report(mirror(server, pack["screen"], folder))
    assert repaired["repaired"] == 1 and repaired["downloaded"] == 1
    assert file_sha256(visible / segment["path"]) == segment["sha256"]

    # Damage that keeps the file's size and time is found by --verify.
    stat = target.stat()
    with open(target, "r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    quick = report(mirror(server, pack["screen"], folder))
    assert quick["repaired"] == 0
    verified = report(mirror(server, pack["screen"], folder, "--verify"))
    assert verified["repaired"] == 1
    assert file_sha256(visible / segment["path"]) == segment["sha256"]


def test_a_mirror_of_another_district_gets_nothing(server, pack, tmp_path):
    stranger = api_token(server, "liuhe-teacher")
    run = report(mirror(server, stranger, tmp_path / "elsewhere"))
    assert run["packs"] == 0 and run["files"] == 0
    assert requests.get(f"{server}/api/v1/packs/{pack['id']}/versions/1/zip", headers=auth(stranger)).status_code == 403
    bad = mirror(server, "not-a-token", tmp_path / "bad")
    assert bad.returncode != 0 and "401" in bad.stderr


def test_token_command_export_import_and_lan_serving(county, server, pack, tmp_path, browser):
    token = subprocess.run([str(BINARY), "token", "classroom", "--days", "30", *county.arguments], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / "school"
    assert report(mirror(server, token, folder))["complete"]

    # Export to a "USB stick", import on a machine with no link.
    stick = tmp_path / "usb"
    subprocess.run([str(BINARY), "mirror", "export", "--dir", str(folder), "--pack", str(pack["id"]), "--to", str(stick)],
                   cwd=ROOT, check=True, capture_output=True)
    offline = tmp_path / "offline"
    damaged = stick / pack["manifest"]["files"][-1]["path"]
    original = damaged.read_bytes()
    damaged.write_bytes(b"x" + original[1:])
    refused = subprocess.run([str(BINARY), "mirror", "import", "--dir", str(offline), "--from", str(stick)], cwd=ROOT,
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "do not match" in refused.stderr
    assert not (offline / "packs" / str(pack["id"]) / "v1").exists()
    damaged.write_bytes(original)
    subprocess.run([str(BINARY), "mirror", "import", "--dir", str(offline), "--from", str(stick)], cwd=ROOT, check=True,
                   capture_output=True)
    for f in pack["manifest"]["files"]:
        assert file_sha256(offline / "packs" / str(pack["id"]) / "v1" / f["path"]) == f["sha256"]

    # The mirror served read-only on the LAN by the lean executable: no database, no FFmpeg.
    port = free_port()
    lan = subprocess.Popen([str(MIRROR_BINARY), "serve", "--dir", str(offline), "--port", str(port)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_up(base)
        maps = Path(f"/proc/{lan.pid}/maps").read_text()
        assert "libavcodec" not in maps and "libsqlite3" not in maps, "the mirror's server links neither FFmpeg nor SQLite"
        index = requests.get(base + "/")
        assert "三年级语文 荷花（桥头小学版）" in index.text
        page = requests.get(f"{base}/packs/{pack['id']}")
        assert "先朗读，再观察图片。" in page.text and "data-master" in page.text and "练习单.pdf" in page.text
        master = requests.get(f"{base}/files/{pack['id']}/v1/items/01/master.m3u8")
        assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text
        worksheet = requests.get(f"{base}/files/{pack['id']}/v1/attachments/03-练习单.pdf", headers={"Range": "bytes=100-199"})
        assert worksheet.status_code == 206 and worksheet.content == pack["worksheet"][100:200]
        assert requests.post(f"{base}/api/v1/packs", json={}).status_code in (404, 405)
        assert requests.get(f"{base}/files/{pack['id']}/v1/../../../verified.log").status_code == 404
        # A classroom plays the lesson from the mirror with the same player, through MSE too.
        for mode in ("", "?player=mse"):
            browser.get(f"{base}/packs/{pack['id']}{mode}")
            browser.execute_script("const v = document.querySelector('video'); v.muted = true; v.play();")
            WebDriverWait(browser, 30, poll_frequency=0.1).until(
                lambda b: b.execute_script("return document.querySelector('video').currentTime") > 1.0)
            assert ("MSE" if mode else "HLS") in browser.find_element("css selector", ".playing").text
    finally:
        lan.terminate()
        lan.wait(timeout=10)

    # `lessonlink serve --mirror` stays as another way to the same site.
    port = free_port()
    alias = subprocess.Popen([str(BINARY), "serve", "--mirror", str(offline), "--http-port", str(port)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}")
        assert "三年级语文 荷花（桥头小学版）" in requests.get(f"http://127.0.0.1:{port}/").text
    finally:
        alias.terminate()
        alias.wait(timeout=10)


def test_pages_build_publish_and_download(server, browser, pack):
    from conftest import sign_in
    from test_pages import text, wait

    # The lead school's teacher builds a pack on the web pages and publishes it.
    sign_in(browser, server, "teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    browser.get(server + "/packs")
    form = wait(browser, lambda b: b.find_element("id", "new-pack") if b.find_element("id", "new-pack").is_displayed() else None)
    browser.find_element("id", "pack-title").send_keys("网页做的资源包 荷花")
    form.find_element("css selector", "button").click()
    wait(browser, lambda b: "/packs/" in b.current_url and b.find_elements("id", "pack-form"))
    target = wait(browser, lambda b: next((l for l in b.find_elements("css selector", "#targets label") if "桥头小学" in l.text), None))
    target.find_element("css selector", "input").click()
    browser.find_element("id", "notes").send_keys("下午第二节课用，注意生字。")
    old = browser.find_element("id", "pack-form")
    old.find_element("css selector", "button[type=submit]").click()
    WebDriverWait(browser, 20).until(gone(old))  # saved, and the page reloaded
    wait(browser, lambda b: b.find_elements("id", "add-recording") and "注意生字" in b.find_element("id", "notes").get_attribute("value"))
    select = browser.find_element("id", "recording")
    option = next(o for o in select.find_elements("css selector", "option") if "资源包测试" in o.text)
    option.click()
    browser.find_element("css selector", "#add-recording button[type=submit]").click()
    wait(browser, lambda b: "资源包测试" in text(b, "#items"))
    browser.find_element("id", "publish").click()
    assert wait(browser, lambda b: "已发布第1版" in text(b, "#publish-status"), seconds=60)
    pack_url = browser.current_url

    # A member school's teacher finds it, reads the notes, plays the lesson and downloads the ZIP.
    browser.delete_all_cookies()
    sign_in(browser, server, "member-teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    browser.get(server + "/packs")
    link = wait(browser, lambda b: next((a for a in b.find_elements("css selector", "#packs a") if a.text == "网页做的资源包 荷花"), None))
    link.click()
    wait(browser, lambda b: b.current_url == pack_url)
    assert wait(browser, lambda b: "下午第二节课用，注意生字。" in text(b, "#pack"))
    assert "王丽老师" in text(browser, "#pack")
    browser.execute_script("const v = document.querySelector('#pack video'); v.muted = true; v.play();")
    assert wait(browser, lambda b: b.execute_script("return document.querySelector('#pack video').currentTime") > 1.0, seconds=30)
    status = browser.execute_script(
        "return fetch(document.querySelector('#download').href).then(r => [r.status, r.headers.get('content-type'), r.headers.get('content-length')])")
    assert status[0] == 200 and status[1] == "application/zip" and int(status[2]) > 100_000
