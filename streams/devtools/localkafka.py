"""A real Apache Kafka broker on loopback, for development, the demo and the tests.

The broker's jars come from Maven Central through Maven (`resources/kafka/pom.xml` pins
the version), copied once into a git-ignored cache folder; afterwards no network is needed.
Storage is formatted for a single-node KRaft broker+controller and the broker runs as a
detached Java process whose pid, config and log live beside its data.

Layout of the home folder (default `.cache/kafka`, or $PULSE_KAFKA_HOME):
    libs/              the broker's jars (filled by Maven once)
    run-<port>/        server.properties, broker.log, broker.pid, data/
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from streams.errors import PulseError

DEFAULT_HOME = Path(os.environ.get("PULSE_KAFKA_HOME", ".cache/kafka"))
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SecureListeners:
    """Two more listeners beside the PLAINTEXT one (which stays for the broker's own use and
    for admin work): SASL_SSL with SCRAM-SHA-512 (users are added with `scram_user`) and
    mutual TLS, where a client needs a certificate signed by a CA in `truststore`.

    `keystore` is a PEM file holding the broker's unencrypted PKCS#8 private key followed by
    its certificate chain (Kafka's `ssl.keystore.type=PEM`); `truststore` is a PEM file of
    CA certificates. The tests make both with openssl."""

    sasl_ssl_port: int
    mtls_port: int
    keystore: Path
    truststore: Path

    def properties(self, port: int, controller_port: int) -> dict[str, str]:
        return {
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},"
                f"SASL_SSL://127.0.0.1:{self.sasl_ssl_port},MTLS://127.0.0.1:{self.mtls_port}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{self.sasl_ssl_port},"
                f"MTLS://127.0.0.1:{self.mtls_port}"
            ),
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(Path(self.keystore).resolve()),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(Path(self.truststore).resolve()),
            "listener.name.mtls.ssl.client.auth": "required",
        }


@dataclass(frozen=True)
class LocalKafka:
    """One local broker, identified by its port."""

    home: Path = DEFAULT_HOME
    port: int = 9092
    partitions: int = 4
    secure: SecureListeners | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def run_dir(self) -> Path:
        return self.home / f"run-{self.port}"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "broker.pid"

    # ---- fetching the jars ------------------------------------------------------------

    def fetch(self, echo=print) -> None:
        """Copy the broker and its runtime dependencies from Maven Central, once."""
        marker = self.libs / ".complete"
        if marker.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise PulseError(
                "Maven (mvn) is not on PATH: install Maven 3 and Java 17, then run again."
            )
        pom = resources.files("streams.devtools.resources.kafka") / "pom.xml"
        self.libs.mkdir(parents=True, exist_ok=True)
        echo(f"fetching Apache Kafka with Maven into {self.libs} (once) ...")
        with resources.as_file(pom) as pom_path:
            result = subprocess.run(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-f",
                    str(pom_path),
                    f"-Dmaven.repo.local={(self.home / 'm2').resolve()}",
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={self.libs.resolve()}",
                ],
                capture_output=True,
                text=True,
            )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            raise PulseError(
                f"Maven could not fetch Apache Kafka (is Maven Central reachable?):\n{tail}"
            )
        marker.write_text("ok\n")

    # ---- process control ----------------------------------------------------------------

    def pid(self) -> int | None:
        """The broker's pid if its process is alive, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def up(self, echo=print) -> None:
        """Start the broker unless it already runs; return once it answers metadata requests."""
        if self.pid() is not None and broker_answers(self.bootstrap, timeout=10):
            echo(f"Kafka already running on {self.bootstrap} (pid {self.pid()})")
            return
        if port_in_use(self.port):
            raise PulseError(
                f"port {self.port} is in use by another program: stop it or pass --port with a free port."
            )
        java = shutil.which("java")
        if java is None:
            raise PulseError("Java is not on PATH: install Java 17 or newer, then run again.")
        self.fetch(echo)
        self._configure(java)
        log = open(self.log_file, "ab")
        process = subprocess.Popen(
            [
                java,
                "-Xms256m",
                "-Xmx768m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self._log_config()}",
                "-cp",
                f"{self.libs.resolve()}/*",
                "kafka.Kafka",
                str(self.run_dir / "server.properties"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise PulseError(
                    f"the Kafka broker exited with code {process.returncode}.\n{self.log_tail()}"
                )
            if broker_answers(self.bootstrap, timeout=5):
                echo(
                    f"Kafka {self.version()} ready on {self.bootstrap} (pid {process.pid}, log {self.log_file})"
                )
                return
            time.sleep(0.5)
        self.down(echo=lambda _: None)
        raise PulseError(
            f"the Kafka broker did not answer within {READY_TIMEOUT_S:.0f} s.\n{self.log_tail()}"
        )

    def down(self, echo=print) -> None:
        """Stop the broker cleanly (SIGTERM), forcefully after STOP_TIMEOUT_S."""
        pid = self.pid()
        if pid is None:
            echo(f"Kafka is not running on port {self.port}")
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        echo(f"Kafka on port {self.port} stopped")

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return f"Kafka is not running on port {self.port}"
        state = "answering" if broker_answers(self.bootstrap, timeout=5) else "NOT answering"
        return f"Kafka running on {self.bootstrap} (pid {pid}), {state}; log {self.log_file}"

    def version(self) -> str:
        jars = sorted(self.libs.glob("kafka_2.13-*.jar"))
        return jars[0].stem.removeprefix("kafka_2.13-") if jars else "?"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no broker log)"
        return "--- tail of broker log ---\n" + "\n".join(text[-lines:])

    # ---- configuration --------------------------------------------------------------------

    def _configure(self, java: str) -> None:
        data_dir = self.run_dir / "data"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        template = Template(
            (
                resources.files("streams.devtools.resources.kafka") / "server.properties.template"
            ).read_text()
        )
        properties = template.substitute(
            port=self.port,
            controller_port=self.port + 1,
            data_dir=data_dir.resolve(),
            partitions=self.partitions,
        )
        if self.secure is not None:
            properties = _override(properties, self.secure.properties(self.port, self.port + 1))
        (self.run_dir / "server.properties").write_text(properties)
        if (data_dir / "meta.properties").exists():
            return
        cluster_id = _cluster_id()
        result = subprocess.run(
            [
                java,
                f"-Dlog4j2.configurationFile={self._log_config()}",
                "-cp",
                f"{self.libs.resolve()}/*",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(self.run_dir / "server.properties"),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise PulseError(
                f"formatting the KRaft storage failed:\n{result.stdout}{result.stderr}"
            )

    def scram_user(self, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> None:
        """Create a SCRAM user, or change its password, on the running broker (over the
        PLAINTEXT listener, as kafka-configs would). Takes effect for new connections."""
        java = shutil.which("java")
        if java is None:
            raise PulseError("Java is not on PATH: install Java 17 or newer, then run again.")
        if not broker_answers(self.bootstrap, timeout=10):
            raise PulseError(
                f"Kafka does not answer on {self.bootstrap}: start it with `pulse dev kafka up --port {self.port}`."
            )
        with resources.as_file(
            resources.files("streams.devtools.resources.kafka") / "ScramUser.java"
        ) as source:
            result = subprocess.run(
                [
                    java,
                    f"-Dlog4j2.configurationFile={self._log_config()}",
                    "-cp",
                    f"{self.libs.resolve()}/*",
                    str(source),
                    self.bootstrap,
                    user,
                    mechanism,
                ],
                input=password + "\n",
                capture_output=True,
                text=True,
                timeout=120,
            )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
            raise PulseError(f"setting the SCRAM credential of {user} failed:\n{tail}")

    def _log_config(self) -> Path:
        target = self.home / "log4j2.properties"
        if not target.exists():
            target.write_text(
                (
                    resources.files("streams.devtools.resources.kafka") / "log4j2.properties"
                ).read_text()
            )
        return target.resolve()


def _override(properties: str, values: dict[str, str]) -> str:
    """Replace (or append) `key=value` lines of a properties text."""
    lines = [
        line for line in properties.splitlines() if line.split("=", 1)[0].strip() not in values
    ]
    return "\n".join([*lines, *(f"{key}={value}" for key, value in values.items())]) + "\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child still "exists"; reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def broker_answers(bootstrap: str, timeout: float = 5.0) -> bool:
    """True when the broker answers a metadata request from aiokafka."""
    return asyncio.run(_metadata_ok(bootstrap, timeout))


async def _metadata_ok(bootstrap: str, timeout: float) -> bool:
    from aiokafka import AIOKafkaClient

    from streams.kafka.security import client_log_muted

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    with client_log_muted():  # refused connections are expected while polling
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return bool(client.cluster.brokers())
        except Exception:
            return False
        finally:
            await client.close()


def _cluster_id() -> str:
    """A random cluster id in Kafka's form (a UUID in URL-safe base64), never starting
    with "-": the storage tool would read such an id as an option and refuse to format (one
    start in 64 failed), which is why Kafka's own Uuid.randomUuid() draws again too."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
