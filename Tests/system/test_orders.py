"""Orders through the real server: the whole loop on the web pages in headless Chromium (the
coordinator's open inbox shows a new order without a reload), the ordering school's mirror
receiving the delivered pack, and the county view's CSV read back by Python's csv module."""
import csv
import io
import json
import subprocess
import time

import requests
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import BINARY, ROOT, api_token, chromium, sign_in


def headers(token):
    return {"Authorization": "Bearer " + token}


def wait(browser, condition, seconds=20):
    return WebDriverWait(browser, seconds, poll_frequency=0.1).until(lambda driver: condition(driver))


def text(browser, selector):
    """An element's text read in the page (the order page re-renders; a held element goes stale)."""
    return browser.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector)


def signed_in(server, username):
    browser = chromium()
    sign_in(browser, server, username)
    wait(browser, lambda d: d.current_url.rstrip("/") == server)
    return browser


def published_pack(server):
    """The lead school's published pack, made for another member school (东关小学)."""
    lead = api_token(server, "teacher")
    schools = requests.get(server + "/api/v1/schools", headers=headers(lead)).json()["items"]
    east = next(s["id"] for s in schools if s["name"] == "东关小学")
    pack = requests.post(server + "/api/v1/packs", json={"title": "四年级英语 自然拼读入门", "notes": "先听后说"}, headers=headers(lead)).json()["id"]
    assert requests.patch(f"{server}/api/v1/packs/{pack}", json={"targets": [{"schoolId": east}]}, headers=headers(lead)).status_code == 200
    sheet = "Phonics 练习单：a /æ/ apple\n".encode()
    attached = requests.post(f"{server}/api/v1/packs/{pack}/attachments", params={"name": "练习单.txt"}, data=sheet, headers=headers(lead))
    assert attached.status_code == 201
    assert requests.post(f"{server}/api/v1/packs/{pack}/publish", headers=headers(lead)).status_code == 201
    return pack


def test_the_whole_loop_on_the_pages_and_the_school_mirror_receives_the_pack(server, county, tmp_path):
    pack = published_pack(server)
    coordinator = signed_in(server, "coordinator")
    school = signed_in(server, "member-teacher")
    try:
        # The coordinator's inbox is open before the order exists.
        coordinator.get(server + "/orders")
        wait(coordinator, lambda d: d.find_element("id", "todo-count").text.isdigit())
        before = int(coordinator.find_element("id", "todo-count").text)

        # 点单 on the page: a topic, the pupils, a needed-by date (the form's default), a file.
        school.get(server + "/orders")
        form = wait(school, lambda d: d.find_element("id", "new-order") if d.find_element("id", "new-order").is_displayed() else None)
        form.find_element("id", "topic").send_keys("自然拼读入门")
        grade = form.find_element("id", "grade")
        grade.clear()
        grade.send_keys("4")
        form.find_element("id", "pupils").send_keys("没有专职英语老师，学生没接触过自然拼读")
        timetable = tmp_path / "课表.txt"
        timetable.write_text("周三下午第二节 英语\n", encoding="utf-8")
        form.find_element("id", "attachment").send_keys(str(timetable))
        form.find_element("css selector", "button[type=submit]").click()
        wait(school, lambda d: "/orders/" in d.current_url and d.find_elements("id", "order-state"))
        order = int(school.current_url.rstrip("/").split("/")[-1])
        assert "待派单" in text(school, "#order-state")

        # The coordinator's page shows it without a reload (Server-Sent Events).
        wait(coordinator, lambda d: d.find_elements("css selector", f"#orders li[data-id='{order}']"))
        assert int(coordinator.find_element("id", "todo-count").text) == before + 1

        # 派单.
        coordinator.get(f"{server}/orders/{order}")
        dispatch = wait(coordinator, lambda d: d.find_element("id", "dispatch"))
        Select(dispatch.find_element("id", "leadSchool")).select_by_visible_text("青山县城关第一小学")
        dispatch.find_element("css selector", "button").click()
        wait(coordinator, lambda d: "待接单" in text(d, "#order-state"))
    finally:
        coordinator.quit()

    # The lead school declines once (its recording classroom is booked); the coordinator dispatches again.
    lead_token, coordinator_token = api_token(server, "teacher"), api_token(server, "coordinator")
    declined = requests.post(f"{server}/api/v1/orders/{order}/decline", json={"reason": "录播教室本周排满"}, headers=headers(lead_token))
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    again = requests.post(f"{server}/api/v1/orders/{order}/dispatch", headers=headers(coordinator_token),
                          json={"leadSchoolId": declined.json()["leadSchool"]["id"], "dueOn": declined.json()["dueOn"]})
    assert again.status_code == 200

    lead = signed_in(server, "teacher")
    try:
        # 接单, naming the teacher (the form's default: me), then deliver the published pack.
        lead.get(f"{server}/orders/{order}")
        wait(lead, lambda d: d.find_element("id", "accept")).find_element("css selector", "button").click()
        deliver = wait(lead, lambda d: d.find_element("id", "deliver"))
        deliver.find_element("css selector", f"input[name=pack][value='{pack}/1']").click()
        deliver.find_element("css selector", "button").click()
        wait(lead, lambda d: "待评价" in text(d, "#order-state"))
    finally:
        lead.quit()

    try:
        # 评单.
        school.get(f"{server}/orders/{order}")
        rate = wait(school, lambda d: d.find_element("id", "rate"))
        Select(rate.find_element("id", "quality")).select_by_value("4")
        rate.find_element("id", "comment").send_keys("很适合我们学校的学生")
        rate.find_element("css selector", "button").click()
        wait(school, lambda d: "已评价" in text(d, "#order-state"))
        assert "适配度 5 · 质量 4 · 及时 5" in school.find_element("id", "rating").text
        steps = school.find_element("id", "order-history").text
        for state in ["待派单", "待接单", "制作中", "待评价", "已评价"]:
            assert state in steps
    finally:
        school.quit()

    # The history, through the API; the attachment came along.
    token = api_token(server, "member-teacher")
    detail = requests.get(f"{server}/api/v1/orders/{order}", headers=headers(token)).json()
    assert [step["action"] for step in detail["history"]] == ["place", "dispatch", "decline", "dispatch", "accept", "deliver", "rate"]
    # The lead school's teachers see what the school said of their delivery.
    delivered = requests.get(server + "/api/v1/orders", params={"role": "lead", "state": "rated"}, headers=headers(lead_token)).json()["items"]
    assert next(item for item in delivered if item["id"] == order)["rating"]["comment"] == "很适合我们学校的学生"
    assert detail["attachments"][0]["name"] == "课表.txt"
    attachment = requests.get(f"{server}/api/v1/orders/{order}/attachments/{detail['attachments'][0]['id']}", headers=headers(token))
    assert attachment.content.decode() == "周三下午第二节 英语\n"

    # The ordering school's mirror (桥头小学's classroom account) receives the delivered pack.
    mirror_token = subprocess.run([str(BINARY), "token", "classroom", "--days", "1", *county.arguments], cwd=ROOT,
                                  capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / "mirror"
    run = subprocess.run([str(BINARY), "mirror", "--server", server, "--token=" + mirror_token, "--dir", str(folder)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    version = folder / "packs" / str(pack) / "v1"
    sheets = [p for p in version.rglob("*") if p.name.endswith("练习单.txt")]
    assert sheets and sheets[0].read_text(encoding="utf-8") == "Phonics 练习单：a /æ/ apple\n", [str(p) for p in folder.rglob("*")][:20]
    # The shared server's classroom mirrors belong to the pack tests next: this pack goes away.
    assert requests.delete(f"{server}/api/v1/packs/{pack}", headers=headers(lead_token)).status_code == 204


def test_county_view_and_its_csv_for_excel(server):
    admin = api_token(server, "county-admin")
    report = requests.get(server + "/api/v1/orders/stats", headers=headers(admin)).json()
    # The demo county's term of orders: every state, every district.
    assert report["orders"] >= 200 and len(report["byDistrict"]) == 6
    assert report["rated"] > 0 and report["open"] > 0 and report["ratingsByLeadSchool"]
    response = requests.get(server + "/api/v1/orders/stats", params={"format": "csv"}, headers=headers(admin))
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf"), "a byte-order mark, so Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0][:4] == ["编号", "学校", "学区", "教材或专题"]
    # The view is refreshed in the background after a change; the CSV is read fresh.
    for _ in range(50):
        if report["orders"] == len(rows) - 1:
            break
        time.sleep(0.1)
        report = requests.get(server + "/api/v1/orders/stats", headers=headers(admin)).json()
    assert len(rows) - 1 == report["orders"]
    states = {row[8] for row in rows[1:]}
    assert {"placed", "dispatched", "accepted", "delivered", "rated", "cancelled"} <= states
    assert sum(1 for row in rows[1:] if row[14] == "是") == report["overdue"]
    assert requests.get(server + "/api/v1/orders/stats", headers=headers(api_token(server, "coordinator"))).status_code == 403


def test_county_page_draws_its_charts(server):
    browser = signed_in(server, "county-admin")
    try:
        browser.get(server + "/orders/county")
        wait(browser, lambda d: d.find_elements("css selector", "svg.chart rect"))
        assert "全县点单情况" in browser.find_element("css selector", "#county h1").text
        assert len(browser.find_elements("css selector", "svg.chart")[0].find_elements("css selector", "rect")) == 6
        assert browser.find_element("id", "csv").get_attribute("href").endswith("/api/v1/orders/stats?format=csv")
        artefacts = ROOT / ".build" / "test-artefacts"
        artefacts.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(artefacts / "orders-county.png"))
    finally:
        browser.quit()
