"""The web console in a real browser (docs/console.md): headless Chromium from
Debian, driven by Selenium through chromedriver, against the real gateway with
real clients (mosquitto_sub, raw MQTT clients) and a real mosquitto as the
cloud broker of a bridge. Each test logs in, acts as an operator would, and
ends with the browser's log: no JavaScript error and no Content-Security-Policy
violation may appear in it (the HTTP errors a flow provokes on purpose, like a
wrong token's 401, are the network's entries and are allowed).

Screenshots of each view go to $TIDEGATE_SCREENSHOT_DIR (default:
build/console-screenshots); docs/console.md shows one of each."""

import json
import os
import pathlib
import subprocess
import threading
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import HOST, free_port
from test_bridge import Cloud, bridge_config

pytestmark = pytest.mark.tidegate_only(reason="tidegate console")

REPO = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = pathlib.Path(os.environ.get("TIDEGATE_SCREENSHOT_DIR", str(REPO / "build" / "console-screenshots")))
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
MOSQUITTO_SUB = os.environ.get("MOSQUITTO_SUB_BIN", "/usr/bin/mosquitto_sub")
WAIT = 15  # seconds any one thing on the page may take


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; its chromedriver killed by PID at the end."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            if service.process and service.process.poll() is None:
                service.process.kill()


@pytest.fixture
def page(browser):
    """The browser with no cookies and an empty log; after the test, the log is checked."""
    browser.delete_all_cookies()
    browser.set_window_size(1280, 900)
    browser.get_log("browser")  # drop what earlier tests left
    yield browser
    problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not problems, "errors in the browser's log:\n" + "\n".join(e["message"] for e in problems)


def screenshot(driver, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / (name + ".png")))


def wait_for(driver, condition, what, timeout=WAIT):
    # Views redraw their tables while polling: an element found a moment ago may be gone; look again.
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), message="the page did not show " + what)


def click(driver, css, what):
    """Clicks the element `css` once it is shown, finding it again if a redraw replaced it."""
    def clicked(d):
        found = element(d, css)
        if found:
            found.click()
        return bool(found)
    wait_for(driver, clicked, what)


def element(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else None


def ready(driver):
    return driver.execute_script("return document.body.dataset.ready") == "1"


def open_console(driver, port, token=None, view="overview"):
    driver.get("http://%s:%d/#/%s" % (HOST, port, view))
    if token is not None:
        wait_for(driver, lambda d: element(d, "#token"), "the login form")
        field = driver.find_element(By.ID, "token")
        field.clear()
        field.send_keys(token)
        driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, lambda d: element(d, "#nav") and ready(d), "the %s view" % view)


def show_view(driver, view):
    driver.find_element(By.CSS_SELECTOR, 'a[data-view="%s"]' % view).click()
    wait_for(driver, lambda d: ready(d) and "active" in
             d.find_element(By.CSS_SELECTOR, 'a[data-view="%s"]' % view).get_attribute("class"), "the %s view" % view)


@pytest.fixture
def gateway(make_broker, tmp_path):
    """A gateway asking for a token, with a read-only token too."""
    (tmp_path / "full.token").write_text("console-full-token\n")
    (tmp_path / "read.token").write_text("console-read-token\n")
    port = free_port()
    broker = make_broker(admin={"bind": HOST, "port": port, "token_file": str(tmp_path / "full.token"),
                                "read_token_file": str(tmp_path / "read.token")})
    broker.admin_port = port
    return broker


def test_a_wrong_token_is_refused_and_the_right_one_logs_in_with_a_cookie_only(page, gateway):
    driver = page
    driver.get("http://%s:%d/" % (HOST, gateway.admin_port))
    wait_for(driver, lambda d: element(d, "#login"), "the login form")
    assert not element(driver, "#nav")
    driver.find_element(By.ID, "token").send_keys("not-the-token")
    driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "login-error").text.strip(), "the login error")
    assert "wrong token" in driver.find_element(By.ID, "login-error").text
    assert not element(driver, "#nav")
    screenshot(driver, "login")

    open_console(driver, gateway.admin_port, "console-full-token")
    assert driver.execute_script("return document.body.dataset.role") == "admin"
    # The token went only into the login request: not in the URL, the storage, or a cookie a script can read.
    storage = driver.execute_script("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + "
                                    "document.cookie + location.href")
    assert "console-full-token" not in storage and "tidegate_session" not in storage, storage
    cookie = driver.get_cookie("tidegate_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie

    # A reload keeps the login (the cookie); logging out ends it.
    driver.refresh()
    wait_for(driver, lambda d: element(d, "#nav") and ready(d), "the console after a reload")
    driver.find_element(By.ID, "logout").click()
    wait_for(driver, lambda d: element(d, "#login"), "the login form after logging out")


def publish_for(broker, topic, seconds, client_id):
    """A raw MQTT client publishing QoS 0 at a steady pace in a thread; returns (thread, stop event)."""
    stop = threading.Event()
    client = broker.connect(client_id, 4)

    def run():
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            client.publish(topic, b"reading-%f" % time.time(), qos=0)
            stop.wait(0.005)  # the traffic's pace

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, stop


def test_the_overview_plots_gain_points_while_messages_flow(page, gateway, uid):
    driver = page
    gateway.connect(uid + "-sub", 4).subscribe(uid + "/#", 0)
    open_console(driver, gateway.admin_port, "console-full-token")

    def points():
        return int(driver.find_element(By.ID, "plot-messages").get_attribute("data-points") or 0)

    before = points()
    thread, stop = publish_for(gateway, uid + "/temperature", 20, uid + "-pub")
    try:
        # New samples arrive over the live feed once a second, and show the traffic.
        wait_for(driver, lambda d: points() >= before + 3, "three more points on the messages plot")
        wait_for(driver, lambda d: d.find_element(By.ID, "stat-msgs-in").text.strip() not in ("", "0", "—"),
                 "a message rate in the tile")
        assert driver.find_element(By.ID, "stat-connections").text.strip() == "2"
        screenshot(driver, "overview")
    finally:
        stop.set()
        thread.join(5)
    # The history is the gateway's: a page opened later shows the past at once.
    seen = points()
    driver.refresh()
    wait_for(driver, lambda d: element(d, "#nav") and ready(d), "the overview again")
    assert points() >= seen - 1


def test_a_mosquitto_sub_client_appears_in_sessions_and_kick_disconnects_it(page, gateway, procs, uid):
    driver = page
    client_id = uid + "-mosq"
    sub = subprocess.Popen([MOSQUITTO_SUB, "-h", HOST, "-p", str(gateway.port), "-i", client_id, "-t", uid + "/#",
                            "-q", "1", "-c", "-x", "600", "-V", "mqttv5"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    procs.append(sub)
    open_console(driver, gateway.admin_port, "console-full-token", view="sessions")
    search = driver.find_element(By.ID, "session-search")
    search.send_keys(client_id)
    row_css = 'tr[data-client-id="%s"]' % client_id
    wait_for(driver, lambda d: element(d, row_css) and "online" in element(d, row_css).text, "the client, online")
    screenshot(driver, "sessions")

    click(driver, row_css, "the client's row")
    wait_for(driver, lambda d: element(d, "#session-detail") and uid + "/#" in d.find_element(By.ID, "session-detail").text
             and ready(d), "the session's page with its subscription")
    screenshot(driver, "session")
    driver.find_element(By.ID, "kick-button").click()
    wait_for(driver, lambda d: element(d, "#confirm-yes"), "the confirmation")
    driver.find_element(By.ID, "confirm-yes").click()
    # The gateway logs the kick; mosquitto_sub then reconnects to its persistent session by itself.
    deadline = time.monotonic() + WAIT
    while "reason=kicked" not in gateway.log_tail(400) or client_id not in gateway.log_tail(400):
        assert time.monotonic() < deadline, "no kick in the gateway's log:\n" + gateway.log_tail(40)
        time.sleep(0.1)  # poll interval of a bounded wait
    kicked = [line for line in gateway.log_tail(400).splitlines() if "reason=kicked" in line]
    assert any(client_id in line for line in kicked), kicked
    wait_for(driver, lambda d: d.find_element(By.ID, "message").text.strip(), "the kick's message")


def test_the_read_only_login_shows_no_change_buttons(page, gateway, uid):
    driver = page
    gateway.connect(uid, 4)
    open_console(driver, gateway.admin_port, "console-read-token", view="sessions/" + uid)
    assert driver.execute_script("return document.body.dataset.role") == "read"
    wait_for(driver, lambda d: element(d, "#session-detail"), "the session's page")
    for button in driver.find_elements(By.CSS_SELECTOR, "#kick-button, #delete-button"):
        assert not button.is_displayed() or not button.is_enabled()


def test_a_retained_message_shows_its_preview_as_json_or_hex(page, gateway, uid):
    driver = page
    pub = gateway.connect(uid + "-pub", 4)
    pub.publish(uid + "/line1/temperature", json.dumps({"celsius": 21.5, "sensor": "t-17"}).encode(), qos=1,
                retain=True)
    pub.publish(uid + "/line1/raw", bytes([0, 1, 2, 250, 251, 252]), qos=1, retain=True)
    gateway.connect(uid + "-sub", 4).subscribe(uid + "/line1/#", 1)
    open_console(driver, gateway.admin_port, "console-full-token", view="topics")
    # The live filter is in the tree.
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#topic-tree li[data-path="%s"]' % uid),
             "the subscription's branch in the tree")
    prefix = driver.find_element(By.ID, "retained-prefix")
    prefix.clear()
    prefix.send_keys(uid + "/line1/")
    driver.find_element(By.ID, "retained-show").click()
    row_css = 'tr[data-topic="%s/line1/temperature"]' % uid
    wait_for(driver, lambda d: element(d, row_css), "the retained message in the list")
    click(driver, row_css, "the retained message's row")
    preview = lambda d: d.find_element(By.ID, "retained-preview")  # noqa: E731
    wait_for(driver, lambda d: preview(d).get_attribute("data-kind") == "json", "the JSON preview")
    assert '"celsius": 21.5' in preview(driver).text and "\n" in preview(driver).text  # pretty-printed
    screenshot(driver, "topics")
    click(driver, 'tr[data-topic="%s/line1/raw"]' % uid, "the binary message's row")
    wait_for(driver, lambda d: preview(d).get_attribute("data-kind") == "hex", "the hex preview")
    assert "00 01 02 fa fb fc" in preview(driver).text.lower(), preview(driver).text


def test_a_bridge_goes_down_in_the_bridges_view_when_its_cloud_stops(page, make_broker, tmp_path):
    driver = page
    cloud = Cloud(tmp_path / "cloud")
    try:
        port = free_port()
        make_broker(admin={"bind": HOST, "port": port}, bridges=[bridge_config(cloud.port)])
        open_console(driver, port, view="bridges")  # no token configured: no login
        state = lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-bridge="cloud"] .state').text.strip()  # noqa: E731
        wait_for(driver, lambda d: element(d, 'tr[data-bridge="cloud"]') and state(d) == "up", "the bridge up")
        screenshot(driver, "bridges")
        cloud.stop()
        wait_for(driver, lambda d: state(d) == "down", "the bridge down")
        wait_for(driver, lambda d: "refused" in d.find_element(By.CSS_SELECTOR, 'tr[data-bridge="cloud"]').text.lower()
                 or "closed" in d.find_element(By.CSS_SELECTOR, 'tr[data-bridge="cloud"]').text.lower(),
                 "the bridge's last error")
    finally:
        cloud.stop()


def test_the_cluster_view_says_when_cluster_mode_is_off(page, gateway):
    driver = page
    open_console(driver, gateway.admin_port, "console-full-token", view="cluster")
    wait_for(driver, lambda d: "cluster mode is off" in d.find_element(By.ID, "view").text.lower(), "cluster off")
    screenshot(driver, "cluster")


def test_the_cluster_view_shows_members_epoch_and_who_holds_a_client(page, tmp_path, make_broker, uid):
    from cluster_support import NatsServer, wait_lookup_stable, wait_running
    server = NatsServer(tmp_path / "nats")
    try:
        gateways = []
        for node in ("a", "b"):
            g = make_broker(cluster={"node": node, "nats": [server.url], "request_timeout_ms": 2000},
                            admin={"bind": HOST, "port": free_port()})
            g.admin_port = g.config["admin"]["port"]
            wait_running(g)
            gateways.append(g)
        a, b = gateways
        epoch = wait_lookup_stable([a, b])[0]["lookup"]["epoch"]
        b.connect(uid + "-on-b", 5)
        driver = page
        open_console(driver, a.admin_port, view="cluster")
        summary = lambda d: d.find_element(By.ID, "cluster-summary").text  # noqa: E731
        wait_for(driver, lambda d: epoch in summary(d) and "a@" in summary(d) and "b@" in summary(d),
                 "both members and the epoch")
        field = driver.find_element(By.ID, "cluster-owner-input")
        field.send_keys(uid + "-on-b")
        driver.find_element(By.ID, "cluster-owner-button").click()
        result = lambda d: d.find_element(By.ID, "cluster-owner-result").text  # noqa: E731
        wait_for(driver, lambda d: "held by b" in result(d), "the client held by b")
        screenshot(driver, "cluster")
        field.clear()
        field.send_keys(uid + "-nowhere")
        driver.find_element(By.ID, "cluster-owner-button").click()
        wait_for(driver, lambda d: "no gateway holds" in result(d), "no gateway for an unknown client")
    finally:
        server.kill()


def test_every_view_fits_a_phone_sized_screen(page, gateway, uid):
    driver = page
    gateway.connect(uid, 4)
    driver.set_window_size(390, 844)
    open_console(driver, gateway.admin_port, "console-full-token")
    for view in ("overview", "sessions", "topics", "bridges", "cluster"):
        show_view(driver, view)
        # Wide tables scroll inside their own box; the page itself does not scroll sideways.
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (view, overflow)
        if view in ("overview", "sessions"):
            screenshot(driver, "phone-" + view)
