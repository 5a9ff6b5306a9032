"""Who may read and review alerts through the API: sign-in sessions with CSRF protection, roles, API
tokens, rate-limited sign-in, the audit trail and optimistic concurrency (the app served by uvicorn on
a loopback port, on a real SQLite or PostgreSQL store)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from fraudguard.alerts.accounts import AccountError, Accounts
from fraudguard.alerts.api import CSRF_COOKIE, CSRF_HEADER, Access, create_app
from fraudguard.alerts.context import ScoredHistory
from fraudguard.alerts.service import _first_admin, _session_secret
from fraudguard.alerts.store import AlertStore, ReviewConflict, ReviewStatus, Role, users
from fraudguard.config import ConfigError, load_settings
from fraudguard.schemas import ALERT
from tests.conftest import CONFIG_FILE, free_port
from tests.samples.alerts import sample_alerts

PASSWORDS = {"rita": "rita-reviews-alerts", "vic": "vic-only-watches", "ada": "ada-administers-all"}
ROLES = {"rita": Role.REVIEWER, "vic": Role.VIEWER, "ada": Role.ADMIN}


@pytest.fixture
def store(tmp_path):
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.db'}")
    store.add([ALERT.decode(value) for value in sample_alerts(5, seed=1)[1]])
    accounts = Accounts(store)
    for name, password in PASSWORDS.items():
        accounts.add_user(name, password, ROLES[name])
    yield store
    store.close()


@contextlib.contextmanager
def serving(
    store: AlertStore, open_reads: bool = True, history: ScoredHistory | None = None, **access: object
) -> Iterator[str]:
    """The API on a free loopback port, in a thread, until the block ends; yields its URL."""
    permissions = Access("test-secret", open_reads, **access)  # type: ignore[arg-type]
    app = create_app(store, Accounts(store), permissions, dict, history=history)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def api(store) -> Iterator[str]:
    with serving(store) as url:
        yield url


def client_for(url: str, token: str | None = None) -> httpx.Client:
    """A browser-like client: it has visited the dashboard page, which sets the CSRF cookie."""
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"} if token else None)
    client.get("/")
    return client


def csrf(client: httpx.Client) -> dict[str, str]:
    return {CSRF_HEADER: client.cookies[CSRF_COOKIE]}


def signed_in(url: str, name: str) -> httpx.Client:
    return signed_in_as(url, name, PASSWORDS[name])


def signed_in_as(url: str, name: str, password: str) -> httpx.Client:
    client = client_for(url)
    answer = client.post("/api/sign-in", json={"username": name, "password": password}, headers=csrf(client))
    assert answer.status_code == 200, answer.text
    return client


def first_alert(store: AlertStore) -> dict:
    return store.find(limit=1)[0]


def test_passwords_are_stored_as_argon2_hashes_that_never_leave_the_store(store, api):
    with store.engine.connect() as connection:
        stored = dict(connection.execute(sa.select(users.c.username, users.c.password_hash)).all())
    assert all(stored[name].startswith("$argon2id$") and password not in stored[name]
               for name, password in PASSWORDS.items())  # fmt: skip
    listed = Accounts(store).users()
    assert {user["username"] for user in listed} == set(PASSWORDS)
    assert all(set(user) == {"username", "role", "created_at"} for user in listed)
    client = signed_in(api, "ada")
    for path in ("/api/me", "/api/tokens", "/api/alerts", "/openapi.json"):
        assert "argon2" not in client.get(path).text and "password_hash" not in client.get(path).text


def test_a_reviewer_confirms_an_alert_and_the_audit_trail_and_precision_follow(store, api):
    client = signed_in(api, "rita")
    assert client.get("/api/me").json() == {"username": "rita", "role": "reviewer"}
    alert = first_alert(store)
    assert client.get("/api/stats").json()["confirmed_precision"] is None
    change = {"status": "confirmed_fraud", "note": "card blocked", "version": alert["version"]}
    without_csrf = client.patch(f"/api/alerts/{alert['transaction_id']}", json=change)
    assert without_csrf.status_code == 403, "a browser session's write needs the CSRF header"
    reviewed = client.patch(f"/api/alerts/{alert['transaction_id']}", json=change, headers=csrf(client))
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "confirmed_fraud" and reviewed.json()["reviewed_by"] == "rita"
    assert reviewed.json()["version"] == alert["version"] + 1
    audit = client.get(f"/api/alerts/{alert['transaction_id']}/audit").json()
    assert [(a["actor"], a["from_status"], a["to_status"], a["note"]) for a in audit] == [
        ("rita", "new", "confirmed_fraud", "card blocked")
    ]
    assert client.get("/api/stats").json()["confirmed_precision"] == 1.0
    feedback = client.get("/api/feedback").json()
    assert feedback["by_model_version"] == [
        {"model_version": alert["model_version"], "confirmed": 1, "false_positives": 0, "precision": 1.0}
    ]
    assert feedback["labels_queued"] == 1 and feedback["next_training_labels"] == 0, "not published yet"
    exported = client.get("/api/audit.csv").text.splitlines()
    assert exported[0] == "transaction_id,actor,at,from_status,to_status,note,version"
    assert exported[1].startswith(f"{alert['transaction_id']},rita,") and len(exported) == 2


def test_sign_in_without_the_csrf_header_is_refused(store, api):
    client = client_for(api)
    refused = client.post("/api/sign-in", json={"username": "rita", "password": PASSWORDS["rita"]})
    assert refused.status_code == 403


def test_a_viewer_reads_but_cannot_review(store, api):
    client = signed_in(api, "vic")
    alert = first_alert(store)
    assert client.get(f"/api/alerts/{alert['transaction_id']}").status_code == 200
    refused = client.patch(
        f"/api/alerts/{alert['transaction_id']}", json={"status": "false_positive"}, headers=csrf(client)
    )
    assert refused.status_code == 403 and "reviewer role" in refused.json()["detail"]
    assert store.get(alert["transaction_id"])["status"] == "new" and store.audit() == []


def test_signed_out_writes_are_refused(store, api):
    alert = first_alert(store)
    anonymous = client_for(api)
    change = {"status": "false_positive"}
    assert anonymous.patch(f"/api/alerts/{alert['transaction_id']}", json=change).status_code == 401
    client = signed_in(api, "rita")
    assert client.post("/api/sign-out", headers=csrf(client)).status_code == 204
    assert client.get("/api/me").status_code == 401
    assert (
        client.patch(f"/api/alerts/{alert['transaction_id']}", json=change, headers=csrf(client)).status_code
        == 401
    )
    assert store.get(alert["transaction_id"])["status"] == "new"


def test_wrong_passwords_are_rate_limited_per_user_and_client(store):
    with serving(store, sign_in_attempts_per_minute=3) as url:
        client = client_for(url)
        wrong = {"username": "rita", "password": "not-her-password"}
        statuses = [
            client.post("/api/sign-in", json=wrong, headers=csrf(client)).status_code for _ in range(3)
        ]
        assert statuses == [401] * 3
        right = {**wrong, "password": PASSWORDS["rita"]}
        limited = client.post("/api/sign-in", json=right, headers=csrf(client))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1, (
            "even the right one waits"
        )
        other = client.post(
            "/api/sign-in", json={"username": "vic", "password": "wrong"}, headers=csrf(client)
        )
        assert other.status_code == 429, "and so does every other name from that client"


def test_tokens_act_as_their_user_until_revoked(store, api):
    alert = first_alert(store)
    session = signed_in(api, "rita")
    issued = session.post("/api/tokens", json={"name": "nightly script"}, headers=csrf(session))
    assert issued.status_code == 201
    token = issued.json()["token"]
    script = client_for(api, token)
    changed = script.patch(f"/api/alerts/{alert['transaction_id']}", json={"status": "reviewing"})
    assert changed.status_code == 200 and changed.json()["reviewed_by"] == "rita", (
        "no CSRF header: no session"
    )
    assert session.delete(f"/api/tokens/{issued.json()['id']}", headers=csrf(session)).status_code == 204
    refused = script.patch(f"/api/alerts/{alert['transaction_id']}", json={"status": "false_positive"})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    viewer_token = Accounts(store).create_token("vic", "dashboards")[1]
    viewer = client_for(api, viewer_token)
    assert viewer.patch(f"/api/alerts/{alert['transaction_id']}", json={"status": "new"}).status_code == 403
    assert [t.name for t in Accounts(store).tokens() if t.revoked_at is None] == ["dashboards"]


def test_a_removed_users_session_and_tokens_end(store, api):
    client = signed_in(api, "rita")
    token = Accounts(store).create_token("rita", "script")[1]
    assert Accounts(store).remove_user("rita")
    assert client.get("/api/me").status_code == 401
    script = client_for(api, token)
    assert script.get("/api/me").status_code == 401


def test_an_admin_manages_users_through_the_api_and_others_cannot(store, api):
    ada = signed_in(api, "ada")
    new = {"username": "nora", "password": "nora-is-new-here", "role": "reviewer"}
    for name in ("rita", "vic"):
        other = signed_in(api, name)
        assert other.get("/api/users").status_code == 403
        assert other.post("/api/users", json=new, headers=csrf(other)).status_code == 403
    assert ada.post("/api/users", json=new).status_code == 403, "the session's write needs the CSRF header"
    added = ada.post("/api/users", json=new, headers=csrf(ada))
    assert added.status_code == 201 and added.json()["role"] == "reviewer" and "password" not in added.text
    assert ada.post("/api/users", json=new, headers=csrf(ada)).status_code == 422, "exists already"
    short = {**new, "username": "sam", "password": "short"}
    assert "at least 12 characters" in ada.post("/api/users", json=short, headers=csrf(ada)).text
    assert {u["username"] for u in ada.get("/api/users").json()} == {*PASSWORDS, "nora"}
    assert signed_in_as(api, "nora", new["password"]).get("/api/me").json()["role"] == "reviewer"
    assert ada.delete("/api/users/ada", headers=csrf(ada)).status_code == 409, "no admin locks themselves out"
    assert ada.delete("/api/users/nora", headers=csrf(ada)).status_code == 204
    assert ada.delete("/api/users/nora", headers=csrf(ada)).status_code == 404
    assert "nora" not in {u["username"] for u in Accounts(store).users()}


def test_beyond_loopback_reading_needs_a_signed_in_user(store):
    alert_path = f"/api/alerts/{first_alert(store)['transaction_id']}"
    with serving(store, open_reads=False) as url:
        anonymous = client_for(url)
        for path in ("/api/alerts", "/api/alerts.csv", "/api/stats", "/api/audit.csv", alert_path):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.get("/api/health").status_code == 200 and anonymous.get("/").status_code == 200
        assert signed_in(url, "vic").get("/api/alerts").json()["total"] == 5


def test_two_reviewers_changing_the_same_alert_get_one_conflict(store, api):
    alert = first_alert(store)
    rita, ada = signed_in(api, "rita"), signed_in(api, "ada")
    seen = rita.get(f"/api/alerts/{alert['transaction_id']}").json()["version"]
    path = f"/api/alerts/{alert['transaction_id']}"
    first = rita.patch(path, json={"status": "confirmed_fraud", "version": seen}, headers=csrf(rita))
    second = ada.patch(path, json={"status": "false_positive", "version": seen}, headers=csrf(ada))
    assert first.status_code == 200 and second.status_code == 409
    assert "reload it" in second.json()["detail"]
    assert store.get(alert["transaction_id"])["status"] == "confirmed_fraud"
    assert [entry["actor"] for entry in store.audit(alert["transaction_id"])] == ["rita"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_reviews_of_one_version_let_exactly_one_through(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'a.db'}" if kind == "sqlite" else request.getfixturevalue("postgresql")()
    store = AlertStore(url)
    try:
        store.add([ALERT.decode(value) for value in sample_alerts(1, seed=2)[1]])
        transaction_id = first_alert(store)["transaction_id"]
        outcomes: list[str] = []
        start = threading.Barrier(8)

        def review(number: int) -> None:
            start.wait()
            try:
                store.review(
                    transaction_id, ReviewStatus.REVIEWING, f"note {number}", f"r{number}", seen_version=1
                )
                outcomes.append("ok")
            except ReviewConflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=review, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
        assert len(store.audit(transaction_id)) == 1 and store.get(transaction_id)["version"] == 2
    finally:
        store.close()


def test_the_first_admin_comes_from_the_environment_once(tmp_path, caplog):
    environ = {"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)}
    settings = load_settings(CONFIG_FILE, environ=environ)
    store = AlertStore(settings.alerts.database_url)
    try:
        accounts = Accounts(store)
        _first_admin(settings, accounts)
        assert not accounts.any_user() and "nobody can sign in" in caplog.text
        with_password = load_settings(
            CONFIG_FILE, environ={**environ, "FRAUDGUARD__ALERTS__ADMIN_PASSWORD": "first-admin-secret"}
        )
        _first_admin(with_password, accounts)
        assert accounts.authenticate("admin", "first-admin-secret") == accounts.user(1)
        assert accounts.user(1).role is Role.ADMIN
        _first_admin(with_password, accounts)  # a second start changes nothing
        assert len(accounts.users()) == 1
        with pytest.raises(ConfigError, match=r"alerts\.admin_password"):
            load_settings(CONFIG_FILE, environ={**environ, "FRAUDGUARD__ALERTS__ADMIN_PASSWORD": "too-short"})
        with pytest.raises(AccountError, match="at least 12"):
            accounts.add_user("short", "too-short", Role.VIEWER)
    finally:
        store.close()


def test_the_generated_session_key_is_private_and_kept(tmp_path):
    settings = load_settings(CONFIG_FILE, environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path)})
    key = _session_secret(settings)
    assert len(key) >= 48 and _session_secret(settings) == key
    path = tmp_path / "alerts" / "session.key"
    assert path.stat().st_mode & 0o777 == 0o600
    configured = load_settings(
        CONFIG_FILE,
        environ={"FRAUDGUARD__RUNTIME_DIR": str(tmp_path), "FRAUDGUARD__ALERTS__SESSION_SECRET": "s3"},
    )
    assert _session_secret(configured) == "s3"


def test_a_reviewer_reviews_several_alerts_at_once_and_unreviewed_ones_come_first(store, api):
    rita, vic = signed_in(api, "rita"), signed_in(api, "vic")
    newest_first = [a["transaction_id"] for a in rita.get("/api/alerts").json()["alerts"]]
    store.review(newest_first[2], ReviewStatus.REVIEWING, None, "ada")  # now at version 2
    bulk = {
        "alerts": [{"transaction_id": newest_first[0], "version": 1}, {"transaction_id": newest_first[1]},
                   {"transaction_id": newest_first[2], "version": 1}, {"transaction_id": "no-such-alert"}],
        "status": "false_positive",
        "note": "merchant's test payments",
    }  # fmt: skip
    assert vic.post("/api/alerts/review", json=bulk, headers=csrf(vic)).status_code == 403
    outcome = rita.post("/api/alerts/review", json=bulk, headers=csrf(rita)).json()
    assert outcome == {
        "reviewed": newest_first[:2],
        "conflicts": [newest_first[2]],
        "missing": ["no-such-alert"],
    }
    assert [(a["transaction_id"], a["actor"]) for a in store.audit() if a["actor"] == "rita"] == [
        (newest_first[0], "rita"), (newest_first[1], "rita")
    ]  # fmt: skip
    ordered = rita.get("/api/alerts", params={"unreviewed_first": True}).json()["alerts"]
    assert [a["transaction_id"] for a in ordered] == newest_first[3:] + newest_first[:3]
    two = rita.get("/api/alerts", params={"unreviewed_first": True, "limit": 2}).json()["alerts"]
    assert [a["status"] for a in two] == ["new", "new"]
