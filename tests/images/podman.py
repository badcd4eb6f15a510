"""Podman for the image tests, `scripts/build-images` and the Kubernetes manifest harness.

Standard library only (the build script runs it with any Python 3.11+). What it does:
- a private podman configuration (runc, host network, ulimits, overlay storage in a directory of
  its own) because this kind of machine has no Docker engine and podman's defaults do not work;
- a Debian base image made with debootstrap (`localhost/hostpulse-base:<key>`), because no
  registry image can be pulled here. It lives in the private storage under the cache directory,
  keyed by a hash of its inputs, so it is made once per machine (~50 s) and reused by every run;
- the offline wheelhouse (`build/wheelhouse`, inside the build context), rebuilt only when
  pyproject.toml or constraints.txt change;
- the three images `localhost/hostpulse-{exporter,backend,dashboard}:<version>`; the tests build
  them as `:test-<digest>` (a hash of the Dockerfile, the build context's files, the wheelhouse and
  the base image) and reuse an image with that tag, so an unchanged tree builds nothing and two
  checkouts sharing the storage never run each other's code;
- containers run for a test (`run_container`), always removed afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("exporter", "backend", "dashboard")
# Size targets of issue 10 (on the official python:3.12-slim-bookworm base), in MB (10**6 bytes).
SIZE_TARGETS_MB = {"exporter": 150, "backend": 300}
BASE_REPOSITORY = "localhost/hostpulse-base"
# Everything the images need from Debian: python3 (and venv, to make the build venvs).
DEBOOTSTRAP_PACKAGES = ("python3-minimal", "python3-venv")
DEBIAN_SUITE = "bookworm"
# What the official slim images also leave out; removed from the debootstrap tree before import.
TRIMMED_PATHS = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
)
WHEELHOUSE = REPO / "build" / "wheelhouse"
# Every extra the images install, so one wheelhouse serves the three builds.
WHEELHOUSE_EXTRAS = "exporter,exporter-grpc,backend,dashboard"
_BASE_RECIPE_VERSION = "1"  # bump when the base image's recipe changes

Progress = Callable[[str], None]


def say(message: str) -> None:
    """The default progress line: one line on stderr, flushed."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def project_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def image_name(component: str, version: str | None = None) -> str:
    """`localhost/hostpulse-<component>:<version>` (the version from pyproject.toml)."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r} (one of {', '.join(COMPONENTS)})")
    return f"localhost/hostpulse-{component}:{version or project_version()}"


def cache_dir() -> Path:
    """Where the private podman storage (with the base image) and its config live.

    `HOSTPULSE_IMAGES_CACHE` if set, else /var/tmp/hostpulse-images (kept across reboots and
    shared by every checkout on the machine, so the base image is made once).
    """
    return Path(os.environ.get("HOSTPULSE_IMAGES_CACHE", "/var/tmp/hostpulse-images"))


def podman_environment(cache: Path | None = None) -> dict[str, str]:
    """The environment for `podman` with the private config files written under `cache`."""
    root = cache or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    containers_conf = root / "containers.conf"
    storage_conf = root / "storage.conf"
    containers_conf.write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'
        'netns = "host"\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    storage_conf.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{root / "storage"}"\n'
        f'runroot = "{root / "run"}"\n'
    )
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(containers_conf)
    env["CONTAINERS_STORAGE_CONF"] = str(storage_conf)
    return env


def missing_programs(
    names: Sequence[str] = ("podman", "buildah", "runc", "debootstrap"),
) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


class PodmanError(RuntimeError):
    """A podman (or debootstrap, pip) command failed; the message has its output's tail."""


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (made if missing): test sessions and build scripts
    running at once on one machine make the base image and a wheelhouse one at a time."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    input_bytes: bytes | None = None,
    timeout: float = 600,
) -> str:
    """Run a command; its stdout as text, or PodmanError with the command and its output's end."""
    try:
        done = subprocess.run(
            list(command),
            env=dict(env) if env is not None else None,
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PodmanError(f"{' '.join(command)}: no result after {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace")[-4000:]
        raise PodmanError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    return done.stdout.decode(errors="replace")


def podman(env: Mapping[str, str], *args: str, timeout: float = 600) -> str:
    return run(["podman", *args], env, timeout=timeout)


def image_exists(env: Mapping[str, str], name: str) -> bool:
    return (
        subprocess.run(["podman", "image", "exists", name], env=dict(env), check=False).returncode
        == 0
    )


def image_size_bytes(env: Mapping[str, str], name: str) -> int:
    return int(podman(env, "image", "inspect", "--format", "{{.Size}}", name).strip())


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses (deb822 `.sources` or one-line `sources.list`)."""
    for path in sorted(sources_dir.glob("sources.list.d/*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if uri.rstrip("/").endswith("/debian"):
                        return uri
    for path in [sources_dir / "sources.list", *sorted(sources_dir.glob("sources.list.d/*.list"))]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                uri = next(p for p in parts[1:] if not p.startswith("["))
                if uri.rstrip("/").endswith("/debian"):
                    return uri
    return "http://deb.debian.org/debian"


def base_image_name(mirror: str | None = None) -> str:
    """`localhost/hostpulse-base:<key>`: the key hashes everything the image is made from."""
    recipe = "\n".join(
        [
            _BASE_RECIPE_VERSION,
            DEBIAN_SUITE,
            mirror or debian_mirror(),
            *DEBOOTSTRAP_PACKAGES,
            *TRIMMED_PATHS,
        ]
    )
    return f"{BASE_REPOSITORY}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_base_image(env: Mapping[str, str], progress: Progress = say) -> str:
    """The debootstrap base image's name, made first if this storage does not have it yet."""
    mirror = debian_mirror()
    name = base_image_name(mirror)
    if image_exists(env, name):
        return name
    work = Path(env.get("CONTAINERS_STORAGE_CONF", str(cache_dir() / "x"))).parent
    with exclusive(work / "base-image.lock"):
        if image_exists(env, name):  # made by another session while this one waited
            return name
        return _make_base_image(env, name, mirror, work, progress)


def _make_base_image(
    env: Mapping[str, str], name: str, mirror: str, work: Path, progress: Progress
) -> str:
    progress(f"making the base image {name} with debootstrap (once per machine, ~1 min)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hostpulse-rootfs-", dir=work) as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(DEBOOTSTRAP_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                mirror,
            ],
            timeout=900,
        )
        for relative in TRIMMED_PATHS:
            target = rootfs / relative
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(
                ["podman", "import", "--change", 'CMD ["python3"]', "-", name],
                env=dict(env),
                stdin=tar.stdout,
                capture_output=True,
                check=False,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise PodmanError(f"podman import {name} failed: {imported.stderr.decode()[-2000:]}")
    progress(f"base image {name} made in {time.monotonic() - started:.0f} s")
    return name


def python_version_of(command: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """An interpreter's version as '3.11.2' (`command` runs it, maybe in a container)."""
    code = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    return run([*command, "-c", code], env, timeout=120).strip()


def wheelhouse_python(env: Mapping[str, str], base_image: str) -> str:
    """A host interpreter of exactly the base image's Python version, to build its wheelhouse.

    The exact version matters: dependencies' markers differ even between patch releases
    (redis needs async-timeout below 3.11.3). Debian's python3 matches the debootstrap base.
    """
    wanted = python_version_of(
        ["podman", "run", "--rm", "--network", "host", "--pull=never", base_image, "python3"], env
    )
    candidates = [_venv_python(), "/usr/bin/python3", sys.executable]
    found: list[str] = []
    for candidate in dict.fromkeys(candidates):
        if not Path(candidate).exists():
            continue
        version = python_version_of([candidate])
        if version == wanted and run([candidate, "-m", "pip", "--version"]):
            return candidate
        found.append(f"{candidate} is {version}")
    raise PodmanError(
        f"no Python {wanted} (the base image's) on this host with pip to build the wheelhouse "
        f"({'; '.join(found)}): install it, or pass --wheelhouse DIR built for Python {wanted}, "
        "or build with --online"
    )


def _wheelhouse_key(python: str) -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((REPO / name).read_bytes())
    digest.update(python_version_of([python]).encode())
    digest.update(WHEELHOUSE_EXTRAS.encode())
    return digest.hexdigest()[:16]


def ensure_wheelhouse(
    python: str, destination: Path = WHEELHOUSE, progress: Progress = say
) -> Path:
    """Wheels of every dependency of the images (and setuptools/wheel to build the project), made
    by `python -m pip wheel` on this host, so a build needs no network.

    The wheels are for `python`'s exact version (see `wheelhouse_python`).
    """
    key = _wheelhouse_key(python)
    stamp = destination / ".key"
    with exclusive(destination.parent / ".wheelhouse.lock"):
        if stamp.is_file() and stamp.read_text().strip() == key:
            return destination
        _make_wheelhouse(python, destination, key, progress)
    return destination


def _make_wheelhouse(python: str, destination: Path, key: str, progress: Progress) -> None:
    stamp = destination / ".key"
    progress(f"building the wheelhouse {destination} with {python}")
    started = time.monotonic()
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    run(
        [
            python,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(destination),
            "--constraint",
            str(REPO / "constraints.txt"),
            f"{REPO}[{WHEELHOUSE_EXTRAS}]",
            "setuptools>=68",
            "wheel",
        ],
        timeout=900,
    )
    for own in destination.glob("hostpulse-*.whl"):
        own.unlink()  # the images build the project from its source in the context
    stamp.write_text(key + "\n")
    progress(f"wheelhouse ready in {time.monotonic() - started:.0f} s")


def _venv_python() -> str:
    return str(REPO / ".venv" / "bin" / "python")


def copy_wheelhouse(source: Path, destination: Path = WHEELHOUSE) -> Path:
    """Put a wheelhouse made elsewhere inside the build context (the only place a build sees)."""
    if source.resolve() == destination.resolve():
        return destination
    wheels = sorted(source.glob("*.whl"))
    if not wheels:
        raise PodmanError(f"{source}: no .whl files (make one with `pip wheel -w {source} ...`)")
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for wheel in wheels:
        shutil.copy2(wheel, destination / wheel.name)
    return destination


# What the Dockerfiles COPY from the build context (besides the wheelhouse).
CONTEXT_FILES = ("pyproject.toml", "README.md", "constraints.txt")
CONTEXT_PACKAGES = ("conventions", "exporter", "backend", "dashboards", "launcher")


def context_digest(
    env: Mapping[str, str], component: str, *, base_image: str, wheelhouse: Path | None
) -> str:
    """A hash of everything an image is built from: its Dockerfile, the context's files (what
    .dockerignore lets in), the wheelhouse's wheels and the base image's id."""
    digest = hashlib.sha256()
    digest.update(podman(env, "image", "inspect", "--format", "{{.Id}}", base_image).encode())
    paths = [REPO / "docker" / f"{component}.Dockerfile", REPO / ".dockerignore"]
    paths += [REPO / name for name in CONTEXT_FILES]
    for package in CONTEXT_PACKAGES:
        paths += sorted(
            path
            for path in (REPO / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
    if wheelhouse is not None:
        paths += sorted(wheelhouse.glob("*.whl"))
    for path in paths:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        if path.suffix == ".whl":  # named by version: the name is enough, and ~30x faster
            digest.update(str(path.stat().st_size).encode())
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(project_version().encode())
    return digest.hexdigest()[:16]


def build_image(
    env: Mapping[str, str],
    component: str,
    *,
    base_image: str,
    wheelhouse: Path | None = WHEELHOUSE,
    tag: str | None = None,
    progress: Progress = say,
    reuse: bool = False,
) -> str:
    """Build one component's image from `docker/<component>.Dockerfile`; its name.

    `reuse`: tag it `test-<context digest>` and skip the build when an image with that tag
    exists (then also tag it `<version>`, the name the manifests use).
    """
    version = project_version()
    if reuse:
        tag = "test-" + context_digest(env, component, base_image=base_image, wheelhouse=wheelhouse)
    name = image_name(component, tag or version)
    if reuse:
        mark_used(name)
    if reuse and image_exists(env, name):
        progress(f"reusing {name} (nothing it is built from changed)")
        podman(env, "tag", name, image_name(component, version))
        return name
    command = [
        "build",
        "--file",
        str(REPO / "docker" / f"{component}.Dockerfile"),
        "--tag",
        name,
        "--network",
        "host",
        # Docker's image format: OCI's has no HEALTHCHECK, which podman would otherwise drop.
        "--format",
        "docker",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--build-arg",
        f"VERSION={version}",
    ]
    if wheelhouse is not None:
        command += ["--build-arg", f"WHEELHOUSE={wheelhouse.resolve().relative_to(REPO)}"]
    if base_image.startswith("localhost/"):
        command.append("--pull=never")
    progress(f"building {name}")
    started = time.monotonic()
    podman(env, *command, str(REPO), timeout=900)
    progress(f"built {name} in {time.monotonic() - started:.0f} s")
    if reuse:
        podman(env, "tag", name, image_name(component, version))
    return name


# Test images (`:test-<digest>`) neither built nor reused for this long are removed by
# `prune_test_images`; a session uses its images for minutes, so this never takes one in use.
TEST_IMAGE_MAX_IDLE_SECONDS = 6 * 3600


def _use_stamp(name: str) -> Path:
    return cache_dir() / "used" / name.replace("/", "_").replace(":", "_")


def mark_used(name: str) -> None:
    """Note that a session builds or reuses `name` now (see `prune_test_images`)."""
    stamp = _use_stamp(name)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()


def stale_test_tags(
    images: Sequence[Mapping[str, object]],
    last_used: Callable[[str], float | None],
    *,
    keep: Collection[str],
    now: float,
    max_idle: float = TEST_IMAGE_MAX_IDLE_SECONDS,
) -> list[str]:
    """The `localhost/hostpulse-*:test-*` tags of `podman images --format json` that are not in
    `keep` and were neither created nor used in the last `max_idle` seconds."""
    stale = []
    for image in images:
        created = float(str(image.get("Created", 0)))
        tags = image.get("RepoTags") or []
        assert isinstance(tags, list)
        for tag in tags:
            if not (tag.startswith("localhost/hostpulse-") and ":test-" in tag) or tag in keep:
                continue
            newest = max(created, last_used(tag) or 0.0)
            if now - newest > max_idle:
                stale.append(tag)
    return stale


def prune_test_images(env: Mapping[str, str], keep: Collection[str]) -> list[str]:
    """Remove stale test images (`stale_test_tags`) and build stages left dangling as long, so
    a machine that runs the suite after every change does not fill its disk. Best effort: an
    image a container still uses stays."""

    def last_used(tag: str) -> float | None:
        stamp = _use_stamp(tag)
        return stamp.stat().st_mtime if stamp.exists() else None

    images = json.loads(podman(env, "images", "--format", "json"))
    stale = stale_test_tags(images, last_used, keep=keep, now=time.time())
    for tag in stale:
        subprocess.run(["podman", "rmi", tag], env=dict(env), capture_output=True, check=False)
        _use_stamp(tag).unlink(missing_ok=True)
    subprocess.run(
        [
            "podman",
            "image",
            "prune",
            "--force",
            "--filter",
            f"until={TEST_IMAGE_MAX_IDLE_SECONDS}s",
        ],
        env=dict(env),
        capture_output=True,
        check=False,
    )
    return stale


def build_images(
    env: Mapping[str, str],
    *,
    base_image: str,
    wheelhouse: Path | None = WHEELHOUSE,
    tag: str | None = None,
    components: Sequence[str] = COMPONENTS,
    progress: Progress = say,
    reuse: bool = False,
) -> dict[str, str]:
    """Build the images; component -> image name (see `build_image` for `reuse`)."""
    return {
        component: build_image(
            env,
            component,
            base_image=base_image,
            wheelhouse=wheelhouse,
            tag=tag,
            progress=progress,
            reuse=reuse,
        )
        for component in components
    }


@dataclass
class Container:
    """A running container started by `run_container`."""

    env: Mapping[str, str]
    name: str
    image: str
    started: float = field(default_factory=time.monotonic)

    def logs(self) -> str:
        done = subprocess.run(
            ["podman", "logs", self.name], env=dict(self.env), capture_output=True, check=False
        )
        return (done.stdout + done.stderr).decode(errors="replace")

    def running(self) -> bool:
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Running}}", self.name],
            env=dict(self.env),
            capture_output=True,
            check=False,
        )
        return state.stdout.decode().strip() == "true"

    def stop(self, seconds: int = 20) -> int:
        """`podman stop` (the image's STOPSIGNAL, then SIGKILL after `seconds`); the exit code:
        0 for a process that shut down on the signal, 137 for one that had to be killed."""
        podman(self.env, "stop", "--time", str(seconds), self.name, timeout=seconds + 60)
        code = podman(self.env, "inspect", "--format", "{{.State.ExitCode}}", self.name)
        return int(code.strip())

    def exec(self, *command: str) -> str:
        return podman(self.env, "exec", self.name, *command, timeout=60)

    def wait_http(self, url: str, timeout: float = 30.0) -> bytes:
        """The body of the first 2xx answer from `url`; PodmanError with the logs if none."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running():
                raise PodmanError(f"{self.name} ({self.image}) exited:\n{self.logs()[-4000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    body: bytes = answer.read()
                    return body
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise PodmanError(f"{url}: {last} after {timeout:.0f} s; logs:\n{self.logs()[-4000:]}")


@contextlib.contextmanager
def run_container(
    env: Mapping[str, str],
    image: str,
    args: Sequence[str] = (),
    *,
    name: str,
    environment: Mapping[str, str] | None = None,
    read_only: bool = True,
    options: Sequence[str] = (),
    network: str = "host",
) -> Iterator[Container]:
    """`podman run -d` on the host network (the recipe's advice; `network="none"` for a network
    namespace of its own with only `lo`), removed when the block ends.

    Read-only root by default, with a tmpfs /tmp as a Kubernetes emptyDir would give.
    """
    command = ["run", "--detach", "--name", name, "--network", network, "--pull=never"]
    if read_only:
        command += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m"]
    for key, value in (environment or {}).items():
        command += ["--env", f"{key}={value}"]
    command += [*options, image, *args]
    subprocess.run(
        ["podman", "rm", "--force", name], env=dict(env), capture_output=True, check=False
    )
    podman(env, *command, timeout=120)
    container = Container(env, name, image)
    try:
        yield container
    finally:
        subprocess.run(
            ["podman", "rm", "--force", "--time", "5", name],
            env=dict(env),
            capture_output=True,
            check=False,
        )
