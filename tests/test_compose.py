"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
it parses, images are pinned, every file and folder it (or its Dockerfiles) references
exists in the repository, Kafka is the local broker's version, services restart and the
worker's health is its /healthz, the image runs as a non-root user, and .dockerignore keeps
the build context to what the Dockerfile copies."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = REPO / "Dockerfile"
LOCAL_KAFKA_POM = REPO / "streams" / "devtools" / "resources" / "kafka" / "pom.xml"
ONE_SHOT = {"topics"}  # runs once and exits


def _bind_sources(service: dict) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        source = volume.get("source") if isinstance(volume, dict) else volume.split(":", 1)[0]
        if source.startswith((".", "/")):
            sources.append(source)
    return sources


def test_every_image_is_pinned():
    for name, service in COMPOSE["services"].items():
        if "image" in service:
            image = service["image"]
            assert re.search(r":[\w.\-]+$", image) and not image.endswith(":latest"), (
                f"{name}: {image} is not pinned"
            )


def test_every_referenced_path_exists():
    missing = []
    for name, service in COMPOSE["services"].items():
        build = service.get("build")
        if build is not None:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            missing += [f"{name}: {path}" for path in (context, dockerfile) if not path.exists()]
            missing += [
                f"{name}: {path} (COPY in {dockerfile.name})"
                for path in _copy_sources(dockerfile, context)
                if not path.exists()
            ]
        for source in _bind_sources(service):
            if not (REPO / source).exists():
                missing.append(f"{name}: {source}")
        for env_file in (
            [service["env_file"]]
            if isinstance(service.get("env_file"), str)
            else service.get("env_file", [])
        ):
            if not (REPO / env_file).exists():
                missing.append(f"{name}: {env_file}")
    for name, config in (COMPOSE.get("configs") or {}).items():
        if "file" in config and not (REPO / config["file"]).exists():
            missing.append(f"config {name}: {config['file']}")
    assert not missing, "docker-compose.yml references missing paths:\n" + "\n".join(missing)


def test_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: named volume {source} is not declared"


def _copy_sources(dockerfile: Path, context: Path) -> list[Path]:
    if not dockerfile.exists():
        return []
    sources = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if (
            parts
            and parts[0].upper() in {"COPY", "ADD"}
            and not any(p.startswith("--from") for p in parts)
        ):
            sources += [context / part for part in parts[1:-1] if not part.startswith("--")]
    return sources


def test_kafka_is_the_local_brokers_version():
    (version,) = re.findall(
        r"<kafka\.version>([^<]+)</kafka\.version>", LOCAL_KAFKA_POM.read_text()
    )
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_every_service_restarts():
    for name, service in COMPOSE["services"].items():
        expected = (
            {"on-failure"}
            if name in ONE_SHOT or "profiles" in service
            else {"unless-stopped", "always"}
        )
        assert service.get("restart") in expected, (
            f"{name}: restart is {service.get('restart')!r}, want one of {expected}"
        )


def test_the_worker_is_healthy_when_its_healthz_answers():
    worker = COMPOSE["services"]["worker"]
    probe = " ".join(worker["healthcheck"]["test"])
    (port,) = worker["expose"]
    assert f":{port}/healthz" in probe, probe
    # recovering state answers 503 for a while after a restart: no restart loop meanwhile
    assert worker["healthcheck"].get("start_period"), "the worker needs a start_period"


def test_every_long_running_service_has_a_healthcheck():
    for name, service in COMPOSE["services"].items():
        if name not in ONE_SHOT and "profiles" not in service:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_image_runs_as_a_non_root_user():
    instructions = [
        line.split(None, 1)
        for line in DOCKERFILE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    users = [
        (index, args.strip())
        for index, (word, *rest) in enumerate(instructions)
        if word.upper() == "USER"
        for args in rest
    ]
    assert users, "the Dockerfile has no USER instruction: the worker would run as root"
    last_user_at, user = users[-1]
    assert user.split(":")[0] not in {"root", "0"}, user
    runs = [index for index, (word, *_rest) in enumerate(instructions) if word.upper() == "RUN"]
    assert last_user_at > max(runs), "USER must come after the last RUN"


def test_dockerignore_keeps_out_local_state_and_keeps_what_the_image_copies():
    ignore = REPO / ".dockerignore"
    assert ignore.exists(), "no .dockerignore: the build context would carry .venv, .cache and .git"
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                result = not negate
        return result

    for local in (".venv", ".cache", ".git"):
        assert ignored(local), f"{local} is sent to the Docker build"
    for source in _copy_sources(DOCKERFILE, REPO):
        assert not ignored(source.relative_to(REPO).as_posix()), (
            f"{source.name} is copied but ignored"
        )
