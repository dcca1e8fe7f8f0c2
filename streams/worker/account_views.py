"""The worker's account API: `GET /accounts/{id}` and `GET /accounts?...` (the portfolio).

Why here: the records are computed by `streams.engine.records.account_records` (the
function `pulse accounts` calls) over the worker's in-memory rows (WorkerBook) at the
worker's clock, and rendered as `pulse accounts --format json` renders them, so the
worker and a replay of the same events give the same JSON. The paths sit under
/accounts, which streams/worker/web_auth.py guards (bearer token or client certificate).

Any worker answers for any account:
- `/accounts/{id}`: the worker finds the partition of the account (the key's partition,
  as Kafka's partitioner gives it) and answers itself when it owns that partition;
  otherwise it asks the worker that does, found with Faust's table routing
  (`app.router.key_store` over the accounts table) and forwards the request with the
  same headers plus `X-Pulse-Routed`. A request that arrives routed is never forwarded
  again: during a rebalance the answer is 503, never a loop.
- `/accounts?band=..&segment=..&owner=..&stage=..&plan=..&sort=-mrr&limit=50`: the
  worker asks every worker of the group (the hosts of `app.router.tables_metadata()`,
  itself included) for its own answer (`X-Pulse-Scope: local`: its top `limit` and how
  many match, over the partitions it owns) and merges them (streams/worker/portfolio_query.py). The
  answer is given only when the answers together cover every partition, exactly once;
  otherwise (a rebalance under way, a worker gone) it is 503 with a JSON reason, and the
  client asks again.
Records come from the worker's record cache (streams/worker/record_cache.py): evaluated at the
worker's clock rounded down to the minute (or at the frozen clock exactly); one account is
always current, the portfolio reads the cached records, which a background task keeps
computing again as accounts change (so it may lag the latest events by that task's round).
Errors are JSON: {"error": code, "message": sentence[, "parameter": name]}: 400 for a bad
query parameter, 404 for an unknown account, 503 while the worker (or the group) cannot
answer for every partition.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from yarl import URL

from streams.contract.rfc3339 import rfc3339_ms
from streams.kafka.topics import partition_of
from streams.worker.portfolio_query import PortfolioQuery, QueryError

if TYPE_CHECKING:
    import faust
    from faust.web import Request, Response

    from streams.worker.app import PulseWorker

log = logging.getLogger("cs-pulse.accounts")
ROUTED_HEADER = "X-Pulse-Routed"
SCOPE_HEADER = "X-Pulse-Scope"
JSON = "application/json"
PEER_TIMEOUT = aiohttp.ClientTimeout(total=15)
# The record cache's refresh: 2 ms of work, then, while records are left to compute, a
# pause of 38 ms while the agent works through a backlog (full batches: at most a
# twentieth of the event loop, consuming comes first; a record computed then is soon
# outdated by the account's next events anyway), of 18 ms while it is busy with events
# as they come (at most a tenth) or of 1 ms while it is idle (the loop is free: the cache
# catches up in seconds once a backlog is consumed, and a request waits at most a slice
# for it); one second when all are current. `GET /accounts/{id}` is current whatever
# the refresh's pace: it computes a changed account's record when asked.
REFRESH_SLICE_S = 0.002
REFRESH_BACKLOG_PAUSE_S = 0.038
REFRESH_BUSY_PAUSE_S = 0.018
REFRESH_IDLE_PAUSE_S = 0.001
REFRESH_PAUSE_S = 1.0
# Headers that belong to one connection, not to the request (RFC 9110 section 7.6.1).
_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "content-length",
        "proxy-authorization",
        "proxy-authenticate",
        "trailer",
    }
)


class AccountViews:
    """The /accounts views of one worker."""

    def __init__(self, worker: PulseWorker) -> None:
        self.worker = worker
        self._session: aiohttp.ClientSession | None = None

    def install(self, app: faust.App) -> None:
        if not self.worker.settings.account_records:  # --no-account-records: no record, no refresh
            app.page("/accounts")(self._off)
            app.page("/accounts/{account_id}")(self._off)
            return
        app.page("/accounts")(self.portfolio)
        app.page("/accounts/{account_id}")(self.account)
        app.task(self._refresh_records)

    async def _off(self, request: Request, account_id: str | None = None) -> Response:
        return self._error(
            404,
            "account_records_off",
            "this worker runs with --no-account-records "
            "(PULSE_ACCOUNT_RECORDS=false): start it without it",
        )

    async def _refresh_records(self) -> None:
        """Keep the record cache warm (streams/worker/record_cache.py), in slices of REFRESH_SLICE_S
        so that the agent keeps its turn on the event loop."""
        cache = self.worker.book.record_cache
        while True:
            done = True
            if self._loaded_partitions() is not None:
                done = cache.refresh(REFRESH_SLICE_S)
            worker = self.worker
            await asyncio.sleep(refresh_pause(done, worker.agent_busy(), worker.catching_up))

    # ---- responses --------------------------------------------------------------------------

    def _json(self, body: Any, status: int = 200) -> Response:
        return self.worker.app.web.bytes(orjson.dumps(body), content_type=JSON, status=status)

    def _error(self, status: int, code: str, message: str, **extra: Any) -> Response:
        return self._json({"error": code, "message": message, **extra}, status)

    def _unavailable(self, message: str) -> Response:
        return self._error(503, "unavailable", message)

    # ---- state ------------------------------------------------------------------------------

    def _loaded_partitions(self) -> set[int] | None:
        """The partitions this worker can answer for now, or None while it cannot. A read
        changes nothing: the agent loads the rows (streams/worker/app.py), a request only looks."""
        worker = self.worker
        if not worker.ready():
            return None
        owned = worker.owned_partitions()
        return owned if worker.book.loaded() == owned else None

    # ---- GET /accounts/{id} -----------------------------------------------------------------

    async def account(self, request: Request, account_id: str) -> Response:
        worker = self.worker
        partition = partition_of(account_id.encode(), worker.settings.partitions)
        loaded = self._loaded_partitions()
        if loaded is not None and partition in loaded:
            cache = worker.book.record_cache
            body = cache.json_bytes(account_id, cache.as_of())
            if body is None:
                return self._error(
                    404, "unknown_account", f"no account {account_id} in the events so far"
                )
            return worker.app.web.bytes(body, content_type=JSON)
        if loaded is None:
            return self._unavailable(
                "this worker is starting or its group is rebalancing: ask again shortly"
            )
        if request.headers.get(ROUTED_HEADER):
            return self._unavailable(
                "the partition of this account is moving between workers: ask again shortly"
            )
        try:
            owner = URL(str(worker.app.router.key_store(worker.table.name, account_id.encode())))
        except (KeyError, TypeError):  # no assignment, or no topic metadata yet
            return self._unavailable("the worker group is rebalancing: ask again shortly")
        if _same_host(owner, URL(str(worker.app.conf.canonical_url))):
            return self._unavailable(
                "this worker is recovering the account's partition: ask again shortly"
            )
        return await self._forward(request, owner, {ROUTED_HEADER: "1"})

    # ---- GET /accounts ----------------------------------------------------------------------

    async def portfolio(self, request: Request) -> Response:
        try:
            query = PortfolioQuery.parse(list(request.query.items()))
        except QueryError as error:
            return self._error(400, "bad_parameter", str(error), parameter=error.parameter)
        as_of = self.worker.book.record_cache.as_of()
        if request.headers.get(SCOPE_HEADER) == "local":
            return self._local_answer(query, as_of)
        answers = await self._gather(request, query, as_of)
        if isinstance(answers, str):
            return self._unavailable(answers)
        total, records = query.merge((answer["total"], answer["accounts"]) for answer in answers)
        return self._json({"as_of": rfc3339_ms(as_of), "total": total, "accounts": records})

    def _local(self, query: PortfolioQuery, as_of: int) -> dict[str, Any] | None:
        loaded = self._loaded_partitions()
        if loaded is None:
            return None
        # select on the records as computed, render only the selected ones as JSON: the
        # portfolio filters, counts and sorts on fields that read the same either way
        cache = self.worker.book.record_cache
        total, selected = query.select_rows(cache.rows(as_of))
        rendered = cache.rendered(selected)  # kept with the record until it is computed again
        return {"partitions": sorted(loaded), "as_of": as_of, "total": total, "accounts": rendered}

    def _local_answer(self, query: PortfolioQuery, as_of: int) -> Response:
        answer = self._local(query, as_of)
        if answer is None:
            return self._unavailable("this worker is recovering its partitions: ask again shortly")
        return self._json(answer)

    async def _gather(
        self, request: Request, query: PortfolioQuery, as_of: int
    ) -> list[dict[str, Any]] | str:
        """Every worker's local answer, or a sentence saying why not all partitions answered."""
        worker = self.worker
        me = URL(str(worker.app.conf.canonical_url))
        hosts = [URL(str(host)) for host in worker.app.router.tables_metadata()]
        peers = [host for host in hosts if not _same_host(host, me)]
        local = self._local(query, as_of)
        if local is None:
            return "this worker is recovering its partitions: ask again shortly"
        replies = await asyncio.gather(*(self._ask_local(request, peer) for peer in peers))
        answers = [local]
        for peer, reply in zip(peers, replies, strict=True):
            if reply is None:
                return f"worker {peer} did not answer: ask again shortly"
            answers.append(reply)
        covered = [p for answer in answers for p in answer["partitions"]]
        if sorted(covered) != list(range(worker.settings.partitions)):
            return "the worker group is rebalancing (not every partition answered once): ask again shortly"
        if any(answer["as_of"] != as_of for answer in answers):
            log.debug(
                "workers answered at different clocks: %s", [answer["as_of"] for answer in answers]
            )
        return answers

    # ---- talking to the other workers ---------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=PEER_TIMEOUT)
        return self._session

    def _peer_url(self, request: Request, peer: URL) -> URL:
        return (
            request.url.with_scheme(peer.scheme or request.url.scheme)
            .with_host(peer.host)
            .with_port(peer.port)
        )

    def _headers(self, request: Request, extra: dict[str, str]) -> dict[str, str]:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in _HOP_HEADERS
        }
        headers.update(extra)
        return headers

    async def _forward(self, request: Request, peer: URL, extra: dict[str, str]) -> Response:
        try:
            async with self._client().get(
                self._peer_url(request, peer), headers=self._headers(request, extra)
            ) as reply:
                body = await reply.read()
                return self.worker.app.web.bytes(
                    body, content_type=reply.content_type or JSON, status=reply.status
                )
        except (TimeoutError, aiohttp.ClientError) as error:
            return self._unavailable(
                f"the worker owning this account ({peer}) did not answer ({type(error).__name__}): "
                f"ask again shortly"
            )

    async def _ask_local(self, request: Request, peer: URL) -> dict[str, Any] | None:
        try:
            async with self._client().get(
                self._peer_url(request, peer),
                headers=self._headers(request, {SCOPE_HEADER: "local"}),
            ) as reply:
                if reply.status != 200:
                    return None
                return orjson.loads(await reply.read())
        except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError):
            return None


def refresh_pause(done: bool, agent_busy: bool, catching_up: bool) -> float:
    """The pause after a slice of the record cache's refresh (see REFRESH_SLICE_S)."""
    if done:
        return REFRESH_PAUSE_S
    if catching_up:
        return REFRESH_BACKLOG_PAUSE_S
    return REFRESH_BUSY_PAUSE_S if agent_busy else REFRESH_IDLE_PAUSE_S


def _same_host(a: URL, b: URL) -> bool:
    return (a.host, a.port) == (b.host, b.port)
