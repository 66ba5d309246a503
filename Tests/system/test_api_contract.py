"""The API contract: schemathesis, a schema-driven fuzzer from PyPI, runs every conformance check
against a server of its own (the demo county, signed in as a lead-school teacher). It follows the
document's links from the operations that create things (uploads, packs, items, versions) to those
that use their ids, so it reaches the deep routes. Bounded examples, a fixed seed."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

from conftest import Server, api_token

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_every_operation_agrees_with_the_openapi_document():
    # schemathesis's command line, run by this interpreter (make test installs it with this
    # interpreter's pip, whose script folder need not be on the PATH).
    st = [sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())"]
    storage = Path(tempfile.mkdtemp(prefix="lessonlink-contract-"))
    # Uploads up to 1 GiB (the document states the server's limit), so every length the run may
    # declare fits this machine's disk: a full disk is a real 507, not a disagreement.
    server = Server(storage, "--transcode-worker", "false", "--uploads-max-size", str(1 << 30)).start()
    try:
        token = api_token(server.base, "teacher")
        report = storage / "report"
        result = subprocess.run(
            [*st, "--config-file", str(CONFIG), "run", server.base + "/api/v1/openapi.yaml", "--url", server.base,
             "-H", "Authorization: Bearer " + token, "--checks", "all", "--max-examples", "25", "--seed", "20261125",
             "--workers", "2", "--no-color", "--report", "junit", "--report-dir", str(report),
             # Signing out would revoke the token the run uses; sign-out is tested in AuthTests.
             "--exclude-path", "/api/v1/sessions/current",
             # tus append takes application/offset+octet-stream, which schemathesis cannot
             # generate; tuspy (TusClientTests, test_runners.py), UploadTests and RunnerJobsTests
             # drive it instead.
             "--exclude-name", "PATCH /api/v1/uploads/{id}",
             "--exclude-name", "PATCH /api/v1/runners/jobs/{id}/files/{file}",
             # The events stream stays open while a recording is in progress (here: for ever, no
             # worker runs); TranscodeTests reads it to its end.
             "--exclude-name", "GET /api/v1/recordings/{id}/events",
             # A session's events stream stays open until the session is over (here: an hour
             # ahead); SyncSessionTests and test_sessions.py read it.
             "--exclude-name", "GET /api/v1/sync-sessions/{id}/events",
             # The inbox's events stream stays open for as long as the page does; OrdersTests
             # and test_orders.py read it.
             "--exclude-name", "GET /api/v1/orders/events"],
            cwd=storage, capture_output=True, text=True, timeout=600,
            env={**os.environ, "NO_COLOR": "1"})
        summary = result.stdout[-8000:]
        assert result.returncode == 0, summary
        # Every documented operation but the four excluded above was tried.
        tested = re.search(r"Tested: (\d+)", summary)
        assert tested and int(tested.group(1)) >= 52, summary
        # It reached the server's deep routes, and the server kept serving throughout.
        assert requests.get(server.base + "/healthz").ok
        assert list(report.glob("*.xml")), "a JUnit report was written"
    finally:
        server.stop()
        shutil.rmtree(storage, ignore_errors=True)
