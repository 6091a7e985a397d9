"""Real containers for the deployment tests: rootful podman, base images made from Debian
packages, bosun's image built from deploy/Dockerfile, and podman-compose.

No registry is reachable from CI, and no Docker daemon runs there, so:

- podman runs with its own configuration and storage (`PODMAN_ROOT`): the overlay storage
  driver, or vfs where overlay does not work; runc (crun refuses hosts with cgroup v1 and v2
  mounted together); netavark with aardvark-dns (so that Compose services find each other by
  name); default ulimits of 4096 open files and processes (these machines forbid raising
  rlimits, which podman's defaults do).
- Base images come from `mmdebstrap` (Debian packages into a tarball, `podman import`): a
  Python one for bosun's image, a PostgreSQL one for the Compose stack. They are kept in
  podman's storage under a name derived from what went into them, so a second session on the
  same machine reuses them.
- pip inside the image build reaches no index: the wheels bosun needs are built here
  (`pip wheel`) and mounted into the build, which installs from them alone
  (`PIP_NO_INDEX=1`, `PIP_FIND_LINKS`; the Dockerfile's build arguments).

Every test using these shares one xdist process (`CONTAINERS_GROUP`), so the images are built
once per session.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_GROUP = pytest.mark.xdist_group("containers")
PODMAN_ROOT = Path(os.environ.get("BOSUN_TEST_PODMAN_ROOT", "/var/tmp/bosun-test-podman"))
SUITE = "bookworm"
# Everything the Dockerfile's runtime stage would otherwise fetch is in the base
# (bubblewrap), so the image builds without any network.
PYTHON_PACKAGES = ("python3", "python3-venv", "ca-certificates", "bubblewrap")
POSTGRES_PACKAGES = ("postgresql", "ca-certificates")
# Leave out what no test reads: documentation, manual pages and translations.
_TRIM = (
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
)
APT_PACKAGES = "podman podman-compose mmdebstrap runc netavark aardvark-dns iptables"


def unavailable() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    tools = ("podman", "podman-compose", "mmdebstrap")
    missing = [tool for tool in tools if not shutil.which(tool)]
    # podman's network backend that gives Compose services names (/usr/libexec on some).
    missing += [
        tool
        for tool in ("netavark", "aardvark-dns")
        if not any(Path(f"{d}/podman/{tool}").is_file() for d in ("/usr/lib", "/usr/libexec"))
    ]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install {APT_PACKAGES})"
    if os.geteuid() != 0:
        return "the container tests run rootful podman and mmdebstrap: they need root"
    return None


def require_podman() -> None:
    """Skip, with the reason, where podman cannot run; under CI, fail instead."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the container tests to run: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Podman:
    """podman (and podman-compose) with the tests' own configuration and storage."""

    root: Path
    driver: str

    @classmethod
    def configured(cls, root: Path = PODMAN_ROOT) -> Podman:
        """podman configured under `root`, on the overlay storage driver where this machine
        has it (BOSUN_TEST_PODMAN_DRIVER chooses), else on vfs: slower, a full copy of an
        image per container, but it works everywhere."""
        (root / "networks").mkdir(parents=True, exist_ok=True)
        runtime = 'runtime = "runc"\n' if shutil.which("runc") else ""
        _write(
            root / "containers.conf",
            "[containers]\n"
            'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'
            "[engine]\n"
            f'{runtime}events_logger = "file"\n'
            'cgroup_manager = "cgroupfs"\n'
            "[network]\n"
            'network_backend = "netavark"\n'
            f'network_config_dir = "{root / "networks"}"\n',
        )
        chosen = os.environ.get("BOSUN_TEST_PODMAN_DRIVER")
        tried = []
        for driver in [chosen] if chosen else ["overlay", "vfs"]:
            # A storage folder per driver: podman refuses to switch one.
            _write(
                root / f"storage-{driver}.conf",
                "[storage]\n"
                f'driver = "{driver}"\n'
                f'graphroot = "{root / f"storage-{driver}"}"\n'
                f'runroot = "{root / f"run-{driver}"}"\n',
            )
            podman = cls(root, driver)
            shown = podman("info", "--format", "{{.Store.GraphDriverName}}", check=False)
            if shown.returncode == 0 and shown.stdout.strip() == driver:
                return podman
            tried.append(f"{driver}: {shown.stderr.strip()[-500:]}")
        raise AssertionError(f"podman has no usable storage driver here: {tried}")

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
        env["CONTAINERS_CONF"] = str(self.root / "containers.conf")
        env["CONTAINERS_STORAGE_CONF"] = str(self.root / f"storage-{self.driver}.conf")
        return env

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `podman ARGS`; with `check`, fail the test with its output when it fails."""
        return _run(["podman", *args], self.environ(), timeout, check)

    def compose(
        self, folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """Run `podman-compose ARGS` in `folder` (its compose.yaml and .env)."""
        environ = {**self.environ(), **(env or {})}
        return _run(["podman-compose", *args], environ, timeout, True, cwd=folder)

    def exists(self, image: str) -> bool:
        return self("image", "exists", image, check=False).returncode == 0


def _write(path: Path, text: str) -> None:
    """Write `path` whole at once: another session's podman may be reading it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)


def _run(
    argv: list[str], env: dict[str, str], timeout: float, check: bool, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv[:4])}… exited {done.returncode}\n"
            f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
        )
    return done


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def debian_image(
    podman: Podman,
    name: str,
    packages: tuple[str, ...],
    *,
    hooks: tuple[str, ...] = (),
    changes: tuple[str, ...] = (),
) -> str:
    """A Debian `SUITE` image with `packages`, made by mmdebstrap and imported into podman.

    Args:
        name: the image's repository name under localhost/; its tag says what went in.
        hooks: mmdebstrap `--customize-hook` commands ($1 is the new root file system).
        changes: Dockerfile instructions `podman import --change` sets (CMD, ENV, …).
    """
    image = f"localhost/{name}:{SUITE}-{_key(SUITE, packages, hooks, changes, _TRIM)}"
    if podman.exists(image):
        return image
    work = podman.root / "rootfs"
    work.mkdir(parents=True, exist_ok=True)
    tarball = work / f"{name}-{os.getpid()}.tar"
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--quiet",
        f"--include={','.join(packages)}",
        *_TRIM,
        *(f"--customize-hook={hook}" for hook in hooks),
        SUITE,
        str(tarball),
    ]
    _run(argv, dict(os.environ), 600, True)
    try:
        change_args = [arg for change in changes for arg in ("--change", change)]
        podman("import", *change_args, str(tarball), image, timeout=300)
    finally:
        tarball.unlink(missing_ok=True)
    # Older versions of this image (made from other packages or hooks) are kept no longer.
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", f"localhost/{name}")
    stale = [tag for tag in listed.stdout.split() if tag != image]
    if stale:
        podman("rmi", *stale, check=False)
    return image


def python_base(podman: Podman) -> str:
    """A base image with Debian's Python 3.11, venv and bubblewrap: what BASE must provide."""
    return debian_image(podman, "bosun-test-python", PYTHON_PACKAGES, changes=('CMD ["python3"]',))


POSTGRES_ENTRYPOINT = REPO / "tests" / "deploy" / "postgres-entrypoint.sh"


def postgres_image(podman: Podman) -> str:
    """Debian's PostgreSQL with an entrypoint that takes the official image's variables
    (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB; data in /var/lib/postgresql/data)."""
    script = POSTGRES_ENTRYPOINT.read_text()
    hooks = (
        f"upload {POSTGRES_ENTRYPOINT} /usr/local/bin/docker-entrypoint.sh",
        'chroot "$1" chmod 755 /usr/local/bin/docker-entrypoint.sh',
        # initdb, pg_ctl, postgres, pg_isready, psql on PATH, whatever the major version.
        'chroot "$1" sh -c "ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/"',
        # The package's own cluster is never used.
        'rm -rf "$1"/var/lib/postgresql/* "$1"/etc/postgresql/*',
    )
    return debian_image(
        podman,
        "bosun-test-postgres",
        POSTGRES_PACKAGES,
        hooks=(*hooks, f"# {_key(script)}"),
        changes=(
            'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
            "ENV PGDATA=/var/lib/postgresql/data",
            "STOPSIGNAL SIGINT",
            "EXPOSE 5432",
        ),
    )


def wheelhouse(folder: Path) -> Path:
    """Wheels of bosun[fast], its dependencies, its build backend and pip, built here.

    The image's Python must take them: Debian bookworm's is 3.11, as CI's is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder)]
    _run([*pip, f"{REPO}[fast]", "hatchling", "pip"], dict(os.environ), 600, True)
    return folder


def bosun_image_tag(base: str) -> str:
    """The tag of bosun's test image built on `base` from this tree as it is now: a digest of
    the base's name and of every file the Dockerfile copies in, so an image made earlier (by
    `main`, while CI lints) is used only where nothing it was built from has changed since."""
    dockerfile = REPO / "deploy" / "Dockerfile"
    copied = [  # the sources of each `COPY SRC… DEST` that copies from the build context
        source
        for line in dockerfile.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    ]
    digest = hashlib.sha256(base.encode() + b"\0" + dockerfile.read_bytes())
    for name in copied:
        top = REPO / name
        for path in [top] if top.is_file() else sorted(top.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(REPO)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return f"localhost/bosun-test:{digest.hexdigest()[:20]}"


def bosun_image(podman: Podman, wheels: Path) -> str:
    """bosun's image of this tree: the one already made from the same base and sources, or
    built now (its wheels into `wheels`)."""
    base = python_base(podman)
    tag = bosun_image_tag(base)
    if podman("image", "exists", tag, check=False).returncode != 0:
        build_bosun_image(podman, base, wheelhouse(wheels), tag)
    return tag


def build_bosun_image(podman: Podman, base: str, wheels: Path, tag: str) -> None:
    """Build deploy/Dockerfile on `base`, installing from `wheels` only, with no network."""
    podman(
        "build",
        "--format=docker",  # OCI images drop HEALTHCHECK
        "--layers=false",
        "--network=none",
        "--file",
        str(REPO / "deploy" / "Dockerfile"),
        "--build-arg",
        f"BASE={base}",
        "--build-arg",
        "PIP_NO_INDEX=1",
        "--build-arg",
        "PIP_FIND_LINKS=/wheels",
        "--volume",
        f"{wheels}:/wheels:ro",
        "--tag",
        tag,
        str(REPO),
        timeout=900,
    )


def main() -> int:
    """Make the images ahead of the tests (CI starts this while it lints, which leaves a
    core free): the two bases, then bosun's image of this tree. A session finds them made
    and skips mmdebstrap and the build. Exit 0 also where podman cannot run (the tests say
    why)."""
    reason = unavailable()
    if reason is not None:
        print(f"container images: not made: {reason}")
        return 0
    podman = Podman.configured()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool, tempfile.TemporaryDirectory() as wheels:
        postgres = pool.submit(postgres_image, podman)
        bosun = bosun_image(podman, Path(wheels))
        images = [postgres.result(), bosun]
    print(f"container images: {', '.join(images)} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
