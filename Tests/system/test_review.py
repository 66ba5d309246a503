"""Review, coverage and the 支教 certificate through the real server: reviewer pages in Chromium,
the certificate checked by an independent implementation (rfc8785, cryptography, base58 from
PyPI), the printable page's QR code read back with zbarimg, and offline verification."""
import base64
import copy
import gzip
import hashlib
import json
import subprocess
import time
from pathlib import Path

import base58
import pytest
import requests
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from selenium.webdriver.support.ui import WebDriverWait

from conftest import BINARY, ROOT, api_token, chromium, ready_lesson, sign_in

ARTEFACTS = ROOT / ".build" / "test-artefacts"
SCORES = {"教学目标": 5, "内容准确": 5, "教学设计": 4, "讲解与板书": 4, "音视频质量": 4}


def headers(token):
    return {"Authorization": "Bearer " + token}


@pytest.fixture(scope="module")
def tea_volume(server):
    """The demo county's school-based volume (two new-course lessons and a practice lesson), with
    the lead-school teacher's recording of each new-course lesson, ready."""
    token = api_token(server)
    editions = requests.get(server + "/api/v1/textbooks", headers=headers(token)).json()["items"]
    volume = next(v for e in editions if e["edition"] == "青山县校本课程" for v in e["volumes"])
    tree = requests.get(f"{server}/api/v1/textbooks/{volume['id']}", headers=headers(token)).json()
    lessons = [lesson for unit in tree["units"] for lesson in unit["lessons"]]
    assert [lesson["newCourse"] for lesson in lessons] == [True, True, False]
    recordings = []
    for lesson in lessons[:2]:
        recording = ready_lesson(server, "家乡的茶 " + lesson["title"], size="320x180", seconds=4)
        edited = requests.patch(f"{server}/api/v1/recordings/{recording}", json={"lessonId": lesson["id"]}, headers=headers(token))
        assert edited.status_code == 200
        recordings.append(recording)
    return {"volume": volume["id"], "recordings": recordings}


def wait(browser, condition, seconds=20):
    return WebDriverWait(browser, seconds, poll_frequency=0.1).until(lambda driver: condition(driver))


def test_reviewer_watches_comments_on_the_timeline_scores_and_approves(server, tea_volume):
    teacher = api_token(server)
    batch = requests.post(f"{server}/api/v1/textbook-volumes/{tea_volume['volume']}/review", headers=headers(teacher))
    assert batch.status_code == 200 and len(batch.json()["submitted"]) == 2
    # A reviewer of the teacher's own school could not review it; the county reviewer can.
    browser = chromium()
    try:
        sign_in(browser, server, "reviewer")
        wait(browser, lambda d: d.current_url.rstrip("/") == server)
        browser.get(server + "/reviews")
        items = wait(browser, lambda d: d.find_elements("css selector", "#queue li.submission"))
        titles = [item.text for item in items]
        assert any("家乡的茶 认识茶树" in title for title in titles)
        target = next(item for item in items if "家乡的茶 认识茶树" in item.text)
        target.find_element("css selector", "a.button").click()
        wait(browser, lambda d: "/review/" in d.current_url)
        # The lesson plays.
        wait(browser, lambda d: d.execute_script("const v = document.querySelector('#player'); return v && v.readyState >= 2"))
        state = browser.find_element("css selector", "#review-state").text
        assert "县级审核中" in state
        # A comment at 1.5 s: a mark on the timeline; clicking it seeks the player there.
        browser.execute_script("const v = document.querySelector('#player'); v.pause(); v.currentTime = 1.5;")
        wait(browser, lambda d: abs(d.execute_script("return document.querySelector('#player').currentTime") - 1.5) < 0.1)
        browser.find_element("id", "comment-body").send_keys("这里的板书字太小，后排看不清")
        browser.find_element("css selector", "#comment-form button").click()
        mark = wait(browser, lambda d: d.find_elements("css selector", "#timeline .mark"))[0]
        assert float(mark.get_attribute("data-position")) == pytest.approx(1.5, abs=0.1)
        assert "这里的板书字太小" in browser.find_element("id", "threads").text
        browser.execute_script("document.querySelector('#player').currentTime = 3.5")
        mark.click()
        wait(browser, lambda d: abs(d.execute_script("return document.querySelector('#player').currentTime") - 1.5) < 0.6)
        # A district colleague replies in the thread.
        colleague = api_token(server, "member-teacher")
        thread = requests.get(f"{server}/api/v1/recordings/{tea_volume['recordings'][0]}/comments", headers=headers(colleague)).json()["items"][0]
        reply = requests.post(f"{server}/api/v1/recordings/{tea_volume['recordings'][0]}/comments",
                              json={"parentId": thread["id"], "body": "我们学校也遇到过"}, headers=headers(colleague))
        assert reply.status_code == 201
        # Scores on the rubric, then approve: on to the city office.
        for key, score in SCORES.items():
            browser.find_element("id", "score-" + key).send_keys(str(score))
        browser.find_element("id", "approve").click()
        wait(browser, lambda d: "市级待审核" in d.find_element("css selector", "#review-state").text)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTEFACTS / "review.png"))
    finally:
        browser.quit()
    review = requests.get(f"{server}/api/v1/recordings/{tea_volume['recordings'][0]}/review", headers=headers(teacher)).json()
    assert [step["action"] for step in review["history"]] == ["submit", "claim", "approve"]
    assert review["history"][2]["scores"] == SCORES


def approve_everything(server, tea_volume):
    county, city = api_token(server, "reviewer"), api_token(server, "city-reviewer")
    for recording in tea_volume["recordings"]:
        submission = requests.get(f"{server}/api/v1/recordings/{recording}/review", headers=headers(county)).json()
        for token in (county, city):
            if submission["state"] == "approved":
                break
            if submission["state"] == "awaiting" and submission["level"] == ("county" if token == county else "city"):
                assert requests.post(f"{server}/api/v1/reviews/{submission['id']}/claim", headers=headers(token)).status_code == 200
                decided = requests.post(f"{server}/api/v1/reviews/{submission['id']}/decision",
                                        json={"decision": "approve", "scores": SCORES}, headers=headers(token))
                assert decided.status_code == 200, decided.text
                submission = decided.json()
        assert submission["state"] == "approved"


@pytest.fixture(scope="module")
def credential(server, tea_volume):
    """The teacher's credit once both lessons pass both levels, and its certificate."""
    approve_everything(server, tea_volume)
    teacher = api_token(server)
    credits = requests.get(server + "/api/v1/credits", headers=headers(teacher)).json()["items"]
    assert len(credits) == 1
    response = requests.get(f"{server}/api/v1/credits/{credits[0]['id']}/credential", headers=headers(teacher))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/vc")
    return {"credit": credits[0], "text": response.text, "document": response.json()}


# --- An independent verifier: W3C vc-di-eddsa eddsa-jcs-2022, with PyPI's rfc8785 and cryptography.

def public_key(verification_method: str) -> Ed25519PublicKey:
    assert verification_method.startswith("did:key:z")
    multikey = verification_method[len("did:key:"):].split("#")[0]
    raw = base58.b58decode(multikey[1:])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def independently_valid(document) -> bool:
    document = copy.deepcopy(document)
    proof = document.pop("proof")
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-jcs-2022"
    value = proof.pop("proofValue")
    assert value.startswith("z")
    if "@context" in proof:
        assert proof["@context"] == document["@context"]
    data = hashlib.sha256(rfc8785.dumps(proof)).digest() + hashlib.sha256(rfc8785.dumps(document)).digest()
    try:
        public_key(proof["verificationMethod"]).verify(base58.b58decode(value[1:]), data)
        return True
    except InvalidSignature:
        return False


def rejected(document) -> bool:
    """Whether the independent verifier refuses the document (a proof it cannot even read counts)."""
    try:
        return not independently_valid(document)
    except (AssertionError, ValueError):
        return True


def revoked_in_list(status_list, index: int) -> bool:
    assert independently_valid(status_list)
    encoded = status_list["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) * 8 >= 131072
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def test_certificate_is_an_open_badge_verified_independently(server, credential):
    document = credential["document"]
    assert document["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert document["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert document["issuer"]["name"] == "青山县教育局" and document["issuer"]["id"].startswith("did:key:z6Mk")
    assert document["proof"]["verificationMethod"].startswith(document["issuer"]["id"] + "#")
    subject = document["credentialSubject"]
    assert subject["achievement"]["name"] == "一学期支教经历（录播课程资源建设）"
    assert subject["identifier"][0]["identityHash"] == "王丽老师"
    assert len(document["evidence"]) == 2 and "县级教研审核" in document["evidence"][0]["narrative"]
    assert independently_valid(document)
    # The county's published keys include the signing key.
    keys = requests.get(server + "/credentials/keys").json()["keys"]
    assert document["issuer"]["id"] in [key["id"] for key in keys]
    # Any changed character fails, wherever it is: every string in the document and its proof.
    def leaves(value, path=()):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from leaves(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from leaves(item, path + (index,))
        elif isinstance(value, str):
            yield path
    paths = list(leaves(document))
    assert len(paths) > 40
    for path in paths:
        changed = copy.deepcopy(document)
        target = changed
        for key in path[:-1]:
            target = target[key]
        text = target[path[-1]]
        # Change the last character to another of the same kind (base58 stays base58).
        target[path[-1]] = text[:-1] + ("2" if text[-1:] != "2" else "3")
        assert rejected(changed), path
    # The server agrees on a sample: the subject, the evidence, the dates, the proof's options.
    for path, value in [(("credentialSubject", "identifier", 0, "identityHash"), "王丽丽老师"),
                        (("evidence", 1, "name"), "第2课 采茶"), (("validFrom",), "2020-01-01T00:00:00Z"),
                        (("proof", "created"), "2020-01-01T00:00:00Z")]:
        changed = copy.deepcopy(document)
        target = changed
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert not independently_valid(changed), path
        verdict = requests.post(server + "/api/v1/credentials/verify", data=json.dumps(changed, ensure_ascii=False).encode()).json()
        assert verdict["verdict"] == "tampered", path
    # And the server's own verdict, with no sign-in.
    verdict = requests.post(server + "/api/v1/credentials/verify", data=credential["text"].encode()).json()
    assert verdict["verdict"] == "valid" and verdict["holder"] == "王丽老师"
    # A 10 MB body is refused with a clear error.
    huge = requests.post(server + "/api/v1/credentials/verify", data=b" " * (10 << 20))
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"


def test_coverage_page_and_printable_certificate_with_its_qr_code(server, credential, tmp_path):
    browser = chromium(size="900,1300")
    try:
        sign_in(browser, server)
        wait(browser, lambda d: d.current_url.rstrip("/") == server)
        browser.get(server + "/coverage")
        section = wait(browser, lambda d: d.find_elements("css selector", ".volume-progress"))
        tea = next(s for s in section if "综合实践" in s.text)
        assert "2/2" in tea.find_element("css selector", ".progress-count").text
        assert "已认定一学期支教经历" in tea.find_element("css selector", ".credit").text
        tea.find_element("id", "certificate-link").click()
        wait(browser, lambda d: d.find_elements("css selector", "#certificate svg.qr"))
        assert "王丽老师" in browser.find_element("id", "holder").text
        assert "支教经历证明" in browser.find_element("css selector", "#certificate h1").text
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTEFACTS / "certificate.png"
        assert browser.save_screenshot(str(shot))
        decoded = subprocess.run(["zbarimg", "--raw", "-q", str(shot)], capture_output=True, text=True, check=True).stdout.strip()
        uuid = credential["document"]["id"].removeprefix("urn:uuid:")
        assert decoded == f"{server}/verify/{uuid}"
        # The page the QR code opens, as a committee member sees it: no sign-in.
        browser.delete_all_cookies()
        browser.get(decoded)
        verdict = wait(browser, lambda d: d.find_elements("id", "verdict"))[0]
        assert "证书有效" in verdict.text and "valid" in verdict.get_attribute("class")
    finally:
        browser.quit()


def test_cli_verifies_offline_and_revocation_reaches_every_verifier(server, county, credential, tmp_path):
    certificate = tmp_path / "certificate.json"
    certificate.write_text(credential["text"], encoding="utf-8")
    keys = tmp_path / "keys.json"
    keys.write_bytes(requests.get(server + "/credentials/keys").content)
    arguments = ["credential", "verify", str(certificate), "--keys", str(keys), *county.arguments]
    valid = subprocess.run([str(BINARY), *arguments], cwd=ROOT, capture_output=True, text=True)
    assert valid.returncode == 0 and valid.stdout.startswith("valid:"), valid.stdout + valid.stderr
    forged = tmp_path / "forged.json"
    forged.write_text(credential["text"].replace("王丽老师", "王莉老师"), encoding="utf-8")
    tampered = subprocess.run([str(BINARY), "credential", "verify", str(forged), "--keys", str(keys), *county.arguments],
                              cwd=ROOT, capture_output=True, text=True)
    assert tampered.returncode == 1 and tampered.stdout.startswith("tampered:")

    # An admin revokes it (a recording found plagiarised).
    admin = api_token(server, "county-admin")
    revoked = requests.post(f"{server}/api/v1/credits/{credential['credit']['id']}/revoke",
                            json={"reason": "发现课例抄袭"}, headers=headers(admin))
    assert revoked.status_code == 200
    index = int(credential["document"]["credentialStatus"]["statusListIndex"])
    status_url = credential["document"]["credentialStatus"]["statusListCredential"]
    assert status_url == server + "/credentials/status/revocation"
    status_list = requests.get(status_url).json()
    assert revoked_in_list(status_list, index)
    assert not revoked_in_list(status_list, (index + 1) % 131072)
    verdict = requests.post(server + "/api/v1/credentials/verify", data=credential["text"].encode()).json()
    assert verdict["verdict"] == "revoked" and "发现课例抄袭" in verdict["message"]
    saved = tmp_path / "status.json"
    saved.write_bytes(requests.get(status_url).content)
    offline = subprocess.run([str(BINARY), *arguments, "--status-list", str(saved)], cwd=ROOT, capture_output=True, text=True)
    assert offline.returncode == 1 and offline.stdout.startswith("revoked:"), offline.stdout + offline.stderr
