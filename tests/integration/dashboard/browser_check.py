#!/usr/bin/python3
"""tests/integration/dashboard/browser_check.py — drives the admin dashboard
(SPEC 15, GET / on lb's admin listener) in real headless Chromium through
Selenium (Debian's chromium, chromium-driver, python3-selenium), for
tests/integration/dashboard_test.cpp, which starts lb and the backends.

  browser_check.py live URL TOKEN KILL_PID SERVERS...
      every server listed is shown "up"; after KILL_PID is killed the first
      server turns "down" within 5 s without the page reloading; with the
      token typed in, the second server is drained through its button.
  browser_check.py scale URL N_SERVERS
      a large configuration (50 pools x 20 servers) shows every server, and
      one redraw from /stats takes under 1 s.

Exit 0 when every check passed; otherwise 1 with the reason and the path of
a screenshot on stderr.
"""
import os
import signal
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def browser():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1440,900", "--disable-extensions", "--no-first-run"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait_for(what, pred, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return time.monotonic()
        except Exception:  # the table is being redrawn under us: look again
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(0.05)


def state_of(driver, server):
    rows = driver.find_elements(By.CSS_SELECTOR, 'tr[data-server="%s"]' % server)
    return rows[0].get_attribute("data-state") if rows else None


def live(driver, url, token, kill_pid, servers):
    driver.get(url)
    wait_for("every server shown up", lambda: all(state_of(driver, s) == "up" for s in servers), 10)
    # The page reads as words too, not colour alone.
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-server="%s"]' % servers[0])
    assert "up" in row.text and "closed" in row.text, row.text
    driver.execute_script("window.__same_page = true;")
    os.kill(kill_pid, signal.SIGKILL)
    killed = time.monotonic()
    seen = wait_for("the killed server shown down", lambda: state_of(driver, servers[0]) == "down", 5)
    assert driver.execute_script("return window.__same_page === true;"), "the page reloaded"
    print("down shown %.2f s after the kill" % (seen - killed))
    # Actions need the token: the buttons are disabled until it is typed.
    drain = 'button[data-act="drain"][data-server="%s"]' % servers[1]
    assert not driver.find_element(By.CSS_SELECTOR, drain).is_enabled(), "drain enabled without a token"
    driver.find_element(By.ID, "token").send_keys(token)
    wait_for("drain enabled", lambda: driver.find_element(By.CSS_SELECTOR, drain).is_enabled(), 3)
    driver.find_element(By.CSS_SELECTOR, drain).click()
    wait_for("the drained server shown drain", lambda: state_of(driver, servers[1]) == "drain", 5)
    assert "set" in driver.find_element(By.ID, "msg").text


def scale(driver, url, n_servers):
    driver.get(url)
    wait_for("%d servers shown" % n_servers,
             lambda: len(driver.find_elements(By.CSS_SELECTOR, "tr[data-state]")) == n_servers, 15)
    took = driver.execute_async_script(
        "const done = arguments[0], t = performance.now(); refresh().then(() => done(performance.now() - t));")
    print("one refresh of %d servers: %.0f ms" % (n_servers, took))
    assert took < 1000, "a refresh took %.0f ms" % took
    assert "live" in driver.find_element(By.ID, "status").text


def main():
    mode, url = sys.argv[1], sys.argv[2]
    driver = browser()
    try:
        if mode == "live":
            live(driver, url, sys.argv[3], int(sys.argv[4]), sys.argv[5:])
        else:
            scale(driver, url, int(sys.argv[3]))
    except Exception as e:  # noqa: BLE001 — report any failure with a screenshot
        shot = os.path.join(tempfile.gettempdir(), "lb-dashboard-%d.png" % os.getpid())
        try:
            driver.save_screenshot(shot)
            print("FAIL: %s\nscreenshot: %s" % (e, shot), file=sys.stderr)
        except Exception:  # noqa: BLE001
            print("FAIL: %s (no screenshot)" % e, file=sys.stderr)
        return 1
    finally:
        driver.quit()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
