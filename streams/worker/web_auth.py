"""Who may read what on the worker's HTTP port: the documented endpoints only, per-account
data only with a bearer token or a client certificate, and only under allowed Host names.

Why: the worker's port is Faust's web server, which by default also serves Faust's own
views (`/table/<table>/<key>/` returns an account's stored state, `/router/` the cluster
layout) to anyone who reaches it. The worker turns those views off (`FAUST_WEB_SETTINGS`)
and puts one aiohttp middleware (`WebGuard.middleware`) in front of every request:

1. Host allow-list: with `--allowed-hosts` set, a request whose Host header names another
   host is refused with 421 (guards against DNS rebinding and misrouted traffic).
2. `/metrics` and `/healthz` (`OPEN_PATHS`) are open: aggregates and health only.
3. Paths under `PRIVATE_PREFIXES` return per-account data (the account API). They need
   `Authorization: Bearer <token>` matching `--web-token` (compared in constant time with
   hmac.compare_digest) or a client certificate verified against `--web-client-cafile`
   (the port then serves HTTPS with `--web-certfile`/`--web-keyfile`). With neither
   configured they are refused (403): private data is never served by default.
4. Every other path is 404, whatever Faust or a library registers.

`--open-bind`/`--open-port` serve /metrics and /healthz on a second, plain-HTTP address as
well (e.g. the interface Prometheus reaches), so the worker's main port can stay on
loopback or behind TLS.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import click
from aiohttp import web

from streams.errors import ConfigError

OPEN_PATHS = frozenset({"/metrics", "/healthz"})
PRIVATE_PREFIXES = ("/accounts",)  # per-account reads (the account API)
# Faust's own views and index: none is served (docs/worker.md, "Security").
FAUST_WEB_SETTINGS = {
    "web_router_enabled": False,
    "web_tables_enabled": False,
    "web_stats_enabled": False,
    "web_graph_enabled": False,
    "web_metrics_enabled": False,
}
WEB_FIELDS = (
    "web_token",
    "allowed_hosts",
    "web_certfile",
    "web_keyfile",
    "web_client_cafile",
    "open_bind",
    "open_port",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class WebSecurity:
    """The HTTP guard's settings, checked when built."""

    web_token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()
    web_certfile: Path | None = None
    web_keyfile: Path | None = None
    web_client_cafile: Path | None = None
    open_bind: str | None = None
    open_port: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", tuple(_split_hosts(self.allowed_hosts)))
        if self.web_token is not None and len(self.web_token) < 16:
            raise ConfigError(
                "--web-token (PULSE_WEB_TOKEN) is shorter than 16 characters: use a long random "
                "token, e.g. `openssl rand -hex 32`."
            )
        if (self.web_certfile is None) != (self.web_keyfile is None):
            raise ConfigError("HTTPS needs both --web-certfile and --web-keyfile: pass the pair.")
        if self.web_client_cafile is not None and self.web_certfile is None:
            raise ConfigError(
                "--web-client-cafile checks client certificates over HTTPS: pass --web-certfile and "
                "--web-keyfile too."
            )
        for name in ("web_certfile", "web_keyfile", "web_client_cafile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(
                    f"--{name.replace('_', '-')} {path} does not exist: pass a readable PEM file."
                )
        if (self.open_bind is None) != (self.open_port is None):
            raise ConfigError(
                "--open-bind and --open-port go together: pass both to serve /metrics and /healthz "
                "on a second address."
            )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> WebSecurity:
        """Take (and remove) the web options from a click options dict."""
        return cls(**{name: options.pop(name) for name in WEB_FIELDS if name in options})

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'web_token' and self.web_token else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"WebSecurity({shown})"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The HTTPS context of the worker's port (client certificates optional, verified
        against --web-client-cafile when given), or None for plain HTTP."""
        if self.web_certfile is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(str(self.web_certfile), str(self.web_keyfile), lambda: b"")
            if self.web_client_cafile is not None:
                context.load_verify_locations(cafile=str(self.web_client_cafile))
                context.verify_mode = ssl.CERT_OPTIONAL
        except ssl.SSLError as error:
            raise ConfigError(
                f"the web server's certificate, key or client CA is not usable PEM ({error.reason or error}): "
                f"pass PEM files, the key unencrypted."
            ) from None
        return context


def _split_hosts(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or ())
    hosts = []
    for item in items:
        for host in str(item).replace(" ", ",").split(","):
            if host.strip():
                hosts.append(host.strip().lower())
    return hosts


def host_name(host_header: str | None) -> str:
    """The host of a Host header, without port and brackets: '[::1]:9108' -> '::1'."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class WebGuard:
    """The middleware of every HTTP request the worker answers (see the module header)."""

    def __init__(self, settings: WebSecurity, *, open_only: bool = False) -> None:
        self.settings = settings
        self.open_only = open_only  # the --open-port listener: /metrics and /healthz only
        self._token = settings.web_token.encode() if settings.web_token else None

    def host_allowed(self, request: web.Request) -> bool:
        allowed = self.settings.allowed_hosts
        return not allowed or host_name(request.headers.get("Host")) in allowed

    def authenticated(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if (
            self._token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(credentials.strip().encode(), self._token)
        ):
            return True
        # A certificate is only present once the TLS layer verified it against the client CA.
        return bool(
            self.settings.web_client_cafile
            and request.transport
            and request.transport.get_extra_info("peercert")
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_allowed(request):
            return web.Response(
                status=421,
                text="unknown Host: this worker answers only the names in --allowed-hosts\n",
            )
        path = request.path
        if path in OPEN_PATHS:
            return await handler(request)
        if self.open_only or not _is_private(path):
            return web.Response(
                status=404,
                text="not found: this worker serves /metrics and /healthz "
                "(and the account API with a token)\n",
            )
        if self._token is None and not self.settings.web_client_cafile:
            return web.Response(
                status=403,
                text="per-account data is off: set PULSE_WEB_TOKEN or "
                "--web-client-cafile to serve it\n",
            )
        if not self.authenticated(request):
            if "Authorization" in request.headers:  # sent, but not this worker's token
                text = "the Authorization header is not `Bearer <token>` with this worker's PULSE_WEB_TOKEN\n"
                challenge = 'Bearer realm="cs-pulse", error="invalid_token"'
            else:
                text = "a bearer token or a client certificate is required\n"
                challenge = 'Bearer realm="cs-pulse"'
            return web.Response(status=401, text=text, headers={"WWW-Authenticate": challenge})
        return await handler(request)


def _is_private(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PRIVATE_PREFIXES)


async def start_open_listener(settings: WebSecurity, views: dict[str, Handler]) -> web.AppRunner:
    """Serve the open views (path -> handler) on --open-bind:--open-port, plain HTTP."""
    application = web.Application(middlewares=[WebGuard(settings, open_only=True).middleware])
    for path, view in views.items():
        application.router.add_get(path, view)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.open_bind, settings.open_port).start()
    return runner


# ---- click: the options ---------------------------------------------------------------------

_PATH = click.Path(path_type=Path, dir_okay=False)
_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option(
        "--web-token",
        default=None,
        envvar="PULSE_WEB_TOKEN",
        show_default=False,
        help="Bearer token required for per-account endpoints. Prefer the environment variable; never logged.",
    ),
    click.option(
        "--allowed-hosts",
        default="",
        envvar="PULSE_ALLOWED_HOSTS",
        help="Comma-separated Host names the HTTP port answers (others get 421); empty allows any.",
    ),
    click.option(
        "--web-certfile",
        default=None,
        type=_PATH,
        envvar="PULSE_WEB_CERTFILE",
        help="Serve the worker's port over HTTPS with this PEM certificate.",
    ),
    click.option(
        "--web-keyfile",
        default=None,
        type=_PATH,
        envvar="PULSE_WEB_KEYFILE",
        help="Unencrypted PEM key of --web-certfile.",
    ),
    click.option(
        "--web-client-cafile",
        default=None,
        type=_PATH,
        envvar="PULSE_WEB_CLIENT_CAFILE",
        help="Accept client certificates signed by this CA instead of the token (HTTPS only).",
    ),
    click.option(
        "--open-bind",
        default=None,
        envvar="PULSE_OPEN_BIND",
        help="Also serve /metrics and /healthz (only) on this address, plain HTTP.",
    ),
    click.option(
        "--open-port", default=None, type=int, envvar="PULSE_OPEN_PORT", help="Port of --open-bind."
    ),
)


def web_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the HTTP guard's options (and their PULSE_* variables) to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command
