"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
it parses, images are pinned, and every file and folder it (or its Dockerfiles) references
exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


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
            assert re.search(r":[\w.\-]+$", image) and not image.endswith(":latest"), f"{name}: {image} is not pinned"


def test_every_referenced_path_exists():
    missing = []
    for name, service in COMPOSE["services"].items():
        build = service.get("build")
        if build is not None:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            missing += [f"{name}: {path}" for path in (context, dockerfile) if not path.exists()]
            missing += [f"{name}: {path} (COPY in {dockerfile.name})" for path in _copy_sources(dockerfile, context)
                         if not path.exists()]
        for source in _bind_sources(service):
            if not (REPO / source).exists():
                missing.append(f"{name}: {source}")
        for env_file in ([service["env_file"]] if isinstance(service.get("env_file"), str) else service.get("env_file", [])):
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
        if parts and parts[0].upper() in {"COPY", "ADD"} and not any(p.startswith("--from") for p in parts):
            sources += [context / part for part in parts[1:-1] if not part.startswith("--")]
    return sources
