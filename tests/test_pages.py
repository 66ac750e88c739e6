"""The pages in a real browser (Debian's chromium, driven by Playwright; no browser download),
against `make up`: a student signs up, verifies, fills the profile (a field error first),
enrolls and sees the live outcome, joins a waitlist (with its position) and switches; the
waiting room at a fair opening, then the released outcome; an organiser builds a program from a
CSV (a bad row named, nothing saved) and watches the board move during a burst; a lottery run
committed from its page reaches the student's schedule. axe-core checks every page (no serious
or critical violation), and every page is photographed on a desktop and a 375 px phone
(SCREENSHOT_DIR, else a temporary folder; the best are committed under docs/screenshots/)."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from devstack.token import dev_token
from devstack.upstack import UpStack

pytestmark = pytest.mark.slow

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a long passphrase"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 860}


class Stack:
    def __init__(self, var: Path, ports: dict[str, int]) -> None:
        self.var, self.ports = var, ports
        self.web = f"http://127.0.0.1:{ports['WEB_PORT']}"
        self.url = {
            name: f"http://127.0.0.1:{ports[f'{name.upper()}_PORT']}"
            for name in ("registration", "profile", "lottery", "identity")
        }
        self.admin = {"Authorization": f"Bearer {dev_token(var, 'admin', 'admin')}"}
        self.shots = Path(os.environ.get("SCREENSHOT_DIR") or var / "screenshots")
        self.shots.mkdir(parents=True, exist_ok=True)

    def program(self, **fields: object) -> tuple[int, list[int]]:
        body = {"name": "Splash 2026", "grade_min": 7, "grade_max": 12} | fields
        body.setdefault("time_zone", "America/New_York")
        made = httpx.post(f"{self.url['registration']}/v1/programs", json=body, headers=self.admin)
        assert made.status_code == 201, made.text
        pid = made.json()["id"]
        slots = []
        for hour in (15, 16):
            slot = {"start": f"2026-12-05T{hour}:00:00Z", "end": f"2026-12-05T{hour}:50:00Z"}
            answer = httpx.post(
                f"{self.url['registration']}/v1/programs/{pid}/timeslots",
                json=slot,
                headers=self.admin,
            )
            slots.append(answer.json()["id"])
        return pid, slots

    def klass(self, pid: int, title: str, sections: list[tuple[int, int]]) -> list[int]:
        body = {
            "title": title,
            "grade_min": 7,
            "grade_max": 12,
            "sections": [{"capacity": c, "timeslot_ids": [s]} for c, s in sections],
        }
        made = httpx.post(
            f"{self.url['registration']}/v1/programs/{pid}/classes", json=body, headers=self.admin
        )
        return [s["id"] for s in made.json()["sections"]]

    def account(self, name: str) -> tuple[int, str, dict[str, str]]:
        """A verified student (by the API and the mailbox, as a person would), signed in."""
        email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.org"
        made = httpx.post(
            f"{self.url['identity']}/v1/accounts",
            json={"email": email, "password": PASSWORD, "display_name": name},
        ).json()
        token = self.mail_token(email)
        httpx.post(f"{self.url['identity']}/v1/accounts/verify", json={"token": token})
        tokens = httpx.post(
            f"{self.url['identity']}/v1/sessions", json={"email": email, "password": PASSWORD}
        ).json()
        return made["id"], email, {"Authorization": f"Bearer {tokens['access_token']}"}

    def mail_token(self, email: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in sorted((self.var / "mail").glob("*.eml"), reverse=True):
                text = path.read_text()
                if f"To: {email}" in text:
                    return re.search(r"token=([A-Za-z0-9_\-]+)", text).group(1)
            time.sleep(0.1)
        raise AssertionError(f"no message to {email}")

    def complete_profile(self, pid: int, student: int, headers: dict[str, str]) -> None:
        body = {
            "grade": 10,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.org",
            "phone": "212-555-0100",
            "emergency_contact": {"name": "Byron", "phone": "212-555-0101", "relation": "parent"},
            "guardian": {"name": "Anne", "phone": "212-555-0102"},
        }
        saved = httpx.put(
            f"{self.url['profile']}/v1/programs/{pid}/students/{student}/profile",
            json=body,
            headers=headers,
        )
        assert saved.json()["complete"], saved.text

    def enroll(self, pid: int, student: int, section: int, headers: dict[str, str]) -> str:
        """Sent until registration has heard of the student's profile (it learns by event)."""
        return self._once_profile_known(pid, student, "enroll", section, headers)["status"]

    def await_profile_known(
        self, pid: int, student: int, section: int, headers: dict[str, str]
    ) -> None:
        """Until registration has heard of the student's saved profile (by event, in order: once
        the last student's is known, all are): a probe drop of a section they do not hold is
        then refused for another reason than ``profile_incomplete``."""
        self._once_profile_known(pid, student, "drop", section, headers)

    def _once_profile_known(
        self, pid: int, student: int, action: str, section: int, headers: dict[str, str]
    ) -> dict:
        """The request sent again until it is decided on something else than a profile
        registration has not heard of yet; its decision."""
        deadline = time.monotonic() + 30
        while True:
            sent = httpx.post(
                f"{self.url['registration']}/v1/programs/{pid}/registration-requests",
                json={"student_id": student, "action": action, "section_id": section},
                headers=headers,
            ).json()
            decided = self.await_decision(sent["id"], headers)
            if decided["reason"] != "profile_incomplete":
                return decided
            assert time.monotonic() < deadline, f"registration never heard of {student}'s profile"
            time.sleep(0.3)

    def await_decision(self, request_id: str, headers: dict[str, str]) -> dict:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = httpx.get(
                f"{self.url['registration']}/v1/registration-requests/{request_id}", headers=headers
            ).json()
            if found["status"] not in ("queued", "waiting"):
                return found
            time.sleep(0.2)
        raise AssertionError(f"request {request_id} undecided")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    up = UpStack(tmp_path_factory.mktemp("pages"), SWEEP_INTERVAL_SECONDS="0.5").start()
    ready = up.await_line("ready:")
    assert ready.startswith(f"ready: web={up.url('web')}")  # the web's address first
    try:
        yield Stack(up.var, up.ports)
    finally:
        assert up.stop() == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Person:
    """One browser, one person: pages checked by axe and photographed as they go."""

    def __init__(self, browser: object, stack: Stack) -> None:
        self.context = browser.new_context(viewport=DESKTOP)
        self.page = self.context.new_page()
        self.stack = stack
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: message.type == "error" and self.errors.append(message.text),
        )

    def go(self, path: str) -> object:
        self.page.goto(self.stack.web + path)
        return self.page

    def check(self, name: str) -> None:
        """axe-core on the page as it is, then a desktop and a phone photograph."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        serious = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        assert not serious, (name, serious)
        self.page.screenshot(path=str(self.stack.shots / f"{name}-desktop.png"), full_page=True)
        self.page.set_viewport_size(PHONE)
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        self.page.screenshot(path=str(self.stack.shots / f"{name}-phone.png"), full_page=True)
        self.page.set_viewport_size(DESKTOP)
        assert overflow <= PHONE["width"] + 1, f"{name} scrolls sideways on a phone ({overflow}px)"

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        page = self.go("/signin")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.locator("main button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/$|.*/programs/.*|.*/admin/.*"))

    def status(self, text: str, timeout: float = 20_000) -> str:
        log = self.page.locator("[data-outcome-log]")
        log.filter(has_text=re.compile(text)).wait_for(timeout=timeout)
        return log.inner_text()


def test_a_student_signs_up_registers_and_sees_each_answer_live(stack, browser):
    pid, (slot1, slot2) = stack.program()
    knots_a, knots_b = stack.klass(pid, "Knot Theory", [(1, slot1), (2, slot2)])
    (origami,) = stack.klass(pid, "Origami", [(1, slot2)])
    other, _, other_headers = stack.account("Other")
    stack.complete_profile(pid, other, other_headers)
    assert stack.enroll(pid, other, origami, other_headers) == "accepted"  # Origami is full

    me = Person(browser, stack)
    home = me.go("/")
    assert home.get_by_role("link", name="Sign in").count() >= 1
    me.check("home")
    page = me.go("/signup")
    me.check("signup")
    email = f"grace-{uuid.uuid4().hex[:6]}@example.org"
    page.get_by_label("Your name").fill("Grace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    assert page.locator("h1").inner_text() == "Check your email"
    page = me.go(f"/verify?token={stack.mail_token(email)}")
    assert "confirmed" in page.locator("h1").inner_text()
    me.go("/signin")
    me.check("signin")
    me.sign_in(email)
    assert "Signed in as Grace" in me.page.locator("header").inner_text()
    cookie = next(c for c in me.context.cookies() if c["name"] == "web_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page = me.go(f"/programs/{pid}")
    me.check("program")
    page = me.go(f"/programs/{pid}/catalog")  # the profile first
    assert page.url.endswith(f"/programs/{pid}/profile")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Grade").fill("10")
    page.locator("#f-email").fill(email)
    page.locator("#f-phone").fill("")  # forgotten: named beside the field
    page.locator("#f-emergency_contact-name").fill("Mary")
    page.locator("#f-emergency_contact-phone").fill("212-555-0198")
    page.locator("#f-guardian-name").fill("Walter")
    page.locator("#f-guardian-phone").fill("212-555-0197")
    page.locator("#f-phone").evaluate("node => node.removeAttribute('required')")
    page.locator("main button[type=submit]").click()
    assert page.locator("#phone-error").is_visible()
    me.check("profile-error")
    page.locator("#f-phone").fill("212-555-0199")
    page.locator("main button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/programs/{pid}/catalog"))
    me.check("catalog")
    assert "<!--seats" not in page.content()  # the shared cards' marks are all filled in
    assert "<!--choice" not in page.content()

    # Add: answered at once, then live; the reload afterwards shows the new state.
    page.get_by_role("button", name="Add Knot Theory, section 1").click()
    assert "Enrolled" in me.status("Done|Not")
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Drop Knot Theory, section 1").wait_for(timeout=15_000)
    # Origami is full: the waitlist, with the place in line.
    page.get_by_role("button", name="Join the waitlist Origami, section 1").click()
    assert "number 1" in me.status("waitlist: number")
    page.locator(".tag", has_text="On the waitlist: number 1").wait_for(timeout=15_000)
    me.check("catalog-waitlisted")
    # A switch to the other section of the class.
    page.get_by_role("button", name="Switch here Knot Theory, section 2").click()
    assert "Enrolled" in me.status("Done|Not")
    page.get_by_role("button", name="Drop Knot Theory, section 2").wait_for(timeout=15_000)
    held = httpx.get(
        f"{stack.url['registration']}/v1/programs/{pid}/students/{_account_id(stack, email)}"
        "/sections",
        params={"verbs": "Enrolled"},
        headers=stack.admin,
    ).json()["sections"]
    assert [s["section_id"] for s in held] == [knots_b]
    # The catalog comes gzipped to a browser (the shared cards' chunks deflated once, the
    # student's own card's chunk per page): the same page as without, and the form token sent
    # as stored bytes, outside every compression window.
    url = f"{stack.web}/programs/{pid}/catalog"
    packed = page.goto(url)
    assert packed.headers.get("content-encoding") == "gzip"
    page.get_by_role("button", name="Drop Knot Theory, section 2").wait_for(timeout=15_000)
    plain = page.request.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    once = re.compile(r'(name="(?:csrf_token|key)" value=")[^"]+"')
    assert once.sub(r"\1\"", packed.text()) == once.sub(r"\1\"", plain.text())
    jar = {cookie["name"]: cookie["value"]}
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}, cookies=jar) as raw:
        wire = b"".join(raw.iter_raw())
    token = re.search(rb'name="csrf_token" value="([^"]+)"', gzip.decompress(wire))
    assert raw.headers["content-encoding"] == "gzip" and token and token.group(1) in wire
    # A button's value that names no request: a 400 that names the field, nothing sent.
    token = page.locator("form[data-request] input[name=csrf_token]").get_attribute("value")
    refused = page.request.post(
        f"{stack.web}/programs/{pid}/requests",
        form={"csrf_token": token or "", "do": "steal 1"},
        headers={"Accept": "application/json"},
    )
    assert refused.status == 400 and refused.json()["field"] == "do"
    me.go(f"/programs/{pid}/schedule")
    assert "Knot Theory" in me.page.locator("table.timetable").inner_text()
    me.check("schedule")
    assert not me.errors, me.errors
    assert knots_a != knots_b


def _account_id(stack: Stack, email: str) -> int:
    found = httpx.get(
        f"{stack.url['identity']}/v1/accounts", params={"email": email}, headers=_admin(stack)
    ).json()["accounts"]
    return found[0]["id"]


def _admin(stack: Stack) -> dict[str, str]:
    password = (stack.var / "dev-admin-password").read_text().strip()
    tokens = httpx.post(
        f"{stack.url['identity']}/v1/sessions",
        json={"email": "admin@example.org", "password": password},
    ).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_the_waiting_room_explains_itself_then_the_released_answer_arrives(stack, browser):
    # Far enough ahead for the setup below (an account, a sign-in, axe and two screenshots: 5-8 s
    # here, twice that on a loaded machine) to end before the room is released.
    opens = datetime.now(UTC) + timedelta(seconds=15)
    pid, (slot1, _) = stack.program(
        name="Fair Splash", registration_opens_at=opens.isoformat(), opening_window_seconds=4
    )
    (section,) = stack.klass(pid, "Rockets", [(5, slot1)])
    student, email, headers = stack.account("Lin")
    stack.complete_profile(pid, student, headers)
    time.sleep(1.5)  # registration hears of the profile
    me = Person(browser, stack)
    me.sign_in(email)
    page = me.go(f"/programs/{pid}/catalog")
    room = page.locator(".waiting-room")
    assert "released in a random order" in room.inner_text()
    assert "keep your place" in room.inner_text()
    me.check("waiting-room")
    page.get_by_role("button", name="Add Rockets, section 1").click()
    assert "random order" in me.status("random order")
    assert "Enrolled" in me.status("Done|Not", timeout=40_000)
    assert section


def test_a_student_signs_in_and_registers_with_the_keyboard_alone(stack, browser):
    """Tab and Enter only, from the skip link to the answer; every stop shows where focus is."""
    pid, (slot1, slot2) = stack.program(name="Keyboard Splash")
    (warmup,) = stack.klass(pid, "Juggling", [(3, slot1)])
    (section,) = stack.klass(pid, "Cryptography", [(3, slot2)])
    student, email, headers = stack.account("Kay")
    stack.complete_profile(pid, student, headers)
    assert stack.enroll(pid, student, warmup, headers) == "accepted"  # the profile is known
    me = Person(browser, stack)
    page = me.go("/signin")
    skip = page.get_by_role("link", name="Skip to the content")
    tab_to(page, skip)
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(email)
    tab_to(page, page.get_by_label("Password"))
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/$"))
    page = me.go(f"/programs/{pid}/catalog")
    tab_to(page, page.get_by_role("button", name="Add Cryptography, section 1"))
    page.keyboard.press("Enter")
    assert "Enrolled" in me.status("Done|Not")
    page.wait_for_load_state("load")
    drop = page.get_by_role("button", name="Drop Cryptography, section 1")
    drop.wait_for(timeout=15_000)
    tab_to(page, drop)
    assert not me.errors, me.errors
    assert section


def test_a_browser_without_the_submitters_name_sends_the_button_pressed(stack, browser):
    """Safari before 15.4 has no ``event.submitter``: the catalog (one form) must still send
    the request of the button pressed, not the form's first button (here: drop Astronomy)."""
    pid, (slot1, slot2) = stack.program(name="Old Browser Splash")
    (astronomy,) = stack.klass(pid, "Astronomy", [(3, slot1)])
    (botany,) = stack.klass(pid, "Botany", [(3, slot2)])
    student, email, headers = stack.account("Sam")
    stack.complete_profile(pid, student, headers)
    assert stack.enroll(pid, student, astronomy, headers) == "accepted"
    me = Person(browser, stack)
    me.context.add_init_script(
        "Object.defineProperty(SubmitEvent.prototype, 'submitter', { get() { return null; } });"
    )
    me.sign_in(email)
    page = me.go(f"/programs/{pid}/catalog")
    assert page.evaluate("() => new SubmitEvent('submit').submitter") is None
    page.get_by_role("button", name="Add Botany, section 1").click()
    assert "Enrolled" in me.status("Done|Not")
    held = httpx.get(
        f"{stack.url['registration']}/v1/programs/{pid}/students/{student}/sections",
        params={"verbs": "Enrolled"},
        headers=stack.admin,
    ).json()["sections"]
    assert sorted(s["section_id"] for s in held) == sorted([astronomy, botany])
    assert not me.errors, me.errors


def test_an_answer_that_comes_before_the_reply_to_its_request_is_still_shown(stack, browser):
    """A worker can decide, and the stream deliver, before the browser has read the 202 (CI
    saw it): the page keeps that outcome until the reply names it. The reply is held here
    until the page has had the outcome."""
    pid, (slot1, _) = stack.program(name="Quick Answer Splash")
    (geology,) = stack.klass(pid, "Geology", [(3, slot1)])
    student, email, headers = stack.account("Quinn")
    stack.complete_profile(pid, student, headers)
    me = Person(browser, stack)
    me.context.add_init_script(
        """window.heard = [];
        const Native = window.EventSource;
        window.EventSource = class extends Native {
          constructor(url, init) {
            super(url, init);
            this.addEventListener("outcome", (e) => window.heard.push(JSON.parse(e.data).id));
          }
        };"""
    )
    me.sign_in(email)
    held: list[object] = []
    page = me.go(f"/programs/{pid}/catalog")
    page.route(re.compile(rf".*/programs/{pid}/requests$"), lambda route: held.append(route))
    page.get_by_role("button", name="Add Geology, section 1").click()
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    (route,) = held
    reply = route.fetch()
    request_id = reply.json()["id"]
    page.wait_for_function("id => window.heard.includes(id)", arg=request_id, timeout=20_000)
    route.fulfill(response=reply)
    assert "Done: Enrolled" in me.status("Done|Not")
    held_now = httpx.get(
        f"{stack.url['registration']}/v1/programs/{pid}/students/{student}/sections",
        headers=stack.admin,
    ).json()["sections"]
    assert [s["section_id"] for s in held_now] == [geology]
    assert not me.errors, me.errors


def tab_to(page: object, target: object, limit: int = 400) -> None:
    """Press Tab until ``target`` has the focus; each element passed on the way must show a
    focus indicator (an outline or a shadow), or a keyboard user would be lost."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        shown = page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return true;
                const s = getComputedStyle(e);
                return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
                    || s.boxShadow !== 'none';
            }"""
        )
        focused = page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)")
        assert shown, f"no focus indicator on {focused}"
        if target.evaluate("node => node === document.activeElement"):
            return
    raise AssertionError(f"{target} never took the focus in {limit} presses of Tab")


def test_an_organiser_builds_a_program_from_a_csv_and_watches_the_board(stack, browser):
    admin = Person(browser, stack)
    admin.sign_in("admin@example.org", (stack.var / "dev-admin-password").read_text().strip())
    page = admin.go("/admin/")
    admin.check("admin-programs")
    page.get_by_label("Name").fill("Board Splash")
    page.get_by_label("Time zone").fill("America/New_York")
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r".*/admin/programs/\d+"))
    pid = int(page.url.rsplit("/", 1)[1].split("#")[0])
    for start, end in (
        ("2026-12-05T10:00", "2026-12-05T10:50"),
        ("2026-12-05T11:00", "2026-12-05T11:50"),
    ):
        page.locator("#timeslot form #f-start").fill(start)
        page.locator("#timeslot form #f-end").fill(end)
        page.locator("#timeslot form button").click()
        page.wait_for_load_state("load")
    slots = httpx.get(
        f"{stack.url['registration']}/v1/programs/{pid}/timeslots", headers=stack.admin
    ).json()["timeslots"]
    one, two = slots[0]["id"], slots[1]["id"]
    header = "title,grade_min,grade_max,capacity,timeslot_ids\n"
    bad = f"{header}Knots,7,12,5,{one}\nOrigami,9,7,5,{two}\n"
    csv_file = stack.var / "classes.csv"
    csv_file.write_text(bad)
    page.locator("#f-file").set_input_files(str(csv_file))
    page.locator("#import form button").click()
    page.locator(".error-box", has_text="row 3").wait_for()
    assert "grade_max" in page.locator(".error-box").inner_text()
    catalog = httpx.get(
        f"{stack.url['registration']}/v1/programs/{pid}/catalog", headers=stack.admin
    )
    assert catalog.json()["classes"] == []  # nothing saved
    admin.check("admin-program-import-error")
    good = bad.replace("Origami,9,7", "Origami,7,9") + f"Knots,7,12,5,{two}\n"
    csv_file.write_text(good)
    page.locator("#f-file").set_input_files(str(csv_file))
    page.locator("#import form button").click()
    page.locator(".flash", has_text="Imported 2 classes with 3 sections").wait_for()
    classes = httpx.get(
        f"{stack.url['registration']}/v1/programs/{pid}/catalog", headers=stack.admin
    ).json()["classes"]
    assert sorted((c["title"], len(c["sections"])) for c in classes) == [
        ("Knots", 2),
        ("Origami", 1),
    ]

    page = admin.go(f"/admin/programs/{pid}/board")
    page.locator("[data-board-queues] tr td").first.wait_for()
    before = float(page.locator("[data-board-rate]").inner_text())
    section = classes[0]["sections"][0]["id"]
    students = [stack.account(f"S{n}") for n in range(6)]
    for student, _, headers in students:
        stack.complete_profile(pid, student, headers)
    stack.await_profile_known(pid, students[-1][0], section, students[-1][2])
    for student, _, headers in students:
        httpx.post(
            f"{stack.url['registration']}/v1/programs/{pid}/registration-requests",
            json={"student_id": student, "action": "enroll", "section_id": section},
            headers=headers,
        )
    rejections = page.locator("[data-board-rejections]")
    rejections.filter(has_text="section_full").wait_for(timeout=20_000)
    admin.check("board")
    assert before >= 0
    assert not admin.errors, admin.errors


def test_every_page_answers_with_the_security_headers(stack):
    for path in ("/", "/signin", "/signup", "/reset"):
        answer = httpx.get(stack.web + path)
        policy = answer.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and "script-src 'self'" in policy, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "Bearer" not in answer.text and "eyJ" not in answer.text
    refused = httpx.post(stack.web + "/signin", data={"email": "a@b.org", "password": "x"})
    assert refused.status_code == 400  # no CSRF token: refused before anything happens


def test_a_lottery_run_from_its_page_reaches_the_students_schedule(stack, browser):
    pid, (slot1, slot2) = stack.program(name="Lottery Splash", use_priority=True, priority_limit=2)
    stack.klass(pid, "Robotics", [(1, slot1)])
    stack.klass(pid, "Poetry", [(3, slot2)])
    student, email, headers = stack.account("Kit")
    stack.complete_profile(pid, student, headers)
    me = Person(browser, stack)
    me.sign_in(email)
    page = me.go(f"/programs/{pid}/lottery")
    deadline = time.monotonic() + 30  # the lottery learns the catalog and grades by events
    while True:
        page.get_by_role("button", name=re.compile("Robotics")).click()
        page.wait_for_load_state("load")
        if page.locator(".flash", has_text="Saved").count() or time.monotonic() > deadline:
            break
        time.sleep(1)
        page = me.go(f"/programs/{pid}/lottery")
    assert page.get_by_role("button", name=re.compile("★ Robotics")).count() == 1
    page.get_by_label("Choice 1").first.select_option(label="Robotics")
    page.get_by_role("button", name="Save the priorities").click()
    page.locator(".flash", has_text="Saved").wait_for()
    me.check("lottery")

    admin = Person(browser, stack)
    admin.sign_in("admin@example.org", (stack.var / "dev-admin-password").read_text().strip())
    page = admin.go(f"/admin/programs/{pid}/lottery")
    page.get_by_label("Seed").fill("7")
    page.get_by_role("button", name="Start a run").click()
    deadline = time.monotonic() + 60
    while not page.get_by_role("button", name=re.compile("Commit run")).count():
        assert time.monotonic() < deadline, page.locator("main").inner_text()
        time.sleep(1)
        page = admin.go(f"/admin/programs/{pid}/lottery")
    admin.check("admin-lottery")
    page.get_by_label(re.compile("Enroll every student")).check()
    page.get_by_role("button", name=re.compile("Commit run")).click()
    page.locator(".flash", has_text="Done").wait_for()
    deadline = time.monotonic() + 60
    while True:
        page = me.go(f"/programs/{pid}/schedule")
        if "Robotics" in page.locator("table.timetable").inner_text():
            break
        assert time.monotonic() < deadline, "the committed run never reached the schedule"
        time.sleep(1)
    assert not me.errors and not admin.errors, (me.errors, admin.errors)
