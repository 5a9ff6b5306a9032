"""Browsing sessions before online payments: the clickstream each checkout ends.

Checkouts of one user on one device less than `SESSION_GAP_MS` apart, from the same scenario (or
none), share a session. What happens before a checkout depends on who pays:

- legitimate customers are quick repeat buyers (login, a view or two, cart, checkout within minutes)
  or long browsers (searches and many views over up to an hour); a few change their address or
  password, so neither is proof of fraud;
- card testing is a bot: no product view, the cart filled and paid again and again within seconds;
- account takeover logs in, changes the password and/or the delivery address, then pays at once;
- fresh-account abuse signs up and pays 1-10 minutes later, having looked at little, then checks out
  again and again in the same session (new customers sign up before their first purchase too);
- the other scenarios pay from a session that looks like anyone's.

Sessions have random draws of their own: the world (users, merchants, transactions) is the same with
or without them.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fraudguard.schemas import SESSION_EVENT
from fraudguard.simulate.products import Catalogue

SESSION_GAP_MS = 30 * 60_000  # web analytics' usual inactivity timeout
QUICK_BUYER_SHARE = 0.6
ADDRESS_CHANGE_SHARE = 0.01  # legitimate customers who move or send a gift elsewhere
PASSWORD_CHANGE_SHARE = 0.005
SIGNUP_SESSION_MS = 3 * 3_600_000  # a first payment this soon after the sign-up: the same session


@dataclass(frozen=True)
class Checkouts:
    """A day's online payments in time order: what a session ends with."""

    transaction_id: np.ndarray
    user_id: np.ndarray
    ts_ms: np.ndarray
    category: np.ndarray
    ip: np.ndarray
    scenario: np.ndarray  # None for a legitimate payment
    signup_ms: np.ndarray  # when the paying account was opened


EVENT_FIELDS = ("session_id", "user_id", "device_ip", "event_type", "event_time", "product_id", "category",
                "transaction_id")  # fmt: skip


class _Events(list[tuple[str, str, str, str, int, str | None, str | None, str | None]]):
    """A day's events as they are made (`EVENT_FIELDS`), in no particular order."""

    def add(self, session: str, user: str, ip: str, kind: str, at_ms: int, product: str | None = None,
            category: str | None = None, transaction: str | None = None) -> None:  # fmt: skip
        self.append((session, user, ip, kind, at_ms, product, category, transaction))


class BrowsingSessions:
    def __init__(self, seed: int, catalogue: Catalogue) -> None:
        self.rng = np.random.default_rng([seed, 2])
        self.catalogue = catalogue
        self.opened: set[str] = set()  # accounts whose sign-up session has been made

    def day(self, checkouts: Checkouts) -> tuple[pa.Table, np.ndarray]:
        """The events of the day's sessions in time order (a session started before midnight keeps its
        earlier events; each checkout names its payment), and each checkout's session id."""
        events = _Events()
        session_of = np.empty(len(checkouts.transaction_id), dtype=object)
        for rows in self._sessions(checkouts):
            session = binascii.hexlify(self.rng.bytes(16)).decode()
            session_of[rows] = session
            self._browse(session, checkouts, rows, events)
        columns = {name: np.array([event[i] for event in events], dtype=object)
                   for i, name in enumerate(EVENT_FIELDS)}  # fmt: skip
        order = np.argsort(columns["event_time"].astype(np.int64), kind="stable")
        ids = np.frombuffer(binascii.hexlify(self.rng.bytes(16 * len(order))), dtype="S32").astype(str)
        table = SESSION_EVENT.table(event_id=ids, **{name: column[order] for name, column in columns.items()})
        return table, session_of

    @staticmethod
    def _sessions(checkouts: Checkouts) -> list[np.ndarray]:
        """Row indexes of each session (one user, device and scenario), in order of its first checkout."""
        scenario = np.array([s or "" for s in checkouts.scenario], dtype=object)
        order = np.lexsort((checkouts.ts_ms, checkouts.ip, scenario, checkouts.user_id))
        sessions: list[list[int]] = []
        previous = None
        for row in order:
            key = (checkouts.user_id[row], checkouts.ip[row], scenario[row])
            if (
                previous is not None
                and key == previous[0]
                and checkouts.ts_ms[row] - previous[1] < SESSION_GAP_MS
            ):
                sessions[-1].append(int(row))
            else:
                sessions.append([int(row)])
            previous = (key, checkouts.ts_ms[row])
        sessions.sort(key=lambda rows: (checkouts.ts_ms[rows[0]], rows[0]))
        return [np.array(rows) for rows in sessions]

    def _browse(self, session: str, checkouts: Checkouts, rows: np.ndarray, events: _Events) -> None:
        rng, first = self.rng, rows[0]
        user, ip, scenario = checkouts.user_id[first], checkouts.ip[first], checkouts.scenario[first]
        paid_ms, signup_ms = int(checkouts.ts_ms[first]), int(checkouts.signup_ms[first])
        opens_account = 0 < paid_ms - signup_ms < SIGNUP_SESSION_MS and user not in self.opened
        if opens_account:
            self.opened.add(user)
        opening = self._before_cart(scenario, paid_ms, signup_ms if opens_account else None)
        category = checkouts.category[first]
        viewed = iter(self.catalogue.product_id[self.catalogue.pick(category, rng, len(opening))])
        for kind, at in opening:
            if kind == "product_view":
                events.add(session, user, ip, kind, at, next(viewed), category)
            else:
                events.add(session, user, ip, kind, at)
        for number, row in enumerate(rows):
            category, paid_at = checkouts.category[row], int(checkouts.ts_ms[row])
            bought = self.catalogue.pick(category, rng)[0]
            if number > 0:  # back to the shop between payments: the cart filled again
                between = max(paid_at - int(checkouts.ts_ms[rows[number - 1]]), 2)
                views = 0 if scenario == "card_testing" else int(rng.integers(0, 3))
                products = self.catalogue.product_id[self.catalogue.pick(category, rng, views)]
                for offset, product in zip(np.sort(rng.uniform(0.1, 0.9, views)), products, strict=True):
                    events.add(session, user, ip, "product_view", paid_at - between + int(offset * between),
                               product, category)  # fmt: skip
            events.add(session, user, ip, "add_to_cart", paid_at - 1, self.catalogue.product_id[bought],
                       category)  # fmt: skip
            events.add(session, user, ip, "checkout", paid_at, self.catalogue.product_id[bought], category,
                       checkouts.transaction_id[row])  # fmt: skip

    def _before_cart(
        self, scenario: str | None, paid_ms: int, signup_ms: int | None
    ) -> list[tuple[str, int]]:
        """The session's events up to its first cart, with their times. A session that opened the
        account (`signup_ms`) starts with the sign-up (then signed in: no login), the browsing spread
        between it and the cart."""
        steps = self._opening(scenario)
        if signup_ms is None:
            at = paid_ms - 1000 - int(sum(gap for _, gap in steps) * 1000)
            timed = [("session_start", at - 1000)]
            for kind, gap in steps:
                at += int(gap * 1000)
                timed.append((kind, at))
            return timed
        rest = [(kind, gap) for kind, gap in steps if kind != "login"]
        room_s = max((paid_ms - signup_ms) / 1000 - 2, 0.0)  # from the sign-up to a second before the cart
        scale = min(1.0, room_s / sum(gap for _, gap in rest)) if rest else 1.0
        at = paid_ms - 1000 - int(sum(gap * scale for _, gap in rest) * 1000)
        timed = [("session_start", signup_ms - 1000), ("signup", signup_ms)]
        for kind, gap in rest:
            at += int(gap * scale * 1000)
            timed.append((kind, at))
        return timed

    def _opening(self, scenario: str | None) -> list[tuple[str, float]]:
        """The events between the session's start and its first cart, each with the seconds before it."""
        rng = self.rng
        if scenario == "card_testing":
            return [("login", rng.uniform(1, 3))] if rng.random() < 0.5 else []
        if scenario == "account_takeover":
            steps = [("login", rng.uniform(3, 15))]
            changes = [kind for kind in ("password_change", "address_change") if rng.random() < 0.7]
            steps += [(kind, rng.uniform(10, 60)) for kind in changes or ["address_change"]]
            return steps + [("product_view", rng.uniform(3, 20)) for _ in range(rng.integers(0, 3))]
        if scenario == "fresh_account_abuse":  # the account it opened minutes ago (`_before_cart`)
            return [("product_view", rng.uniform(3, 30)) for _ in range(rng.integers(0, 3))]
        steps = [("login", rng.uniform(2, 20))] if rng.random() < 0.9 else []  # else still signed in
        if rng.random() < QUICK_BUYER_SHARE:
            views, searches, pause = int(rng.integers(1, 4)), 0, (10, 60)
        else:
            views, searches, pause = int(rng.integers(4, 26)), int(rng.integers(0, 5)), (20, 180)
        browsing = ["product_view"] * views + ["search"] * searches
        rng.shuffle(browsing)
        steps += list(zip(browsing, rng.uniform(*pause, len(browsing)).tolist(), strict=True))
        if rng.random() < ADDRESS_CHANGE_SHARE:
            steps.append(("address_change", rng.uniform(10, 60)))
        if rng.random() < PASSWORD_CHANGE_SHARE:
            steps.insert(min(1, len(steps)), ("password_change", rng.uniform(10, 60)))
        return steps
