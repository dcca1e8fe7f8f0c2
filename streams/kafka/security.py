"""How every `pulse` command reaches a secured Kafka cluster: one definition of the options.

`pulse worker`, `pulse dev topics` and `pulse generate --bootstrap` (and any new command
that talks to Kafka) take the same security options through `security_options`, build a
`KafkaSecurity` from them, and hand its `aiokafka_options()` or `faust_credentials()` to
the client. Keeping the options, their variables, their checks and the TLS context in
one place means a fix (a key password, a clearer error) reaches every command at once.

Rules kept here:
- Secrets (SASL password, key password) come from the environment or the command line,
  are never logged (`__repr__` masks them) and are never asked for on a terminal: an
  encrypted key without a password is one sentence, not a prompt.
- A CA, certificate or key file that is missing or not PEM is one sentence naming the file.
- `describe_failure` turns what the client library raised into one sentence that names
  the cause (authentication, trust, protocol mismatch, missing client certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import click

from streams.errors import ConfigError, PulseError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECRET_FIELDS = frozenset({"sasl_password", "ssl_keyfile_password"})
SECURITY_FIELDS = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_keyfile_password",
)


@dataclass(frozen=True)
class KafkaSecurity:
    """The security settings of one Kafka client, checked when built."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_keyfile_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"security protocol {self.security_protocol!r} is unknown: use one of {', '.join(SECURITY_PROTOCOLS)}."
            )
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"SASL mechanism {self.sasl_mechanism!r} is unknown: use one of {', '.join(SASL_MECHANISMS)}."
            )
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise ConfigError(
                "SASL needs a user name and a password: set PULSE_SASL_USERNAME and PULSE_SASL_PASSWORD."
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(
                    f"{_label(name)} {path} does not exist: pass the path of a readable PEM file."
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError(
                "--ssl-keyfile needs --ssl-certfile: pass the client certificate that goes with the key."
            )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> KafkaSecurity:
        """Take (and remove) the security options from a click options dict."""
        return cls(**{name: options.pop(name) for name in SECURITY_FIELDS if name in options})

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def __repr__(self) -> str:
        return f"KafkaSecurity({masked_fields(self)})"

    # ---- what the clients get ------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context, or None without TLS. Never prompts for a key password."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        except ssl.SSLError as error:
            raise ConfigError(
                f"CA file {self.ssl_cafile} holds no PEM certificate ({error.reason or error}): pass a PEM file "
                f"(convert a DER one with `openssl x509 -inform der -in FILE -out ca.pem`)."
            ) from None
        if self.ssl_certfile:
            self._load_client_certificate(context)
        return context

    def _load_client_certificate(self, context: ssl.SSLContext) -> None:
        asked: list[bool] = []

        def password() -> bytes:
            # Called by OpenSSL only for an encrypted key; answering here is what keeps it
            # from prompting on the terminal.
            asked.append(True)
            return (self.ssl_keyfile_password or "").encode()

        keyfile = str(self.ssl_keyfile) if self.ssl_keyfile else None
        try:
            context.load_cert_chain(str(self.ssl_certfile), keyfile, password)
        except ssl.SSLError as error:
            key = self.ssl_keyfile or self.ssl_certfile
            reason = error.reason or ""
            if asked and not self.ssl_keyfile_password:
                message = (
                    f"key file {key} is encrypted: set its password in PULSE_SSL_KEYFILE_PASSWORD "
                    f"(or --ssl-keyfile-password)."
                )
            elif asked:
                message = f"the key password does not decrypt key file {key}: check PULSE_SSL_KEYFILE_PASSWORD."
            elif reason == "KEY_VALUES_MISMATCH":
                message = f"key file {key} does not belong to certificate {self.ssl_certfile}: pass the matching pair."
            else:
                message = (
                    f"certificate {self.ssl_certfile} or key {key} is not a PEM file OpenSSL can read "
                    f"({reason or error}): pass PEM files (convert DER with `openssl x509 -inform der`)."
                )
            raise ConfigError(message) from None

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
        }
        if self.uses_sasl:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options

    def faust_credentials(self) -> Any:
        """Faust's broker_credentials for these settings, or None for PLAINTEXT."""
        import faust

        context = self.ssl_context()
        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        return faust.SSLCredentials(context) if context is not None else None

    def describe(self) -> str:
        """How the client authenticates, for messages: 'SASL_SSL (SCRAM-SHA-512 as user pulse)'."""
        if self.uses_sasl:
            return f"{self.security_protocol} ({self.sasl_mechanism} as user {self.sasl_username})"
        if self.uses_tls and self.ssl_certfile:
            return f"{self.security_protocol} (client certificate {self.ssl_certfile})"
        return self.security_protocol


def masked_fields(settings: Any) -> str:
    """`name=value, ...` of a dataclass with every secret shown as ***."""
    return ", ".join(
        f"{f.name}={'***' if f.name in SECRET_FIELDS and getattr(settings, f.name) else getattr(settings, f.name)!r}"
        for f in fields(settings)
    )


def _label(name: str) -> str:
    return {"ssl_cafile": "CA file", "ssl_certfile": "certificate file", "ssl_keyfile": "key file"}[
        name
    ]


# ---- click: the one definition of the options ---------------------------------------------

_PATH = click.Path(path_type=Path, dir_okay=False)
_OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option(
        "--security-protocol",
        default="PLAINTEXT",
        type=click.Choice(SECURITY_PROTOCOLS),
        envvar="PULSE_SECURITY_PROTOCOL",
        show_default=True,
        help="How to talk to the Kafka brokers.",
    ),
    click.option(
        "--sasl-mechanism",
        default="PLAIN",
        type=click.Choice(SASL_MECHANISMS),
        envvar="PULSE_SASL_MECHANISM",
        show_default=True,
        help="SASL mechanism (SASL_* protocols).",
    ),
    click.option(
        "--sasl-username", default=None, envvar="PULSE_SASL_USERNAME", help="SASL user name."
    ),
    click.option(
        "--sasl-password",
        default=None,
        envvar="PULSE_SASL_PASSWORD",
        show_default=False,
        help="SASL password. Prefer the environment variable; never logged.",
    ),
    click.option(
        "--ssl-cafile",
        default=None,
        type=_PATH,
        envvar="PULSE_SSL_CAFILE",
        help="PEM file of the CA certificates that signed the brokers' certificates.",
    ),
    click.option(
        "--ssl-certfile",
        default=None,
        type=_PATH,
        envvar="PULSE_SSL_CERTFILE",
        help="PEM client certificate (mutual TLS).",
    ),
    click.option(
        "--ssl-keyfile",
        default=None,
        type=_PATH,
        envvar="PULSE_SSL_KEYFILE",
        help="PEM private key of the client certificate.",
    ),
    click.option(
        "--ssl-keyfile-password",
        default=None,
        envvar="PULSE_SSL_KEYFILE_PASSWORD",
        show_default=False,
        help="Password of an encrypted --ssl-keyfile. Prefer the environment variable; never asked for.",
    ),
)


def security_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the Kafka security options (and their PULSE_* variables) to a click command.
    The command receives them as keyword arguments; `KafkaSecurity.from_options` takes them."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


# ---- naming the cause of a failed connection -----------------------------------------------


@contextlib.contextmanager
def client_log_muted() -> Iterator[None]:
    """Keep the client library's connection errors out of the output for the duration of a
    start-up check whose outcome is reported in one sentence; the logger is left as it
    was afterwards, so errors while running are logged."""
    library = logging.getLogger("aiokafka")  # its modules' loggers inherit this level
    level = library.level
    library.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        library.setLevel(level)


async def probe(
    bootstrap: str, security: KafkaSecurity, timeout: float = 10.0
) -> BaseException | None:
    """Open one connection to each bootstrap server as the clients would; return the first
    error (the client library's own exception), or None when one server accepted us."""
    from aiokafka.conn import create_conn

    first: BaseException | None = None
    options = security.aiokafka_options()
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host.strip("[]"), int(port), request_timeout_ms=int(timeout * 1000), **options
                ),
                timeout,
            )
        except (TimeoutError, Exception) as error:  # noqa: BLE001 - classified by describe_failure
            first = first or error
            continue
        conn.close()
        return None
    return first


async def connection_error(
    error: BaseException, bootstrap: str, security: KafkaSecurity
) -> PulseError:
    """The one-sentence error for a client that could not start (call it inside
    `client_log_muted`): a probe connection names the cause, `error` stands in when none shows."""
    cause = await probe(bootstrap, security) or error
    return PulseError(describe_failure(cause, bootstrap, security))


def describe_failure(error: BaseException | None, bootstrap: str, security: KafkaSecurity) -> str:
    """One sentence naming why a client could not talk to the brokers, and the fix."""
    from aiokafka import errors as kafka_errors

    chain = error_chain(error)
    texts = " ".join(str(item) for item in chain).lower()
    if any(isinstance(item, kafka_errors.UnsupportedSaslMechanismError) for item in chain):
        return (
            f"the brokers at {bootstrap} do not accept SASL mechanism {security.sasl_mechanism}: "
            f"pass the mechanism the listener enables (--sasl-mechanism)."
        )
    if (
        any(
            isinstance(
                item,
                (kafka_errors.SaslAuthenticationFailed, kafka_errors.AuthenticationFailedError),
            )
            for item in chain
        )
        or "authentication failed" in texts
        or "server sent wrong signature" in texts
    ):
        return (
            f"authentication failed for user {security.sasl_username} with mechanism {security.sasl_mechanism} "
            f"at {bootstrap}: check PULSE_SASL_USERNAME, PULSE_SASL_PASSWORD and --sasl-mechanism."
        )
    if (
        any(isinstance(item, ssl.SSLCertVerificationError) for item in chain)
        or "certificate verify failed" in texts
    ):
        return (
            f"the certificate of the brokers at {bootstrap} is not trusted "
            f"({_verify_reason(chain)}): pass the CA that signed it with --ssl-cafile (PULSE_SSL_CAFILE)."
        )
    refused_certificate = (
        "certificate required" in texts
        or "bad certificate" in texts
        or "certificate unknown" in texts
        or "unknown ca" in texts
    )
    if refused_certificate and not security.ssl_certfile:
        return (
            f"the brokers at {bootstrap} want a client certificate (mutual TLS): pass --ssl-certfile and "
            f"--ssl-keyfile (PULSE_SSL_CERTFILE, PULSE_SSL_KEYFILE)."
        )
    if refused_certificate:
        return (
            f"the brokers at {bootstrap} refused the client certificate {security.ssl_certfile}: it is not "
            f"signed by a CA the listener trusts; pass a certificate issued by that CA."
        )
    reset = any(isinstance(item, ConnectionResetError) for item in chain)
    if security.uses_tls and (
        reset or "wrong version number" in texts or "record layer failure" in texts
    ):
        return (
            f"the listener at {bootstrap} does not speak TLS: use the protocol it expects "
            f"(--security-protocol PLAINTEXT or SASL_PLAINTEXT), or the port of its TLS listener."
        )
    refused = (
        any(isinstance(item, ConnectionRefusedError) for item in chain)
        or "connect call failed" in texts
    )
    if refused or error is None:
        return f"cannot reach Kafka at {bootstrap}: start it (`pulse dev kafka up`) or pass --bootstrap HOST:PORT."
    if security.security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        return (
            f"the brokers at {bootstrap} closed the connection without answering {security.describe()}: the "
            f"listener probably expects TLS or SASL; pass the --security-protocol it is configured with."
        )
    return (
        f"the brokers at {bootstrap} did not answer {security.describe()} ({_first_words(chain)}): check that "
        f"the listener expects this --security-protocol and --sasl-mechanism."
    )


def error_chain(error: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _verify_reason(chain: list[BaseException]) -> str:
    for item in chain:
        message = getattr(item, "verify_message", None)
        if isinstance(item, ssl.SSLCertVerificationError) and isinstance(message, str) and message:
            return message
    return "certificate verify failed"


def _first_words(chain: list[BaseException]) -> str:
    for item in chain:
        text = str(item).strip()
        if text:
            return f"{type(item).__name__}: {text[:120]}"
    return type(chain[0]).__name__ if chain else "no answer"
