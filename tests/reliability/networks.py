"""The three fake networks of the cross-posting crash suite, each with kill points.

`HookedMastodon` and `HookedBluesky` subclass the fakes of tests/fakes (which stay
as they are) the way `HookedX` does: every request waits `delay` seconds once the
fake has acted on it and before its answer is written, `on_request(rec)` runs as
it starts waiting, `on_answer(rec)` once the answer is written, and
`open_requests()` lists the requests acted on and not yet answered.

`Networks` starts one X, one Mastodon instance and one Bluesky PDS per account,
gives the bot's environment for them, and reads back what each network created,
in terms every network shares: `Call(network, kind, account, text)` for a held
request, and per-network counts keyed by (account, post text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tests.reliability.common import HookedX, Holding
from tests.support.env import x_env as base_env, env_name, token

from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.mastodon_server import FakeMastodon

NETWORKS = ("x", "mastodon", "bluesky")
BSKY_POST = "app.bsky.feed.post"
BSKY_PROFILE = "app.bsky.actor.profile"
BSKY_WRITES = ("com.atproto.repo.createRecord", "com.atproto.repo.putRecord")
X_PROFILE = "/1.1/account/update_profile"
MASTODON_STATUS = ("POST", "/api/v1/statuses")
MASTODON_PROFILE = ("PATCH", "/api/v1/accounts/update_credentials")


def mastodon_token(account: str) -> str:
    return f"mtok-{account}-ZZ-LEAKCHECK-M"


def bluesky_password(account: str) -> str:
    return f"app-pass-{account}-ZZ-LEAKCHECK-B"


class HookedMastodon(Holding, FakeMastodon):
    def __init__(self, *args, delay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_holding(delay)

    def __enter__(self) -> HookedMastodon:
        super().__enter__()
        fake = self
        base = self._httpd.RequestHandlerClass

        class Handler(base):
            def _read(self):
                self._rec = super()._read()
                return self._rec

            def _send(self, status, payload, headers=None):
                fake._hold(self._rec)
                try:
                    super()._send(status, payload, headers)
                finally:
                    fake._answered()

        self._httpd.RequestHandlerClass = Handler
        self._httpd.handle_error = lambda request, address: None  # a killed client's broken pipe
        return self


class HookedBluesky(Holding, FakeBluesky):
    def __init__(self, *args, delay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_holding(delay)

    def __enter__(self) -> HookedBluesky:
        super().__enter__()
        fake = self
        base = self._server.RequestHandlerClass

        class Handler(base):
            def _serve(self):
                try:
                    super()._serve()
                finally:
                    fake._answered()

        self._server.RequestHandlerClass = Handler
        self._server.handle_error = lambda request, address: None
        return self

    def handle_request(self, req):
        answer = super().handle_request(req)  # acted on: a record exists from here
        self._hold(req)
        return answer


@dataclass(frozen=True)
class Call:
    """A request as the crash engine sees it, whatever the network."""

    network: str
    kind: str | None  # "post", "profile" or None (uploads, reads, logins)
    account: str | None


class Networks:
    """X, Mastodon and one Bluesky PDS per account, all holding each request `delay` s."""

    def __init__(self, accounts, delay: float = 0.0):
        self.accounts = list(accounts)
        self.x = HookedX(delay=delay)
        self.mastodon = HookedMastodon(tokens={mastodon_token(a): a for a in self.accounts}, delay=delay)
        self.bluesky = {a: HookedBluesky(handle=f"{a}.test", password=bluesky_password(a), delay=delay)
                        for a in self.accounts}
        for account, pds in self.bluesky.items():
            pds.did = "did:plc:" + (account + "z" * 24)[:24]
        self._by_token = {token(a): a for a in self.accounts}

    def __enter__(self) -> Networks:
        self.x.__enter__()
        self.mastodon.__enter__()
        for pds in self.bluesky.values():
            pds.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for pds in self.bluesky.values():
            pds.__exit__(*exc)
        self.mastodon.__exit__(*exc)
        self.x.__exit__(*exc)

    def env(self, **extra) -> dict[str, str]:
        env = base_env(self.x.base_url, self.accounts, MASTODON_TIMEOUT="10", BLUESKY_TIMEOUT="10", **extra)
        for account in self.accounts:
            name = env_name(account)
            env[f"MASTODON_{name}_BASE_URL"] = self.mastodon.base_url
            env[f"MASTODON_{name}_ACCESS_TOKEN"] = mastodon_token(account)
            env[f"BLUESKY_{name}_HANDLE"] = f"{account}.test"
            env[f"BLUESKY_{name}_APP_PASSWORD"] = bluesky_password(account)
            env[f"BLUESKY_{name}_SERVICE"] = self.bluesky[account].base_url
        return env

    # -- hooks ------------------------------------------------------------------

    def fakes(self) -> list[tuple[str, str | None, object]]:
        """(network, account of a per-account fake, fake) for every fake server."""
        return [("x", None, self.x), ("mastodon", None, self.mastodon),
                *(("bluesky", a, pds) for a, pds in self.bluesky.items())]

    def set_hooks(self, on_request=None, on_answer=None) -> None:
        """Hooks called with a `Call` for every held request on any network (None: remove)."""
        for network, account, fake in self.fakes():
            fake.on_request = self._wrap(on_request, network, account)
            fake.on_answer = self._wrap(on_answer, network, account)

    def _wrap(self, hook, network, account):
        if hook is None:
            return None
        return lambda rec: hook(self.call(network, account, rec))

    def call(self, network: str, account: str | None, rec) -> Call:
        if network == "x":
            kind = "post" if rec.path == "/2/tweets" else "profile" if rec.path.startswith(X_PROFILE) else None
            return Call(network, kind, self._by_token.get(rec.token))
        if network == "mastodon":
            where = (rec.method, rec.path)
            kind = "post" if where == MASTODON_STATUS else "profile" if where == MASTODON_PROFILE else None
            return Call(network, kind, (self.mastodon.tokens or {}).get(rec.token))
        collection = rec.json.get("collection") if rec.nsid in BSKY_WRITES and isinstance(rec.json, dict) else None
        kind = "post" if collection == BSKY_POST else "profile" if collection == BSKY_PROFILE else None
        return Call(network, kind, account)

    def open_calls(self) -> list[Call]:
        return [self.call(network, account, rec) for network, account, fake in self.fakes()
                for rec in fake.open_requests()]

    # -- what each network received and created ----------------------------------

    def received(self) -> dict[str, Counter]:
        """Post requests received per network, counted by (account, text)."""
        out = {n: Counter() for n in NETWORKS}
        for rec in self.x.tweets():
            out["x"][(self._by_token.get(rec.token), (rec.json or {}).get("text"))] += 1
        for rec in self.mastodon.requests_to(*MASTODON_STATUS):
            out["mastodon"][((self.mastodon.tokens or {}).get(rec.token), rec.field("status"))] += 1
        for account, pds in self.bluesky.items():
            for rec in pds.calls("com.atproto.repo.createRecord"):
                if isinstance(rec.json, dict) and rec.json.get("collection") == BSKY_POST:
                    out["bluesky"][(account, rec.json["record"].get("text"))] += 1
        return out

    def created(self) -> dict[str, dict[tuple, list[str]]]:
        """Posts each network created, (account, text) -> remote ids in the bot's format."""
        out: dict[str, dict[tuple, list[str]]] = {n: {} for n in NETWORKS}
        for rec in self.x.tweets():
            if rec.created_id:
                out["x"].setdefault((self._by_token.get(rec.token), rec.json.get("text")), []).append(rec.created_id)
        for status in list(self.mastodon.statuses):
            out["mastodon"].setdefault((status["account"]["username"], status["text"]), []).append(status["id"])
        for account, pds in self.bluesky.items():
            with pds._lock:
                records = list(pds.records.items())
            for (collection, rkey), (cid, value) in records:
                if collection == BSKY_POST:
                    remote_id = f"{pds.uri(collection, rkey)}|{cid}"
                    out["bluesky"].setdefault((account, value.get("text")), []).append(remote_id)
        return out

    def worn(self, account: str) -> dict[str, tuple[str | None, bytes | str | None, bytes | str | None]]:
        """Per network: (display name, avatar, banner) the account wears now; images as
        bytes (Mastodon, Bluesky) or sha256 hex (X, whose fake keeps only the digest)."""
        mine = self.x.requests(token=token(account))
        names = [r.params.get("name") for r in mine if r.path == X_PROFILE + ".json"]
        images = [r.files.get("image", {}).get("sha256") for r in mine if r.path == X_PROFILE + "_image.json"]
        banners = [r.files.get("banner", {}).get("sha256") for r in mine if r.path == X_PROFILE + "_banner.json"]
        out = {"x": (names[-1] if names else None, images[-1] if images else None, banners[-1] if banners else None)}
        profile = self.mastodon.profiles.get(mastodon_token(account), {})
        out["mastodon"] = (profile.get("display_name"), profile.get("avatar"), profile.get("header"))
        pds = self.bluesky[account]
        record = pds.records.get((BSKY_PROFILE, "self"), (None, {}))[1]

        def blob(name):
            link = (record.get(name) or {}).get("ref", {}).get("$link")
            return pds.blobs[link][1] if link in pds.blobs else None

        out["bluesky"] = (record.get("displayName"), blob("avatar"), blob("banner"))
        return out
