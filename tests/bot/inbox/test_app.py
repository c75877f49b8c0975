"""The inbox over HTTP: a real Sanic server on 127.0.0.1, a real SQLite store, and a
stand-in Rasa API. Login (throttled, server-side sessions), queue permissions, CSRF,
escaping, filters, and what assign, reply, live turns and resolve do to the ticket and
to the conversation in Rasa."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import httpx
import pytest

from bot.inbox import auth
from bot.inbox.rasa_api import ASK_CSAT_INTENT
from bot.tickets.model import Turn, format_ref
from tests.bot.inbox.conftest import (
    PASSWORD,
    T0,
    TOKEN,
    RunningInbox,
    csrf_of,
    login,
    sl_draft,
)

# ---------------------------------------------------------------- login


async def test_every_page_requires_login(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft())
    async with inbox.client() as c:
        for path in ("/tickets", f"/tickets/{ticket.ref}", "/metrics"):
            resp = await c.get(path)
            assert resp.status_code == 302, path
            assert resp.headers["location"].startswith("/login?next=")
        turns = await c.get(f"/tickets/{ticket.ref}/turns")
        assert turns.status_code == 401
        assert turns.json() == {"error": "log in first"}
        assert (await c.get("/health")).json()["status"] == "ok"


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    inbox: RunningInbox,
) -> None:
    async with inbox.client() as c:
        wrong_pw = await login(c, "maja", "not the password")
        no_agent = await login(c, "nobody", "not the password")
        assert wrong_pw.status_code == no_agent.status_code == 401
        assert "Wrong name or password." in wrong_pw.text
        assert "Wrong name or password." in no_agent.text
        assert "inbox_session" not in c.cookies


async def test_login_sets_a_signed_httponly_samesite_cookie(
    inbox: RunningInbox,
) -> None:
    async with inbox.client() as c:
        resp = await login(c, "maja")
        assert resp.status_code == 303
        assert resp.headers["location"] == "/tickets"
        header = next(
            h
            for h in resp.headers.get_list("set-cookie")
            if h.startswith("inbox_session=")
        )
        lowered = header.lower()
        assert (
            "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
        )
        assert "secure" not in lowered  # plain http on 127.0.0.1 (the default)
        value = c.cookies["inbox_session"]
        stamp = auth.credential_stamp(inbox.ctx.settings.agents["maja"].password_hash)
        session = inbox.ctx.sessions.get(value, lambda _: stamp, inbox.ctx.clock())
        assert session is not None and session.agent == "maja"
        # A made-up cookie names no session.
        c.cookies.set("inbox_session", value.replace(value[:4], "AAAA"))
        assert (await c.get("/tickets")).status_code == 302


async def test_secure_cookies_setting_marks_the_session_cookie_secure(
    inbox: RunningInbox,
) -> None:
    inbox.ctx.settings = dataclasses.replace(inbox.ctx.settings, secure_cookies=True)
    async with inbox.client() as c:
        page = await c.get("/login")
        # The client talks plain http, so it keeps the Secure cookie to itself: hand it
        # over as a browser on https would.
        login_cookie = page.headers["set-cookie"]
        assert "secure" in login_cookie.lower()
        token = login_cookie.split(";")[0].split("=", 1)[1]
        c.cookies.set("inbox_login_csrf", token)
        resp = await c.post(
            "/login", data={"name": "maja", "password": PASSWORD, "csrf": token}
        )
        assert resp.status_code == 303
    header = next(
        h for h in resp.headers.get_list("set-cookie") if h.startswith("inbox_session=")
    )
    assert "secure" in header.lower()


async def test_a_session_cookie_stops_working_after_logout(inbox: RunningInbox) -> None:
    async with inbox.client() as c:
        await login(c, "maja")
        stolen = c.cookies["inbox_session"]
        token = await csrf_of(c, "/tickets")
        out = await c.post("/logout", data={"csrf": token})
        assert out.status_code == 303
    async with inbox.client() as attacker:
        attacker.cookies.set("inbox_session", stolen)
        resp = await attacker.get("/tickets")
        assert resp.status_code == 302
        assert resp.headers["location"].startswith("/login")


async def test_a_password_change_ends_the_older_sessions(inbox: RunningInbox) -> None:
    async with inbox.client() as c:
        await login(c, "maja")
        assert (await c.get("/tickets")).status_code == 200
        maja = inbox.ctx.settings.agents["maja"]
        changed = dataclasses.replace(maja, password_hash=auth.hash_password("n3w-pass!"))
        inbox.ctx.settings = dataclasses.replace(
            inbox.ctx.settings, agents={**inbox.ctx.settings.agents, "maja": changed}
        )
        assert (await c.get("/tickets")).status_code == 302


@pytest.fixture()
def scrypt_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check the inbox runs (the real scrypt still runs)."""
    runs: list[str] = []
    real = auth.verify_password

    def counting(password: str, stored: str) -> bool:
        runs.append(password)
        return real(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting)
    return runs


async def test_the_sixth_wrong_password_is_locked_out_before_scrypt_runs(
    inbox: RunningInbox, scrypt_runs: list[str]
) -> None:
    async with inbox.client() as c:
        for i in range(5):
            assert (await login(c, "maja", f"guess-{i}")).status_code == 401
        sixth = await login(c, "maja", PASSWORD)  # even the right password waits
    assert sixth.status_code == 429
    assert "Too many failed logins" in sixth.text
    assert 1 <= int(sixth.headers["retry-after"]) <= 30
    assert "inbox_session" not in sixth.cookies
    assert len(scrypt_runs) == 5


async def test_concurrent_guesses_cannot_pass_the_limit_together(
    inbox: RunningInbox, scrypt_runs: list[str]
) -> None:
    async with inbox.client() as c:
        page = await c.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]

        async def guess(i: int) -> int:
            data = {"name": "sam", "password": f"g{i}", "csrf": csrf, "next": "/"}
            return (await c.post("/login", data=data)).status_code

        codes = await asyncio.gather(*(guess(i) for i in range(20)))
    assert sorted(codes) == [401] * 5 + [429] * 15
    assert len(scrypt_runs) == 5


async def test_one_address_guessing_many_accounts_is_locked_out_too(
    inbox: RunningInbox, scrypt_runs: list[str]
) -> None:
    async with inbox.client() as c:
        codes = [
            (await login(c, name, "wrong-password")).status_code
            for name in ["maja", "sam", "lea", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8"]
        ]
    assert codes == [401] * 10 + [429]
    assert len(scrypt_runs) == 10


async def test_a_good_login_clears_the_failures(inbox: RunningInbox) -> None:
    async with inbox.client() as c:
        for _ in range(4):
            await login(c, "maja", "typo")
        assert (await login(c, "maja")).status_code == 303
        for _ in range(4):
            assert (await login(c, "maja", "typo")).status_code == 401


async def test_login_redirects_only_to_local_paths(inbox: RunningInbox) -> None:
    async with inbox.client() as c:
        page = await c.get("/login?next=//evil.example/x")
        assert 'name="next" value="/tickets"' in page.text


async def test_login_form_without_its_csrf_token_is_refused(
    inbox: RunningInbox,
) -> None:
    async with inbox.client() as c:
        await c.get("/login")
        resp = await c.post("/login", data={"name": "maja", "password": "x" * 12})
        assert resp.status_code == 403
        assert "inbox_session" not in c.cookies


# ---------------------------------------------------------------- queues and filters


async def test_the_list_shows_only_the_agents_queues(inbox: RunningInbox) -> None:
    sl = inbox.store.create(sl_draft("web-a"))
    en = inbox.store.create(sl_draft("web-b", language="en", queue="billing-en"))
    async with inbox.client() as c:
        await login(c, "maja")
        page = (await c.get("/tickets")).text
        assert sl.ref in page and en.ref not in page
    async with inbox.client() as c:
        await login(c, "sam")
        page = (await c.get("/tickets")).text
        assert en.ref in page and sl.ref not in page


async def test_a_ticket_outside_the_agents_queues_answers_like_one_that_does_not_exist(
    inbox: RunningInbox,
) -> None:
    sl = inbox.store.create(sl_draft("web-a"))
    missing = format_ref(sl.number + 1000)

    def same(foreign: httpx.Response, unknown: httpx.Response) -> None:
        assert foreign.status_code == unknown.status_code == 404
        def masked(text: str, number: int) -> str:
            ref = format_ref(number)
            return text.replace(ref, "REF").replace(f"number {number}", "N")

        assert masked(foreign.text, sl.number) == masked(unknown.text, sl.number + 1000)

    async with inbox.client() as c:
        await login(c, "sam")
        assert (await c.get("/tickets?queue=orders-sl")).status_code == 403
        page = await c.get(f"/tickets/{sl.ref}")
        assert "Moj paket" not in page.text and "orders-sl" not in page.text
        same(page, await c.get(f"/tickets/{missing}"))
        same(
            await c.get(f"/tickets/{sl.ref}/turns"),
            await c.get(f"/tickets/{missing}/turns"),
        )
        token = await csrf_of(c, "/tickets")
        for action in ("assign", "resolve", "note", "reply"):
            data = {"csrf": token, "text": "x"}
            same(
                await c.post(f"/tickets/{sl.ref}/{action}", data=data),
                await c.post(f"/tickets/{missing}/{action}", data=data),
            )
    assert inbox.store.get(sl.number).assignee is None  # type: ignore[union-attr]
    assert inbox.rasa.calls == []


async def test_filters_narrow_the_list(inbox: RunningInbox) -> None:
    normal = inbox.store.create(sl_draft("web-a"))
    high = inbox.store.create(sl_draft("web-b", priority="high"))
    late = inbox.store.create(
        sl_draft(
            "web-c",
            after_hours=True,
            promised_reply_at=T0 + timedelta(hours=20),
            queue="billing-sl",
        )
    )
    inbox.store.assign(normal.number, "maja")
    async with inbox.client() as c:
        await login(c, "maja")

        async def refs(query: str) -> set[str]:
            resp = await c.get(f"/tickets?{query}")
            assert resp.status_code == 200, resp.text
            return {t.ref for t in (normal, high, late) if t.ref in resp.text}

        assert await refs("") == {normal.ref, high.ref, late.ref}
        assert await refs("priority=high") == {high.ref}
        assert await refs("after_hours=yes") == {late.ref}
        assert await refs("after_hours=no") == {normal.ref, high.ref}
        assert await refs("queue=billing-sl") == {late.ref}
        assert await refs("status=open") == {normal.ref}
        assert await refs("mine=1") == {normal.ref}
        assert await refs("language=en") == set()
        assert (await c.get("/tickets?status=closed")).status_code == 400


# ---------------------------------------------------------------- safety


async def test_customer_text_is_escaped(inbox: RunningInbox) -> None:
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    ticket = inbox.store.create(
        sl_draft(
            "web-x",
            summary=evil,
            transcript=[Turn(T0, "customer", evil, "sl", message_id="m1")],
        )
    )
    async with inbox.client() as c:
        await login(c, "maja")
        page = (await c.get(f"/tickets/{ticket.ref}")).text
        listing = (await c.get("/tickets")).text
    for html in (page, listing):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(" in html
    # The only script is the inbox's own file (and the CSP forbids inline ones).
    assert page.count("<script") == 1 and '<script src="/static/inbox.js">' in page


async def test_a_crafted_link_shows_no_banner_and_fills_in_no_reply(
    inbox: RunningInbox,
) -> None:
    ticket = inbox.store.create(sl_draft("web-msg"))
    banner = "<script>alert(1)</script>Your password expired: call +386 1 234"
    async with inbox.client() as c:
        await login(c, "maja")
        page = await c.get(
            f"/tickets/{ticket.ref}", params={"msg": banner, "draft": "Send me your PIN"}
        )
    assert page.status_code == 200
    assert "password expired" not in page.text and "alert(1)" not in page.text
    assert "Send me your PIN" not in page.text
    assert '<p class="message"' not in page.text


async def test_the_banner_after_an_action_is_shown_once(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft("web-flash"))
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        resp = await c.post(f"/tickets/{ticket.ref}/assign", data={"csrf": token})
        assert resp.headers["location"] == f"/tickets/{ticket.ref}"
        first = (await c.get(resp.headers["location"])).text
        again = (await c.get(resp.headers["location"])).text
    assert "Assigned to you" in first and "Assigned to you" not in again


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(
    inbox: RunningInbox,
) -> None:
    ticket = inbox.store.create(sl_draft())
    async with inbox.client() as c:
        await login(c, "maja")
        for data in ({}, {"csrf": "guessed"}):
            for action in ("assign", "reply", "note", "resolve"):
                resp = await c.post(
                    f"/tickets/{ticket.ref}/{action}", data={**data, "text": "hello"}
                )
                assert resp.status_code == 403, action
                assert "security token" in resp.text
    stored = inbox.store.get(ticket.number)
    assert stored is not None and stored.status == "new" and stored.assignee is None
    assert [e.kind for e in inbox.store.events(ticket.number)] == ["created"]
    assert inbox.rasa.calls == []


# ---------------------------------------------------------------- conversation control


async def test_assign_pauses_the_bot_and_opens_the_ticket(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft("web-p"))
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        resp = await c.post(f"/tickets/{ticket.ref}/assign", data={"csrf": token})
        assert resp.status_code == 303
    assert inbox.rasa.kinds("web-p") == ["pause"]
    stored = inbox.store.get(ticket.number)
    assert stored is not None and stored.assignee == "maja" and stored.status == "open"


async def test_reply_reaches_the_channel_and_the_transcript(
    inbox: RunningInbox,
) -> None:
    ticket = inbox.store.create(sl_draft("web-r"))
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        resp = await c.post(
            f"/tickets/{ticket.ref}/reply",
            data={"csrf": token, "text": "Pozdravljeni, preverim."},
        )
        assert resp.status_code == 303
    # Replying to an unassigned ticket takes it: pause first, then the message.
    assert inbox.rasa.kinds("web-r") == ["pause", "bot"]
    (call,) = [x for x in inbox.rasa.calls if x[3] and x[3][0]["event"] == "bot"]
    assert call[2]["output_channel"] == "latest"
    assert call[2]["execute_side_effects"] == "true"
    assert inbox.rasa.sent[0][1]["text"] == "Pozdravljeni, preverim."
    assert inbox.rasa.sent[0][1]["metadata"]["speaker"] == "agent"
    stored = inbox.store.get(ticket.number)
    assert stored is not None
    last = stored.transcript[-1]
    assert (last.speaker, last.text, last.language) == (
        "agent",
        "Pozdravljeni, preverim.",
        "sl",
    )
    assert stored.first_response_at is not None and stored.assignee == "maja"


async def test_a_reply_that_cannot_be_delivered_is_not_lost(
    inbox: RunningInbox,
) -> None:
    ticket = inbox.store.create(sl_draft("web-down"))
    inbox.rasa.fail_with = 500
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        resp = await c.post(
            f"/tickets/{ticket.ref}/reply",
            data={"csrf": token, "text": "Takoj preverim <b>to</b>."},
        )
    assert resp.status_code == 503
    assert "Not sent" in resp.text
    assert "Takoj preverim &lt;b&gt;to&lt;/b&gt;.</textarea>" in resp.text
    stored = inbox.store.get(ticket.number)
    assert stored is not None and stored.assignee is None
    assert [t.speaker for t in stored.transcript] == ["customer", "bot", "customer"]


async def test_new_customer_messages_reach_the_ticket_and_the_page(
    inbox: RunningInbox,
) -> None:
    ticket = inbox.store.create(sl_draft("web-live"))
    async with inbox.client() as c:
        await login(c, "maja")
        first = (await c.get(f"/tickets/{ticket.ref}/turns?after=3")).json()
        assert first["turns"] == [] and first["count"] == 3
        inbox.rasa.customer_says("web-live", "Ali ste tam? <script>x</script>")
        second = (await c.get(f"/tickets/{ticket.ref}/turns?after=3")).json()
        # Reading the same tracker again appends nothing twice.
        third = (await c.get(f"/tickets/{ticket.ref}/turns?after=4")).json()
    assert [t["text"] for t in second["turns"]] == ["Ali ste tam? <script>x</script>"]
    assert second["count"] == 4 and third["turns"] == []
    stored = inbox.store.get(ticket.number)
    assert stored is not None and stored.transcript[-1].text.startswith("Ali ste tam?")
    assert "customer_message" in [e.kind for e in inbox.store.events(ticket.number)]


async def test_notes_stay_internal(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft("web-n"))
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        resp = await c.post(
            f"/tickets/{ticket.ref}/note",
            data={"csrf": token, "text": "Preveri pri kurirju"},
        )
        assert resp.status_code == 303
        page = (await c.get(resp.headers["location"])).text
    assert "Preveri pri kurirju" in page
    assert inbox.rasa.sent == []
    assert [e.kind for e in inbox.store.events(ticket.number)][-1] == "note"


async def test_resolve_resumes_the_bot_and_asks_for_csat(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft("web-z"))
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        await c.post(f"/tickets/{ticket.ref}/assign", data={"csrf": token})
        resp = await c.post(f"/tickets/{ticket.ref}/resolve", data={"csrf": token})
        assert resp.status_code == 303
    assert inbox.rasa.kinds("web-z") == ["pause", "resume"]
    triggers = [x for x in inbox.rasa.calls if x[0] == "trigger_intent"]
    assert [(t[1], t[3]["name"]) for t in triggers] == [("web-z", ASK_CSAT_INTENT)]
    stored = inbox.store.get(ticket.number)
    assert stored is not None and stored.status == "resolved" and stored.resolved_at
    # The trigger is no customer message: the transcript does not grow with it.
    assert [t.speaker for t in stored.transcript] == ["customer", "bot", "customer"]


async def test_another_agents_ticket_cannot_be_taken_over(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft("web-o"))
    inbox.store.assign(ticket.number, "lea")
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        for action in ("assign", "resolve"):
            resp = await c.post(f"/tickets/{ticket.ref}/{action}", data={"csrf": token})
            assert resp.status_code == 409, action
            assert "assigned to lea" in resp.text
    # Reading the conversation is fine; changing it is not.
    assert {kind for kind, *_ in inbox.rasa.calls} == {"tracker"}


async def test_the_rasa_token_never_reaches_the_browser(inbox: RunningInbox) -> None:
    ticket = inbox.store.create(sl_draft("web-t"))
    async with inbox.client() as c:
        await login(c, "maja")
        pages = [
            await c.get(p)
            for p in (
                "/tickets",
                f"/tickets/{ticket.ref}",
                f"/tickets/{ticket.ref}/turns",
            )
        ]
    assert all(TOKEN not in p.text for p in pages)


async def test_metrics_cover_only_the_agents_queues(inbox: RunningInbox) -> None:
    rated = inbox.store.create(sl_draft("web-m1"))
    other = inbox.store.create(sl_draft("web-m2", queue="billing-en", language="en"))
    for number, score in ((rated.number, 4), (other.number, 1)):
        inbox.store.resolve(number, "maja")
        inbox.store.ask_csat(number)
        inbox.store.set_csat(number, score)
    async with inbox.client() as c:
        await login(c, "maja")
        page = (await c.get("/metrics")).text
    assert "1 tickets in your queues." in page
    assert "4.00 (1)" in page and "billing-en" not in page
    assert "orders-sl" in page and "asked_for_human" in page


async def test_a_ticket_reference_that_is_no_number_is_404(inbox: RunningInbox) -> None:
    async with inbox.client() as c:
        await login(c, "maja")
        assert (await c.get("/tickets/LU-999999")).status_code == 404
        assert (await c.get("/tickets/nonsense")).status_code == 404


def test_module_uses_a_real_client() -> None:
    assert httpx.AsyncClient  # the tests talk HTTP to real servers, no test client
