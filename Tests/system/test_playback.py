"""Playback in Chromium: a lesson uploaded through the API, transcoded by the worker, played on
its page through the browser's own HLS and through LessonLink's MSE player, with a tier switch."""
from pathlib import Path

import pytest
import requests

from conftest import api_token, ready_lesson, sign_in
from test_pages import wait


@pytest.fixture(scope="module")
def lesson(server):
    """A 12 s 854x480 lesson, so the ladder has two video tiers (480p, 360p)."""
    return ready_lesson(server, "播放测试 两个清晰度", size="854x480")


def video(browser, script):
    return browser.execute_script("const v = document.querySelector('#player'); " + script)


@pytest.mark.parametrize("mode", ["native", "mse"])
def test_lesson_plays_and_switches_tier(server, browser, lesson, mode):
    sign_in(browser, server, "teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    browser.get(f"{server}/recordings/{lesson}" + ("?player=mse" if mode == "mse" else ""))
    wait(browser, lambda b: video(b, "return v && v.dataset.mode") == mode, 30)
    assert video(browser, "return document.querySelector('#tier').options.length") == 3  # auto, 480p, 360p
    video(browser, "v.muted = true; v.play();")
    wait(browser, lambda b: video(b, "return v.currentTime") > 1.0, 30)
    if mode == "mse":
        assert video(browser, "return v.videoHeight") == 480, "a teacher's desk (no classroom link) starts at the top tier"

    browser.execute_script("const s = document.querySelector('#tier'); s.value = '360p'; s.dispatchEvent(new Event('change'));")
    wait(browser, lambda b: video(b, "return v.videoHeight") == 360, 30)
    before = video(browser, "return v.currentTime")
    wait(browser, lambda b: video(b, "return v.currentTime") > before + 1.0, 30)
    assert video(browser, "return v.error") is None


def test_catalog_lists_the_poster_duration_and_textbook(server, browser, lesson):
    token = api_token(server)
    headers = {"Authorization": "Bearer " + token}
    # Give the lesson its place in a textbook, as a teacher would on the upload page.
    volume = requests.get(server + "/api/v1/textbook-volumes", headers=headers).json()["items"][0]
    lesson_of_volume = requests.get(f"{server}/api/v1/textbook-volumes/{volume['id']}", headers=headers).json()["lessons"][0]
    edited = requests.patch(f"{server}/api/v1/recordings/{lesson}", json={"lessonId": lesson_of_volume["id"]}, headers=headers)
    assert edited.status_code == 200, edited.text

    sign_in(browser, server, "teacher")
    wait(browser, lambda b: b.current_url.rstrip("/") == server)
    box = wait(browser, lambda b: b.find_element("name", "q"))
    box.send_keys("播放测试")
    browser.find_element("css selector", "#search button").click()
    item = "#results li.lesson"
    wait(browser, lambda b: b.find_elements("css selector", item + " img.thumb"))
    # The poster is a real picture the browser decoded, through a signed media link.
    assert wait(browser, lambda b: b.execute_script(
        f"const i = document.querySelector('{item} img.thumb'); return i.complete && i.naturalWidth"), 20) > 0
    poster = browser.find_element("css selector", item + " img.thumb").get_attribute("src")
    assert "/media/" in poster and poster.endswith("/poster.jpg")
    assert browser.find_element("css selector", item + " .duration").text == "0:12"
    textbook = browser.find_element("css selector", item + " .textbook").text
    assert volume["subject"] in textbook and "年级" in textbook and lesson_of_volume["title"] in textbook
    # A screenshot for people to look at (Chinese needs the CJK font the tests install).
    artefacts = Path(__file__).resolve().parents[2] / ".build" / "test-artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(artefacts / "catalog.png"))
