"""The Dockerfile, checked without a Docker engine (there is none here): its
stages, that the binary it copies out of the builder is where Cargo puts it,
and that the image runs as non-root, exposes sloop's ports, has no HEALTHCHECK
and starts with the config path the Helm chart mounts.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sloop_chart import CHART, REPO, container, render

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    # (instruction, arguments) in order, instruction upper-cased.
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for ins, args in self.instructions if ins == instruction]

    def last(self, instruction: str) -> str:
        found = self.all(instruction)
        assert found, f"stage {self.name or self.base} has no {instruction}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, continuation lines joined."""
    logical, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{instruction} before the first FROM"
            stages[-1].instructions.append((instruction, args))
    return stages


def exec_form(args: str) -> list[str]:
    """ENTRYPOINT/CMD arguments; the exec (JSON) form is required so that the
    binary is PID 1 and receives SIGTERM for a clean shutdown."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def copy_sources(args: str) -> tuple[dict[str, str], list[str], str]:
    """COPY's --flags, sources and destination."""
    words = shlex.split(args)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def cargo_metadata() -> dict:
    result = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def sloop_bin_name(metadata: dict) -> str:
    (package,) = [p for p in metadata["packages"] if p["name"] == "sloop"]
    bins = [t["name"] for t in package["targets"] if "bin" in t["kind"]]
    assert len(bins) == 1, bins
    return bins[0]


def test_two_stages_builder_then_minimal_runtime(stages):
    assert len(stages) == 2, [s.base for s in stages]
    builder, runtime = stages
    assert builder.name == "builder"
    assert builder.base.startswith("rust:"), builder.base
    assert runtime.base.startswith("gcr.io/distroless/"), runtime.base
    # The runtime stage only receives the binary: no build steps, no shell.
    assert runtime.all("RUN") == []


def test_builder_builds_the_release_binary_cargo_names(stages, cargo_metadata):
    builder = stages[0]
    bin_name = sloop_bin_name(cargo_metadata)
    builds = [shlex.split(r) for r in builder.all("RUN") if r.startswith("cargo build")]
    assert len(builds) == 1, builder.all("RUN")
    (build,) = builds
    assert "--release" in build and "--locked" in build
    assert build[build.index("--bin") + 1] == bin_name
    # The allocator BENCHMARKS.md chose for what ships.
    assert build[build.index("--features") + 1] == "jemalloc"


def test_runtime_copies_the_binary_from_cargos_output_path(stages, cargo_metadata):
    builder, runtime = stages
    workdir = builder.last("WORKDIR")
    # The build context (the workspace root) is copied to WORKDIR, so the
    # workspace's target directory is at the same relative place under it.
    assert [copy_sources(c)[1:] for c in builder.all("COPY")] == [(["."], ".")]
    target_dir = Path(cargo_metadata["target_directory"])
    relative_target = target_dir.relative_to(Path(cargo_metadata["workspace_root"]))
    expected = posixpath.join(workdir, relative_target.as_posix(), "release", sloop_bin_name(cargo_metadata))

    copies = [copy_sources(c) for c in runtime.all("COPY")]
    assert len(copies) == 1, runtime.all("COPY")
    flags, sources, destination = copies[0]
    assert flags == {"from": builder.name}
    assert sources == [expected]
    assert exec_form(runtime.last("ENTRYPOINT")) == [destination]


def test_runs_as_non_root(stages):
    user = stages[-1].last("USER").split(":")[0]
    assert user not in ("", "0", "root"), user
    # The chart's pod securityContext uses the same uid.
    with open(CHART / "values.yaml") as f:
        values = yaml.safe_load(f)
    assert str(values["securityContext"]["runAsUser"]) == user


def test_exposes_sloops_ports(stages):
    exposed = {int(p.split("/")[0]) for e in stages[-1].all("EXPOSE") for p in e.split()}
    assert exposed == {4317, 4318, 8888, 13133}
    with open(CHART / "values.yaml") as f:
        chart_ports = {p["containerPort"] for p in yaml.safe_load(f)["ports"].values()}
    assert exposed == chart_ports, "the chart's container ports are the image's"


def test_no_healthcheck(stages):
    """Kubernetes probes /livez and /readyz; a HEALTHCHECK would only run twice."""
    assert all(stage.all("HEALTHCHECK") == [] for stage in stages)


def test_default_command_reads_the_config_the_chart_mounts(stages):
    cmd = exec_form(stages[-1].last("CMD"))
    assert cmd == ["--config", "/etc/sloop/config.yaml"]
    args = container(render({"mode": "deployment"}))["args"]
    assert args[:2] == cmd, "the chart passes the same --config"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes a path (the subset of its syntax we use:
    globs, a trailing / for directories, no ! exceptions)."""
    assert not any(p.startswith("!") for p in patterns)
    parts = path.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        for depth in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:depth]), pattern):
                return True
    return False


def test_dockerignore_keeps_the_workspace_and_drops_the_rest(cargo_metadata):
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    root = Path(cargo_metadata["workspace_root"])
    needed = {"Cargo.toml", "Cargo.lock"}
    for package in cargo_metadata["packages"]:
        needed.add(Path(package["manifest_path"]).relative_to(root).as_posix())
        for target in package["targets"]:
            needed.add(Path(target["src_path"]).relative_to(root).as_posix())
    kept_out = [p for p in sorted(needed) if dockerignored(p, patterns)]
    assert kept_out == [], "the build needs these"
    for path in ("target/debug/sloop", ".git/HEAD", "charts/sloop/values.yaml", "deploy-tests/test_chart.py"):
        assert dockerignored(path, patterns), path
