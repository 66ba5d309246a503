"""Synchronized sessions (同步课堂) in Chromium: three classroom screens — two on the browser's
own HLS, one on LessonLink's MSE player — join one session at different times and stay in step
with the server's clock through a host's pause, resume and seek and one screen's dropped link;
the host page shows the classrooms and a raised hand; a cancelled session clears the screen.

The lesson is longer than other fixtures (100 s at 360p): the session has to run long enough to
settle, pause, seek and lose a link."""
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import api_token, chromium, ready_lesson, sign_in
from test_pages import text, wait

SETTLED = 0.25  # seconds: every classroom within this of the clock after settling


@pytest.fixture(scope="module")
def lesson(server):
    return ready_lesson(server, "同步课堂测试 秋天的雨", seconds=100)


class Host:
    """The lead-school teacher, over the API."""

    def __init__(self, server):
        self.server = server
        self.headers = {"Authorization": "Bearer " + api_token(server, "teacher")}
        self.school = next(s["id"] for s in requests.get(server + "/api/v1/schools", headers=self.headers).json()["items"]
                           if s["name"] == "桥头小学")

    def schedule(self, recording, starts_in, title="同步课堂测试"):
        starts = (datetime.now(timezone.utc) + timedelta(seconds=starts_in)).isoformat()
        response = requests.post(self.server + "/api/v1/sync-sessions", headers=self.headers, json={
            "title": title, "recordingId": recording, "startsAt": starts, "schoolIds": [self.school]})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def control(self, session, action, position=None):
        body = {"action": action} if position is None else {"action": action, "position": position}
        response = requests.post(f"{self.server}/api/v1/sync-sessions/{session}/control", headers=self.headers, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, session, what):
        return requests.get(f"{self.server}/api/v1/sync-sessions/{session}/{what}", headers=self.headers).json()


def kiosk(server, username, mse=False):
    driver = chromium("--autoplay-policy=no-user-gesture-required", size="800,500")
    driver.get(server + "/login?next=" + requests.utils.quote("/classroom" + ("?player=mse" if mse else ""), safe=""))
    driver.find_element("name", "username").send_keys(username)
    driver.find_element("name", "password").send_keys("demo-password")
    driver.find_element("css selector", "#login button").click()
    wait(driver, lambda b: "/classroom" in b.current_url)
    return driver


def player(driver, script):
    return driver.execute_script("const s = window.sessionPlayer; if (!s) return null; " + script)


def offset(driver):
    """The player's own offset from the session clock, as it reports it (seconds)."""
    return player(driver, "return s.follower.offsetNow();")


def settle(screens, seconds=40):
    """Waits until every screen has stayed within SETTLED of the clock for 2 s; returns the offsets."""
    deadline = time.monotonic() + seconds
    steady_since = None
    while time.monotonic() < deadline:
        offsets = [offset(s) for s in screens]
        playing = all(player(s, "return !s.video.paused;") for s in screens)
        if playing and all(o is not None and abs(o) <= SETTLED for o in offsets):
            steady_since = steady_since or time.monotonic()
            if time.monotonic() - steady_since >= 2:
                return offsets
        else:
            steady_since = None
        time.sleep(0.1)
    states = [player(s, "const v = s.video; return {paused: v.paused, error: v.error && v.error.message, "
                        "ready: v.readyState, syncing: s.follower.syncing, time: v.currentTime, log: window.sessionLog};") for s in screens]
    raise AssertionError(f"not in step: offsets {[offset(s) for s in screens]}, players {states}")


def within(seconds, condition):
    """How long `condition` took to hold (it must within `seconds`)."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if condition():
            return time.monotonic() - began
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


def test_three_classrooms_stay_in_step(server, lesson):
    host = Host(server)
    session = host.schedule(lesson, starts_in=12)
    screens = []
    try:
        native_a = kiosk(server, "classroom")
        mse = kiosk(server, "classroom2", mse=True)
        screens += [native_a, mse]
        # Waiting for the start: the countdown, no player yet.
        wait(native_a, lambda b: b.execute_script("return document.body.dataset.kiosk") == "scheduled", 20)
        assert "距开始" in text(native_a, "#kiosk-status")
        # The third classroom comes late: it must start where everyone is, not at 0.
        wait(native_a, lambda b: (player(b, "return s.video.currentTime;") or 0) > 6, 40)
        native_b = kiosk(server, "classroom3")
        screens.append(native_b)
        wait(native_b, lambda b: (player(b, "return s.video.currentTime;") or 0) > 6, 30)
        offsets = settle(screens)
        assert player(native_a, "return s.player.mode;") == "native"
        assert player(native_b, "return s.player.mode;") == "native"
        assert player(mse, "return s.player.mode;") == "mse"
        print("settled offsets (s):", [round(o, 3) for o in offsets])

        # Pause: every screen paused within 1 s, at the clock's position.
        host.control(session, "pause")
        took = within(1.0, lambda: all(player(s, "return s.video.paused;") for s in screens))
        print(f"paused everywhere within {took:.2f} s")
        time.sleep(1.5)
        paused_at = host.get(session, "clock")["position"]
        for screen in screens:
            assert abs(player(screen, "return s.video.currentTime;") - paused_at) < 0.3

        # Resume: playing everywhere within 1 s, then in step again.
        host.control(session, "play")
        took = within(1.0, lambda: all(not player(s, "return s.video.paused;") for s in screens))
        print(f"resumed everywhere within {took:.2f} s")
        settle(screens)

        # Seek: everyone jumps to the new place within 1 s, then in step again.
        host.control(session, "seek", 50)
        took = within(1.0, lambda: all(abs(player(s, "return s.video.currentTime;") - 50) < 3 for s in screens))
        print(f"seeked everywhere within {took:.2f} s")
        settle(screens)

        # One classroom's link drops for 5 s (DevTools network conditions), then comes back.
        native_b.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        time.sleep(5)
        native_b.delete_network_conditions()
        offsets = settle(screens)
        print("offsets after the dropped link (s):", [round(o, 3) for o in offsets])

        # The players' own reports reach the server: the roster shows all three, connected.
        time.sleep(3.5)
        roster = host.get(session, "roster")["classrooms"]
        assert len(roster) == 3
        assert all(r["connected"] and r["offset"] is not None and abs(r["offset"]) <= SETTLED for r in roster), roster
        assert {r["tier"] for r in roster} == {"360p"}

        host.control(session, "end")
        for screen in screens:
            wait(screen, lambda b: b.execute_script("return document.body.dataset.kiosk") == "ended", 5)
            assert text(screen, "#kiosk-status") == "本节同步课堂已结束"
        report = host.get(session, "attendance")
        assert report["present"] == 3 and report["absent"] == 0, report
        # Every screen played part of it, all in 360p (the only tier of this lesson); the one that
        # came late played less than the first.
        watched = {r["classroom"]: r["tierSeconds"].get("360p", 0) for r in report["classrooms"]}
        assert all(r["minutesWatched"] > 0 for r in report["classrooms"]) and min(watched.values()) > 3, watched
        assert watched["教室3"] < watched["教室1"], watched
    finally:
        for screen in screens:
            screen.quit()


def test_host_page_sees_a_raised_hand_and_a_cancelled_session_clears_the_screen(server, lesson, browser):
    host = Host(server)
    session = host.schedule(lesson, starts_in=4, title="举手测试")
    screen = kiosk(server, "classroom")
    try:
        sign_in(browser, server, "teacher")
        wait(browser, lambda b: b.current_url.rstrip("/") == server)
        browser.get(f"{server}/sessions/{session}")
        wait(browser, lambda b: len(b.find_elements("css selector", "#roster tr[data-classroom]")) == 3)
        # The screen plays, shows up as connected with its tier, and raises a hand.
        wait(screen, lambda b: (player(b, "return s.video.currentTime;") or 0) > 1, 30)
        wait(browser, lambda b: b.execute_script(
            "return [...document.querySelectorAll('#roster tr[data-connected=yes] td.tier')].map((t) => t.textContent);") == ["360p"], 10)
        screen.find_element("id", "hand").click()
        wait(browser, lambda b: "举手" in text(b, "#questions"), 5)
        screen.find_element("css selector", "#ask input").send_keys("秋雨为什么是凉的？")
        screen.find_element("css selector", "#ask button").click()
        wait(browser, lambda b: "秋雨为什么是凉的？" in text(b, "#questions"), 5)
        # The host page's own controls reach the screen.
        browser.find_element("id", "pause").click()
        wait(screen, lambda b: player(b, "return s.video.paused;"), 3)
        wait(screen, lambda b: text(b, "#kiosk-status").startswith("已暂停"), 1)
        browser.find_element("id", "end").click()
        wait(screen, lambda b: b.execute_script("return document.body.dataset.kiosk") == "ended", 5)
        # The attendance table: this screen present, the school's two other classrooms absent.
        wait(browser, lambda b: b.execute_script("return document.querySelector('#attendance').dataset.present") == "1", 10)
        assert len(browser.find_elements("css selector", "#attendance tr[data-present=no]")) == 2

        # A session cancelled while the classroom waits for it: a clear screen, then waiting again.
        wait(screen, lambda b: b.execute_script("return document.body.dataset.kiosk") in ("idle", "scheduled"), 15)
        later = host.schedule(lesson, starts_in=120, title="将被取消")
        screen.refresh()
        wait(screen, lambda b: b.execute_script("return document.body.dataset.session") == str(later), 20)
        assert "距开始" in text(screen, "#kiosk-status")
        # The sessions page, narrowed to the member school, lists it as upcoming.
        browser.get(f"{server}/sessions?schoolId={host.school}")
        wait(browser, lambda b: "将被取消" in text(b, "#sessions-upcoming"))
        # The host moves its start by the edit form; the waiting screen's countdown follows at once.
        browser.get(f"{server}/sessions/{later}")
        wait(browser, lambda b: b.find_elements("css selector", "#edit"))
        browser.execute_script(
            "const f = document.querySelector('#edit'); const d = new Date(Date.now() + 600000);"
            "f.startsAt.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);"
            "f.requestSubmit();")
        wait(screen, lambda b: text(b, "#kiosk-status").startswith("距开始 00:0") and int(text(b, "#kiosk-status")[-5:-3]) >= 8, 5)
        # Cancelled from the host page while the screen waits: a clear screen.
        wait(browser, lambda b: b.find_elements("css selector", "#edit"))
        browser.find_element("id", "cancel").click()
        wait(screen, lambda b: text(b, "#kiosk-status") == "本节同步课堂已取消", 5)
        csv = requests.get(f"{server}/api/v1/sync-sessions/{session}/attendance?format=csv", headers=host.headers)
        assert csv.content.startswith("\ufeff学校,教室,出勤".encode())
    finally:
        screen.quit()


def test_session_events_stream_delivers_a_control_at_once(server, lesson):
    """The event stream over plain HTTP: the clock at once, then a host's pause with its revision."""
    host = Host(server)
    session = host.schedule(lesson, starts_in=3600, title="事件流")
    screen = {"Authorization": "Bearer " + api_token(server, "classroom")}
    try:
        with requests.get(f"{server}/api/v1/sync-sessions/{session}/events", headers=screen, stream=True, timeout=10) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            lines = stream.iter_lines(decode_unicode=True)
            events = []

            def next_event():
                name = None
                for line in lines:
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        return name, json.loads(line[6:])

            events.append(next_event())
            assert events[0][0] == "clock" and events[0][1]["state"] == "scheduled"
            sent = time.monotonic()
            host.control(session, "play")
            name, clock = next_event()
            assert name == "clock" and clock["state"] == "running" and clock["revision"] == events[0][1]["revision"] + 1
            assert time.monotonic() - sent < 1.0
            # The screen counts as joined while its stream is open.
            assert any(r["connected"] for r in host.get(session, "roster")["classrooms"])
    finally:
        host.control(session, "end")
