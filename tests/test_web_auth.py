"""The HTTP guard (streams/worker/web_auth.py) on a real aiohttp server with a per-account
endpoint that returns data: the token, the client certificate, the Host allow-list and
the paths nobody documented. tests/integration/test_security.py tries it on a worker."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
from aiohttp import web

from streams.errors import ConfigError
from streams.worker.web_auth import WebGuard, WebSecurity, host_name
from tests.integration.secure_broker import make_pki

TOKEN = "a-long-test-token-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _account(request: web.Request) -> web.Response:
    return web.json_response({"account_id": request.match_info["account"], "plan": "pro"})


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text="pulse_up 1\n")


def _serve_and_ask(
    settings: WebSecurity, requests: list[tuple[str, dict]], client_ssl=None, bodies=None
) -> list[int]:
    """Start the guarded server on a free port, send the requests, return the statuses
    (and append each answer's text to `bodies` when given)."""

    async def run() -> list[int]:
        application = web.Application(middlewares=[WebGuard(settings).middleware])
        application.router.add_get("/accounts/{account}", _account)
        application.router.add_get("/metrics", _metrics)
        application.router.add_get(
            "/table/accounts/{account}/", _account
        )  # what Faust used to serve
        runner = web.AppRunner(application)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=settings.ssl_context())
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - test only: the chosen port
        scheme = "https" if settings.web_certfile else "http"
        statuses = []
        try:
            async with aiohttp.ClientSession() as session:
                for path, headers in requests:
                    async with session.get(
                        f"{scheme}://127.0.0.1:{port}{path}",
                        headers=headers,
                        ssl=client_ssl if client_ssl is not None else True,
                    ) as response:
                        statuses.append(response.status)
                        if bodies is not None:
                            bodies.append(await response.text())
        finally:
            await runner.cleanup()
        return statuses

    return asyncio.run(run())


def test_per_account_data_needs_the_whole_token():
    statuses = _serve_and_ask(
        WebSecurity(web_token=TOKEN),
        [
            ("/accounts/acme", {}),
            ("/accounts/acme", {"Authorization": f"Bearer {TOKEN[:-1]}"}),
            ("/accounts/acme", {"Authorization": f"Bearer {TOKEN}x"}),
            ("/accounts/acme", {"Authorization": f"Basic {TOKEN}"}),
            ("/accounts/acme", {"Authorization": f"Bearer {TOKEN}"}),
            ("/metrics", {}),
            ("/table/accounts/acme/", {"Authorization": f"Bearer {TOKEN}"}),
        ],
    )
    assert statuses == [401, 401, 401, 401, 200, 200, 404]


def test_a_refused_request_is_told_whether_it_sent_no_credential_or_a_wrong_one():
    bodies: list[str] = []
    statuses = _serve_and_ask(
        WebSecurity(web_token=TOKEN),
        [
            ("/accounts/acme", {}),
            ("/accounts/acme", {"Authorization": "Bearer not-the-token"}),
        ],
        bodies=bodies,
    )
    assert statuses == [401, 401]
    assert bodies[0] == "a bearer token or a client certificate is required\n"
    assert bodies[1] == (
        "the Authorization header is not `Bearer <token>` with this worker's PULSE_WEB_TOKEN\n"
    )


def test_without_a_token_or_client_ca_per_account_data_is_off():
    assert _serve_and_ask(WebSecurity(), [("/accounts/acme", {}), ("/metrics", {})]) == [403, 200]


def test_unknown_hosts_are_refused_when_a_list_is_set():
    settings = WebSecurity(web_token=TOKEN, allowed_hosts="pulse.internal, 127.0.0.1")
    statuses = _serve_and_ask(
        settings,
        [
            ("/metrics", {"Host": "evil.example"}),
            ("/metrics", {"Host": "pulse.internal:9108"}),
            ("/metrics", {}),  # 127.0.0.1:port
            ("/accounts/acme", {"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"}),
        ],
    )
    assert statuses == [421, 200, 200, 421]


def test_a_client_certificate_signed_by_the_client_ca_replaces_the_token(pki):
    settings = WebSecurity(
        web_certfile=pki.folder / "broker.pem",
        web_keyfile=pki.folder / "broker.key",
        web_client_cafile=pki.ca,
    )
    with_certificate = ssl.create_default_context(cafile=str(pki.ca))
    with_certificate.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    without = ssl.create_default_context(cafile=str(pki.ca))
    assert _serve_and_ask(
        settings, [("/accounts/acme", {}), ("/metrics", {})], with_certificate
    ) == [200, 200]
    assert _serve_and_ask(settings, [("/accounts/acme", {}), ("/metrics", {})], without) == [
        401,
        200,
    ]


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"web_token": "short"}, "shorter than 16 characters"),
        ({"web_certfile": "x.pem"}, "needs both --web-certfile and --web-keyfile"),
        ({"open_port": 9109}, "--open-bind and --open-port go together"),
    ],
)
def test_bad_web_settings_are_one_sentence(options, sentence):
    with pytest.raises(ConfigError, match=sentence):
        WebSecurity(**options)


def test_token_is_masked():
    assert TOKEN not in repr(WebSecurity(web_token=TOKEN))


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Example.COM:9108", "example.com"),
        ("[::1]:9108", "::1"),
        ("::1", "::1"),
        ("pulse", "pulse"),
        (None, ""),
    ],
)
def test_host_name(header, host):
    assert host_name(header) == host
