"""The web pages in a real browser: sign in, search, upload (with pause, resume and an offline
spell), and a recording's page."""
import os
import tempfile
import time
from pathlib import Path

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

from conftest import api_token, make_clip, sign_in, upload_via_api


def wait(browser, condition, seconds=20):
    return WebDriverWait(browser, seconds, poll_frequency=0.1).until(lambda driver: condition(driver))


def text(browser, selector):
    """The element's text, or "" while it is missing (or replaced by a page reload)."""
    try:
        elements = browser.find_elements("css selector", selector)
        return elements[0].text if elements else ""
    except StaleElementReferenceException:
        return ""


def test_wrong_password_is_explained_then_sign_in_works(server, browser):
    sign_in(browser, server, password="wrong")
    assert wait(browser, lambda b: text(b, "#message")) == "wrong username or password"
    sign_in(browser, server)
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    assert wait(browser, lambda b: "王丽老师" in text(b, "header .who"))


def nav_links(browser):
    """The header links the page shows (hidden ones excluded)."""
    return [a.text for a in browser.find_elements("css selector", "header a") if a.is_displayed()]


@pytest.mark.parametrize("username, shown, absent", [
    ("teacher", ["上传", "资源包", "同步课堂"], ["课堂屏幕"]),
    ("classroom", ["资源包", "课堂屏幕"], ["上传", "同步课堂"]),
    ("reviewer", [], ["上传", "资源包", "同步课堂", "课堂屏幕"]),
])
def test_navigation_shows_what_the_role_can_use(server, browser, username, shown, absent):
    sign_in(browser, server, username)
    # A classroom screen signs in to its kiosk; the catalog is one click away.
    home = server + ("/classroom" if username == "classroom" else "")
    wait(browser, lambda b: b.current_url.rstrip("/") == home)
    browser.get(server + "/")
    wait(browser, lambda b: text(b, "header .who"))
    links = nav_links(browser)
    assert all(link in links for link in shown), links
    assert not any(link in links for link in absent), links


def test_catalog_is_protected(server, browser):
    browser.get(server + "/")
    wait(browser, lambda b: "/login" in b.current_url)
    # Sent to sign in, and back to the catalog afterwards; the API behind it says 401 meanwhile.
    assert "next=%2F" in browser.current_url
    assert requests.get(server + "/api/v1/recordings").status_code == 401


def test_search_in_chinese_finds_a_lesson(server, browser):
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        make_clip(clip)
        upload_via_api(server, api_token(server), clip.read_bytes(), "秋天的雨 公开课")
    sign_in(browser, server, "teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    box = wait(browser, lambda b: b.find_element("name", "q"))
    box.send_keys("秋天")
    browser.find_element("css selector", "#search button").click()
    assert wait(browser, lambda b: "秋天的雨 公开课" in text(b, "#results"))
    box.clear()
    box.send_keys("没有这样的课")
    browser.find_element("css selector", "#search button").click()
    assert wait(browser, lambda b: "没有找到课例" in text(b, "#results"))


def test_upload_page_with_pause_resume_and_an_offline_spell(server, browser):
    sign_in(browser, server, "teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    with tempfile.TemporaryDirectory() as folder:
        # 24 MiB of non-media: three 8 MiB chunks; processing will reject it, which the page shows.
        path = Path(folder) / "lesson-notes.bin"
        path.write_bytes(os.urandom(24 << 20))
        browser.get(server + "/upload")
        wait(browser, lambda b: len(b.find_elements("css selector", "#volume option")) > 1)
        browser.find_element("id", "file").send_keys(str(path))
        browser.find_element("id", "title").send_keys("断点续传测试")
        # A slow link, so there is time to pause and to drop the connection.
        browser.set_network_conditions(latency=5, download_throughput=8 << 20, upload_throughput=6 << 20)
        browser.find_element("css selector", "#upload button[type=submit]").click()
        bar = lambda b: float(b.find_element("id", "progress").get_attribute("value") or 0)
        wait(browser, lambda b: bar(b) > 0)
        browser.find_element("id", "pause").click()
        assert wait(browser, lambda b: text(b, "#status") == "已暂停")
        paused_at = bar(browser)
        browser.find_element("id", "pause").click()  # 继续
        wait(browser, lambda b: bar(b) > paused_at)
        # The link drops: the page retries by itself and finishes once it is back.
        browser.set_network_conditions(offline=True, latency=5, download_throughput=1, upload_throughput=1)
        assert wait(browser, lambda b: "自动续传" in text(b, "#status"), seconds=30)
        browser.set_network_conditions(latency=5, download_throughput=8 << 20, upload_throughput=64 << 20)
        assert wait(browser, lambda b: text(b, "#status") == "上传完成，正在处理。", seconds=90)
        assert text(browser, "#percent") == "100%"
    # The server has the whole file; the recording page shows why it cannot be used.
    token = api_token(server)
    headers = {"Authorization": "Bearer " + token}
    recording = requests.get(server + "/api/v1/recordings?q=断点续传", headers=headers).json()["items"][0]
    for _ in range(200):
        if recording["state"] != "uploading":
            break
        time.sleep(0.1)
        recording = requests.get(server + f"/api/v1/recordings/{recording['id']}", headers=headers).json()
    # Every byte arrived despite the pause and the offline spell.
    assert recording.get("sourceSize") == 24 << 20
    browser.get(server + f"/recordings/{recording['id']}")
    assert wait(browser, lambda b: text(b, "#state") == "失败", seconds=30)
    assert "not a recognised audio or video file" in text(browser, "#failure")


def test_someone_elses_draft_is_not_shown(server, browser):
    token = api_token(server, "teacher")
    upload_via_api(server, token, b"not a video", "草稿")
    listing = requests.get(server + "/api/v1/recordings?state=failed", headers={"Authorization": "Bearer " + token}).json()
    draft = listing["items"][0]["id"]
    sign_in(browser, server, "member-teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    browser.get(server + f"/recordings/{draft}")
    assert wait(browser, lambda b: "没有这个课例" in text(b, "#recording"))
