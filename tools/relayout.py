#!/usr/bin/env python3
"""The one-off migration of issue 17: `streams/` regrouped into packages by role.

Kept in the repository because it documents the move: `MODULES` below is the table of
every module's old path and new path, and `NEW_PACKAGES` says what each new package holds.
It was written while other branches still changed code in the old layout, so it is a
script to re-run on the merged tree, not a one-off edit:

    python3 tools/relayout.py            # move (git mv) and rewrite references
    python3 tools/relayout.py --dry-run  # print the plan, change nothing

What it does, in order:

1. Refuses to run (exit 1, listing them) when a module under streams/ is not named in
   `MODULES` (a branch added it: add a line for it), when the tree is half moved, or when
   the work tree has uncommitted changes. A second run on a moved tree says so and exits 0.
2. `git mv` every module whose place changes (and `streams/resources/` as a whole) and
   writes the new packages' `__init__.py`.
3. Rewrites every reference in every tracked text file: dotted names (`streams.app`,
   `"streams.replay.PROGRESS_EVERY_S"` mock targets, `-m streams.replay`, entry points,
   package data), `from streams import faust_hooks` statements and paths
   (`streams/app.py` in docs, comments and patches).
4. Fails (exit 1, listing file:line) if an old name is still found afterwards.

Standard library only, so it runs before any install. Where things went, by role:
contract/ (bytes -> typed event or rejection, dead letters), ingest/ (admission and the
per-message pipeline), engine/ (unchanged place), worker/ (the Faust shell) with
worker/faust/ (everything that patches Faust, mode or aiokafka internals), cli/ (the
`pulse` group in its __init__, one module per command), kafka/ (security options and topics: shared by the
worker, the CLI, the generator and the connectors), devtools/ (the local Kafka and
Prometheus and their resources). connectors/, generator/, reports/ keep their place;
`errors`, `pulse_config` (the TOML file of every part) and `exposition` stay at the top.
Config modules get distinct names (pulse_config, engine_config, revenue_config,
connectors_config, generator_config) so that "config.py" no longer means four things.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

# Every module under streams/: old path -> new path (equal when it stays).
MODULES: dict[str, str] = {
    "streams/__init__.py": "streams/__init__.py",
    "streams/errors.py": "streams/errors.py",
    "streams/config.py": "streams/pulse_config.py",
    "streams/rates_file.py": "streams/rates_file.py",
    "streams/exposition.py": "streams/exposition.py",
    # contract: the event model, decoding and validation, dead-letter records
    "streams/model.py": "streams/contract/model.py",
    "streams/events.py": "streams/contract/decoding.py",
    "streams/deadletter.py": "streams/contract/deadletter.py",
    # ingest: admission and the per-message path (with its counters)
    "streams/admission.py": "streams/ingest/admission.py",
    "streams/pipeline.py": "streams/ingest/pipeline.py",
    # worker: the Faust shell
    "streams/app.py": "streams/worker/app.py",
    "streams/worker_cli.py": "streams/worker/cli.py",
    "streams/worker_run.py": "streams/worker/run.py",
    "streams/worker_state.py": "streams/worker/state.py",
    "streams/state_parts.py": "streams/worker/state_parts.py",
    "streams/gc_policy.py": "streams/worker/gc_policy.py",
    "streams/partition_transaction.py": "streams/worker/partition_transaction.py",
    "streams/delivery.py": "streams/worker/delivery.py",
    "streams/telemetry.py": "streams/worker/telemetry.py",
    "streams/settings.py": "streams/worker/settings.py",
    "streams/datadir.py": "streams/worker/datadir.py",
    "streams/stop_deadline.py": "streams/worker/stop_deadline.py",
    "streams/kafka_watch.py": "streams/worker/kafka_watch.py",
    "streams/web_auth.py": "streams/worker/web_auth.py",
    "streams/account_views.py": "streams/worker/account_views.py",
    "streams/record_cache.py": "streams/worker/record_cache.py",
    "streams/portfolio.py": "streams/worker/portfolio_query.py",
    # worker/faust: the only place that touches Faust, mode or aiokafka internals
    "streams/faust_compat.py": "streams/worker/faust/compat.py",
    "streams/faust_hooks.py": "streams/worker/faust/hooks.py",
    "streams/faust_fastpath.py": "streams/worker/faust/fastpath.py",
    # kafka: how every command reaches the cluster, and the project's topics
    "streams/kafka_security.py": "streams/kafka/security.py",
    "streams/topics.py": "streams/kafka/topics.py",
    # cli: the `pulse` group and its commands
    "streams/cli.py": "streams/cli/__init__.py",  # the `pulse` group
    "streams/replay.py": "streams/cli/replay.py",
    "streams/history.py": "streams/cli/history.py",
    "streams/replay_jobs.py": "streams/cli/replay_jobs.py",
    "streams/accounts_cli.py": "streams/cli/accounts.py",
    "streams/report_cli.py": "streams/cli/report.py",
    "streams/generate.py": "streams/cli/generate.py",
    "streams/dev.py": "streams/cli/dev.py",
    "streams/connectors/cli.py": "streams/cli/connectors.py",
    # devtools: the local broker and the local Prometheus
    "streams/localkafka.py": "streams/devtools/localkafka.py",
    "streams/localprometheus.py": "streams/devtools/localprometheus.py",
    "streams/resources/__init__.py": "streams/devtools/resources/__init__.py",
    "streams/resources/kafka/__init__.py": "streams/devtools/resources/kafka/__init__.py",
    # connectors: the translators, the webhook receiver and the bridge stay together
    "streams/connectors/__init__.py": "streams/connectors/__init__.py",
    "streams/connectors/bridge.py": "streams/connectors/bridge.py",
    "streams/connectors/config.py": "streams/connectors/connectors_config.py",
    "streams/connectors/raw_topics.py": "streams/connectors/raw_topics.py",
    "streams/connectors/result.py": "streams/connectors/result.py",
    "streams/connectors/segment.py": "streams/connectors/segment.py",
    "streams/connectors/signatures.py": "streams/connectors/signatures.py",
    "streams/connectors/stripe.py": "streams/connectors/stripe.py",
    "streams/connectors/webhooks.py": "streams/connectors/webhooks.py",
    "streams/connectors/zendesk.py": "streams/connectors/zendesk.py",
    # engine: pure metric definitions (place unchanged; config modules renamed)
    "streams/engine/__init__.py": "streams/engine/__init__.py",
    "streams/engine/account.py": "streams/engine/account.py",
    "streams/engine/account_metrics.py": "streams/engine/account_metrics.py",
    "streams/engine/accounts_config.py": "streams/engine/accounts_config.py",
    "streams/engine/activity.py": "streams/engine/activity.py",
    "streams/engine/adoption.py": "streams/engine/adoption.py",
    "streams/engine/cohorts.py": "streams/engine/cohorts.py",
    "streams/engine/config.py": "streams/engine/engine_config.py",
    "streams/engine/crm.py": "streams/engine/crm.py",
    "streams/engine/currency.py": "streams/engine/currency.py",
    "streams/engine/engine.py": "streams/engine/engine.py",
    "streams/engine/health.py": "streams/engine/health.py",
    "streams/engine/incremental.py": "streams/engine/incremental.py",
    "streams/engine/local_days.py": "streams/engine/local_days.py",
    "streams/engine/journey.py": "streams/engine/journey.py",
    "streams/engine/lifecycle.py": "streams/engine/lifecycle.py",
    "streams/engine/records.py": "streams/engine/records.py",
    "streams/engine/samples.py": "streams/engine/samples.py",
    "streams/engine/sessions.py": "streams/engine/sessions.py",
    "streams/engine/support.py": "streams/engine/support.py",
    "streams/engine/surveys.py": "streams/engine/surveys.py",
    "streams/engine/timeline.py": "streams/engine/timeline.py",
    "streams/engine/users.py": "streams/engine/users.py",
    "streams/engine/revenue/__init__.py": "streams/engine/revenue/__init__.py",
    "streams/engine/revenue/account.py": "streams/engine/revenue/account.py",
    "streams/engine/revenue/config.py": "streams/engine/revenue/revenue_config.py",
    "streams/engine/revenue/metrics.py": "streams/engine/revenue/metrics.py",
    "streams/engine/revenue/money.py": "streams/engine/revenue/money.py",
    "streams/engine/revenue/movements.py": "streams/engine/revenue/movements.py",
    "streams/engine/revenue/steps.py": "streams/engine/revenue/steps.py",
    # generator: seeded telemetry (place unchanged; config renamed)
    "streams/generator/__init__.py": "streams/generator/__init__.py",
    "streams/generator/activity.py": "streams/generator/activity.py",
    "streams/generator/billing.py": "streams/generator/billing.py",
    "streams/generator/catalog.py": "streams/generator/catalog.py",
    "streams/generator/clock.py": "streams/generator/clock.py",
    "streams/generator/config.py": "streams/generator/generator_config.py",
    "streams/generator/crm.py": "streams/generator/crm.py",
    "streams/generator/faults.py": "streams/generator/faults.py",
    "streams/generator/live.py": "streams/generator/live.py",
    "streams/generator/simulation.py": "streams/generator/simulation.py",
    "streams/generator/sinks.py": "streams/generator/sinks.py",
    "streams/generator/summary.py": "streams/generator/summary.py",
    "streams/generator/support.py": "streams/generator/support.py",
    "streams/generator/timeline.py": "streams/generator/timeline.py",
    "streams/generator/world.py": "streams/generator/world.py",
    # reports: the HTML reports and their templates stay together
    "streams/reports/__init__.py": "streams/reports/__init__.py",
    "streams/reports/charts.py": "streams/reports/charts.py",
    "streams/reports/portfolio.py": "streams/reports/portfolio.py",
    "streams/reports/qbr.py": "streams/reports/qbr.py",
    "streams/reports/render.py": "streams/reports/render.py",
    "streams/reports/timeline.py": "streams/reports/timeline.py",
}

# Folders moved whole (their data files move with them; their modules are named above).
FOLDERS: dict[str, str] = {"streams/resources": "streams/devtools/resources"}

# Packages the move creates: path of the __init__.py -> its docstring.
NEW_PACKAGES: dict[str, str] = {
    "streams/contract/__init__.py": (
        "The event contract: bytes -> a typed event (`model`) or a rejection with a\n"
        "machine-readable reason (`decoding`), and the dead-letter record of every rejection\n"
        "(`deadletter`). Imports nothing from ingest, worker or cli."
    ),
    "streams/ingest/__init__.py": (
        "Ingest: admission (dedup, lateness, future) and the per-message pipeline shared by\n"
        "the worker and `pulse replay`, with its counters. Imports contract and engine."
    ),
    "streams/worker/__init__.py": (
        "The Faust shell of `pulse worker`: app, per-partition state and its transactions,\n"
        "delivery, telemetry, settings, HTTP views. Only `worker.faust` touches Faust internals."
    ),
    "streams/worker/faust/__init__.py": (
        "Everything that patches faust-streaming, mode-streaming or aiokafka internals, behind\n"
        "one version and source check (`compat`). Nothing outside this package does."
    ),
    "streams/kafka/__init__.py": (
        "How every command reaches Kafka (`security`: one definition of the options and TLS)\n"
        "and the project's topics (`topics`): shared by the worker, the CLI, the generator\n"
        "and the connectors."
    ),
    "streams/devtools/__init__.py": (
        "Developer tools: a local Apache Kafka broker and a local Prometheus, and their files."
    ),
}

# Other new files: `python -m streams.cli` runs the `pulse` group, as before the move.
NEW_FILES: dict[str, str] = {
    "streams/cli/__main__.py": (
        '"""`python -m streams.cli`: the `pulse` command."""\n\n'
        "from streams.cli import main\n\nmain()\n"
    ),
}

# Trees whose text is rewritten: every tracked file except binaries and this script.
SELF = "tools/relayout.py"


def fail(lines: list[str], headline: str) -> None:
    print(f"relayout: {headline}", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    sys.exit(1)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def dotted(path: str) -> str:
    """streams/a/b.py -> streams.a.b; streams/a/__init__.py -> streams.a."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_renames() -> dict[str, str]:
    """Old dotted name -> new dotted name, for every module or package whose name changes."""
    renames = {
        dotted(old): dotted(new) for old, new in MODULES.items() if dotted(old) != dotted(new)
    }
    for old, new in FOLDERS.items():
        renames[old.replace("/", ".")] = new.replace("/", ".")
    return renames


def path_renames() -> dict[str, str]:
    renames = {old: new for old, new in MODULES.items() if old != new}
    for old, new in FOLDERS.items():
        renames[old + "/"] = new + "/"
        renames[old] = new
    return renames


def alternation(names: list[str]) -> str:
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


def unknown_modules(root: Path) -> list[str]:
    """Modules under streams/ that the table does not name (old layout)."""
    found = sorted(p.relative_to(root).as_posix() for p in (root / "streams").rglob("*.py"))
    return [path for path in found if path not in MODULES]


def layout_state(root: Path) -> str:
    """'old', 'new', or a description of a mixed tree."""
    moved = {old: new for old, new in MODULES.items() if old != new}
    olds = [old for old in moved if (root / old).exists()]
    news = [new for new in moved.values() if (root / new).exists()]
    if len(olds) == len(moved) and not news:
        return "old"
    if len(news) == len(moved) and not olds:
        return "new"
    return f"mixed: {len(olds)} old paths and {len(news)} new paths present"


FROM_STREAMS = re.compile(
    r"^(?P<indent>[ \t]*)from streams import (?:\((?P<group>[^)]*)\)|(?P<line>[^\n#]*?))"
    r"(?P<comment>[ \t]*#[^\n]*)?$",
    re.MULTILINE,
)


def rewrite_from_streams(text: str, renames: dict[str, str]) -> str:
    """`from streams import a, b as c` -> one import per moved module, others kept."""

    def replace(match: re.Match[str]) -> str:
        names = match.group("group") if match.group("group") is not None else match.group("line")
        indent = match.group("indent")
        kept: list[str] = []
        moved: list[str] = []
        for item in (part.strip() for part in names.replace("\n", " ").split(",")):
            if not item:
                continue
            name, _, alias = (piece.strip() for piece in item.partition(" as "))
            new = renames.get(f"streams.{name}")
            if new is None:
                kept.append(item)
                continue
            parent, leaf = new.rsplit(".", 1)
            bound = alias or name
            moved.append(
                f"{indent}from {parent} import {leaf}" + ("" if leaf == bound else f" as {bound}")
            )
        if not moved:
            return match.group(0)
        lines = ([f"{indent}from streams import {', '.join(kept)}"] if kept else []) + moved
        return "\n".join(lines) + (match.group("comment") or "")

    return FROM_STREAMS.sub(replace, text)


def rewrite(text: str, renames: dict[str, str], paths: dict[str, str]) -> str:
    text = rewrite_from_streams(text, renames)
    names = re.compile(rf"(?<![\w.])({alternation(list(renames))})(?!\w)")
    text = names.sub(lambda m: renames[m.group(1)], text)
    files = re.compile(rf"(?<![\w-])({alternation(list(paths))})(?:(?<=/)|(?!\w))")
    text = files.sub(lambda m: paths[m.group(1)], text)
    return JOINED_PATH.sub(lambda m: rewrite_joined(m, files, paths), text)


# a path built in code: REPO / "streams" / "resources" / "kafka" / "pom.xml"
JOINED_PATH = re.compile(r'"streams"(?: / "[\w.-]+")+')


def rewrite_joined(match: re.Match[str], files: re.Pattern[str], paths: dict[str, str]) -> str:
    joined = "/".join(part.strip('" ') for part in match.group(0).split(" / "))
    if not joined.endswith(".py"):
        joined += "/"
    moved = files.sub(lambda m: paths[m.group(1)], joined).rstrip("/")
    return " / ".join(f'"{part}"' for part in moved.split("/"))


FILE_ANCHOR = re.compile(
    r"(?P<head>Path\(__file__\)(?:\.resolve\(\))?)(?:\.parents\[(?P<n>\d+)\]|(?P<chain>(?:\.parent(?!s))+))"
)


def rebase_file_anchors(text: str, delta: int) -> str:
    """`Path(__file__).parent.parent` in a module moved `delta` folders deeper still names
    the same folder: the chain of parents grows by `delta` (written as `.parents[n]`)."""

    def replace(match: re.Match[str]) -> str:
        ups = (
            match.group("chain").count(".parent")
            if match.group("chain")
            else int(match.group("n")) + 1
        )
        return f"{match.group('head')}.parents[{ups + delta - 1}]"

    return FILE_ANCHOR.sub(replace, text) if delta else text


def tracked_text_files(root: Path) -> list[Path]:
    files = []
    for name in git("ls-files", "-z").split("\0"):
        if not name or name == SELF:
            continue
        path = root / name
        if not path.is_file():
            continue
        try:
            path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        files.append(path)
    return files


def leftovers(root: Path, renames: dict[str, str], paths: dict[str, str]) -> list[str]:
    """file:line of every remaining old dotted name or path (none after a good run)."""
    new_names = sorted(set(renames.values()), key=len, reverse=True)
    names = re.compile(rf"(?<![\w.])({alternation(list(renames))})(?!\w)")
    files = re.compile(rf"(?<![\w-])({alternation(list(paths))})(?:(?<=/)|(?!\w))")
    top_level = [name.split(".", 1)[1] for name in renames if name.count(".") == 1]
    old_from = re.compile(rf"^\s*from streams import .*\b({alternation(top_level)})\b")

    def stale(line: str, match: re.Match[str]) -> bool:
        # a new name may start with an old one (streams.replay -> streams.cli.replay)
        rest = line[match.start() :]
        return not any(
            re.match(rf"{re.escape(n)}(?!\w)", rest)
            for n in new_names
            if n.startswith(match.group(1) + ".")
        )

    found = []
    for path in tracked_text_files(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if (
                any(stale(line, m) for m in names.finditer(line))
                or files.search(line)
                or old_from.search(line)
                or any(
                    rewrite_joined(m, files, paths) != m.group(0)
                    for m in JOINED_PATH.finditer(line)
                )
            ):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()[:100]}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args()
    root = Path(git("rev-parse", "--show-toplevel").strip())
    if Path.cwd().resolve() != root.resolve():
        fail([f"cd {root}"], "run it from the repository's top folder")

    state = layout_state(root)
    if state == "new":
        print("relayout: already applied (every module is at its new path); nothing to do")
        return
    if state != "old":
        fail([state], "the tree is half moved; restore it (git checkout/reset) and run again")
    unknown = unknown_modules(root)
    if unknown:
        fail(
            [f'"{p}": "streams/<package>/{Path(p).name}",' for p in unknown],
            "modules not named in MODULES (added by a branch?): add a line for each and rerun",
        )
    if not args.dry_run and git("status", "--porcelain", "--untracked-files=no").strip():
        fail(["git stash, or commit"], "the work tree has uncommitted changes")

    renames, paths = module_renames(), path_renames()
    moves = [
        (old, new)
        for old, new in MODULES.items()
        if old != new and not any(old.startswith(f + "/") for f in FOLDERS)
    ]
    moves += list(FOLDERS.items())
    if args.dry_run:
        for old, new in moves:
            print(f"git mv {old} {new}")
        for name in [*NEW_PACKAGES, *NEW_FILES]:
            print(f"create {name}")
        for old, new in sorted(renames.items()):
            print(f"rename {old} -> {new}")
        return

    for old, new in moves:
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        git("mv", old, new)
    for old, new in MODULES.items():  # modules that read files beside the repository
        delta = new.count("/") - old.count("/")
        text = (root / new).read_text(encoding="utf-8")
        if delta and FILE_ANCHOR.search(text):
            (root / new).write_text(rebase_file_anchors(text, delta), encoding="utf-8")
    changed = 0
    for path in tracked_text_files(root):
        text = path.read_text(encoding="utf-8")
        new_text = rewrite(text, renames, paths)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            changed += 1
    # after the rewrite: their text already names the new modules
    new_files = {init: f'"""{doc}"""\n' for init, doc in NEW_PACKAGES.items()} | NEW_FILES
    for name, content in new_files.items():
        if not (root / name).exists():
            (root / name).write_text(content, encoding="utf-8")
            git("add", name)

    print(f"relayout: moved {len(moves)} paths, rewrote references in {changed} files")

    left = leftovers(root, renames, paths)
    if left:
        fail(left, "old names are still referenced; fix these by hand or extend the rewrite")
    print("relayout: done; next: make install, then the tests")


if __name__ == "__main__":
    main()
