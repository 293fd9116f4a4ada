"""`tuskflow flower` as an operator runs it, seen in a real headless Chromium (Debian's, driven
by Selenium through Debian's chromedriver): no page without the login, the metrics behind it
too, and after the login the worker and a finished ETL task with its job id and spec name.

The screenshot of the task page is kept in .tuskflow/artifacts/flower-task.png.
"""

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.e2e.etl_processes import (
    celery_worker,
    etl_env,
    private_redis_db,
    run_producer,
    spec,
    stop_process,
)
from tests.fix_services import in_ci

TUSKFLOW = Path(sys.executable).with_name("tuskflow")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".tuskflow" / "artifacts"
LOGIN = ("admin", "s3cret-flower")
REDIS_DB = 11
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PRODUCER = """
import json
from tuskflow import scheduler
job_id = scheduler.submit("spec.yaml")
print(json.dumps({"job_id": job_id, "status": scheduler.wait(job_id, timeout_s=120)["status"]}))
"""


@pytest.fixture
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = (
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver"
        )
        if in_ci():
            pytest.fail(f"{message} (CI: .ci/run installs them)")
        pytest.skip(message)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # responses' statuses
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _document_statuses(driver: object) -> dict[str, int]:
    """The HTTP status of each page the browser loaded since the last call, by URL."""
    statuses = {}
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if (
            message["method"] == "Network.responseReceived"
            and message["params"]["type"] == "Document"
        ):
            response = message["params"]["response"]
            statuses[response["url"]] = response["status"]
    return statuses


def _page_showing(driver: object, url: str, text: str, timeout_s: float = 30) -> str:
    """The text of the page at ``url`` once it shows ``text``, loaded again each second until
    it does (Flower renders what its event state holds when the page is asked for)."""

    deadline = time.monotonic() + timeout_s
    while True:
        driver.get(url)  # type: ignore[attr-defined]
        shown = str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]
        if text in shown.replace("\n", ""):  # a narrow column wraps a name anywhere
            return shown
        if time.monotonic() > deadline:
            driver.save_screenshot(str(ARTIFACTS / "flower-failed.png"))  # type: ignore[attr-defined]
            raise AssertionError(f"{url} did not show {text!r} within {timeout_s} s:\n{shown}")
        time.sleep(1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(url: str, login: tuple[str, str] | None = None) -> tuple[int, str]:
    """The status and body of a GET of ``url`` (http://127.0.0.1:port/path), with the login if
    given."""
    parts = urlsplit(url)
    headers = {}
    if login is not None:
        headers["Authorization"] = f"Basic {base64.b64encode(':'.join(login).encode()).decode()}"
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", parts.path or "/", headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _status(url)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered at {url} within {timeout_s} s")


def test_flower_refuses_to_start_without_a_login_unless_told_no_auth(
    redis_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUSKFLOW_")}
    env.update(TUSKFLOW_REDIS_URL=redis_url)
    refused = subprocess.run(
        [str(TUSKFLOW), "flower"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    port = _free_port()
    with (tmp_path / "open.log").open("wb") as log:
        open_flower = subprocess.Popen(
            [str(TUSKFLOW), "flower", "--no-auth", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/healthcheck")
            page = _status(f"http://127.0.0.1:{port}/")
        finally:
            stop_process(open_flower)
    assert refused.returncode == 2
    assert "Flower needs a login: set TUSKFLOW_FLOWER_BASIC_AUTH=user:password" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "has no login (--no-auth): anyone who reaches it" in (tmp_path / "open.log").read_text()
    assert page[0] == 200


def test_flower_shows_the_worker_and_a_finished_task_with_its_job_only_after_the_login(
    migrated_url: str, redis_url: str, tmp_path: Path, browser: object
) -> None:

    broker = private_redis_db(redis_url, REDIS_DB)
    env = etl_env(migrated_url, broker, tmp_path / "state", None)
    (tmp_path / "data.csv").write_text("region,amount\nnorth,1\nsouth,2\nnorth,3\n")
    spec(
        tmp_path,
        {
            "name": "flower_sales",
            "source": {"format": "csv", "path": str(tmp_path / "data.csv")},
            "sink": {"kind": "parquet", "path": str(tmp_path / "out")},
        },
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    flower_env = {**env, "TUSKFLOW_FLOWER_BASIC_AUTH": ":".join(LOGIN)}
    driver: object = browser
    with (
        celery_worker(env, tmp_path / "worker.log"),
        (tmp_path / "flower.log").open("wb") as flower_log,
    ):
        flower = subprocess.Popen(
            [str(TUSKFLOW), "flower", "--port", str(port)],
            env=flower_env,
            stdout=flower_log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_http(f"{base}/healthcheck")
            time.sleep(2)  # Flower subscribes to the workers' events before the job runs
            done = json.loads(run_producer(env, PRODUCER, tmp_path))
            page_without_login = _status(f"{base}/")
            metrics_without_login = _status(f"{base}/metrics")
            metrics = _status(f"{base}/metrics", LOGIN)
            api_without_login = _status(f"{base}/api/tasks")

            driver.get(f"{base}/")  # type: ignore[attr-defined]
            refused_text = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
            refused_status = _document_statuses(driver)
            token = base64.b64encode(":".join(LOGIN).encode()).decode()
            driver.execute_cdp_cmd("Network.enable", {})  # type: ignore[attr-defined]
            driver.execute_cdp_cmd(  # type: ignore[attr-defined]
                "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
            )
            workers_text = _page_showing(driver, f"{base}/workers", "etl-test-")
            task_text = _page_showing(driver, f"{base}/task/{done['job_id']}", "SUCCESS")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "flower-task.png"))  # type: ignore[attr-defined]
            _page_showing(driver, f"{base}/tasks", done["job_id"])
            driver.save_screenshot(str(ARTIFACTS / "flower-tasks.png"))  # type: ignore[attr-defined]
        finally:
            stop_process(flower)
    assert done["status"] == "succeeded"
    assert page_without_login[0] == 401
    assert metrics_without_login[0] == 401
    assert api_without_login[0] == 401
    assert metrics[0] == 200
    assert "flower_events_total" in metrics[1]
    assert refused_status == {f"{base}/": 401}
    assert "CLUSTER OVERVIEW" not in refused_text.upper()  # nothing of Flower is shown
    assert "etl-test-" in workers_text.replace("\n", "")  # the worker, by its node name
    assert done["job_id"] in task_text
    assert "tuskflow.etl.run_job" in task_text
    assert "flower_sales" in task_text  # the spec's name, in the task's result
