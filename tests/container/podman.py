"""The container tier's harness: a podman of its own, whose images, containers, volumes and
networks all live in one temporary folder; the Debian base its builds start from; and the
machine put back as it was found.

No container registry is reachable here. So `debian:bookworm-slim` is made from Debian's own
packages by debian-base.sh and kept in .container/ between runs, and the images the compose
files name are built from the same base (images/). Builds get this machine's CA bundle and a
pip.conf that names it (its TLS proxy), mounted for the build only: the Dockerfile stays as
users build it anywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = ROOT / ".container"
PODMAN_COMPOSE = CACHE / "venv" / "bin" / "podman-compose"
BASE_SCRIPT = HERE / "debian-base.sh"
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What podman writes outside its own root: netavark's state, network namespaces, the cache of
# image blobs; and the bridges and firewall rules of its networks (MachineState).
OUTSIDE = (Path("/run/containers"), Path("/run/netns"), Path("/var/lib/containers"))
FORWARDING = (Path("/proc/sys/net/ipv4/ip_forward"), Path("/proc/sys/net/ipv6/conf/all/forwarding"))

# podman's default open-files limit for containers (1048576) is above what a machine may
# allow (this one: 20000), which fails every start; no systemd: cgroupfs, file events and
# k8s-file logs.
# netavark is named: with images already in a store, podman 4.3 picks CNI, which has no DNS.
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
log_driver = "k8s-file"
[network]
network_backend = "netavark"
network_config_dir = "{home}/networks"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{home}/run/libpod"
"""
STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{home}/root"
runroot = "{home}/run/storage"
"""


class PodmanError(AssertionError):
    """A podman command that should have worked did not."""


@dataclass
class Podman:
    """podman with a root of its own in `home`, removed with everything in it by `remove`."""

    home: Path

    @classmethod
    def create(cls, home: Path) -> Podman:
        home.mkdir(parents=True, exist_ok=True)
        (home / "containers.conf").write_text(CONTAINERS_CONF.format(home=home))
        (home / "storage.conf").write_text(STORAGE_CONF.format(home=home))
        (home / "pip.conf").write_text("[global]\ncert = /run/host-ca.crt\n")
        podman = cls(home)
        graph_root = podman("info", "--format", "{{.Store.GraphRoot}}").stdout.strip()
        if not graph_root.startswith(f"{home}/"):
            raise PodmanError(f"podman ignored its configuration: its root is {graph_root}")
        return podman

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.home / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.home / "storage.conf"),
        }

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run `podman args`; its output, and a PodmanError if it failed and `check`."""
        done = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode:
            raise PodmanError(f"podman {shlex.join(args)}: exit {done.returncode}\n{done.stderr}")
        return done

    def build(self, context: Path, tag: str, *options: str) -> float:
        """Build `context` as `tag`; how many seconds it took. The build log stays in home."""
        flags = ["--format", "docker", "--network", "host"]  # docker's format keeps HEALTHCHECK
        if CA_BUNDLE.exists():
            flags += ["-v", f"{CA_BUNDLE}:/run/host-ca.crt:ro"]
            flags += ["-v", f"{self.home / 'pip.conf'}:/etc/pip.conf:ro"]
        (CACHE / "pip").mkdir(parents=True, exist_ok=True)
        flags += ["-v", f"{CACHE / 'pip'}:/root/.cache/pip"]  # the wheel gunicorn-h1c builds
        log = self.home / f"build-{tag.rsplit('/', 1)[-1].replace(':', '-')}.log"
        start = time.monotonic()
        with log.open("a") as out:
            built = subprocess.run(
                ["podman", "build", *flags, "-t", tag, *options, str(context)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=900,
            )
        seconds = time.monotonic() - start
        if built.returncode:
            raise PodmanError(f"building {tag} failed; its log ends:\n{log.read_text()[-3000:]}")
        return seconds

    def size(self, image: str) -> int:
        """The bytes of `image`, all its layers."""
        return int(self("image", "inspect", "--format", "{{.Size}}", image).stdout)

    def layers(self, image: str) -> list[str]:
        """The digests of `image`'s layers, the base's first."""
        return json.loads(
            self("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).stdout
        )

    def import_base(self) -> None:
        """Import debian:bookworm-slim from the cache, making it first if the cache has none."""
        recipe = hashlib.sha256(BASE_SCRIPT.read_bytes()).hexdigest()[:12]
        tar = CACHE / "base" / f"debian-bookworm-slim-{recipe}.tar"
        if not tar.exists():
            tar.parent.mkdir(parents=True, exist_ok=True)
            for stale in tar.parent.glob("*.tar"):
                stale.unlink()
            subprocess.run(["sh", str(BASE_SCRIPT), str(tar)], check=True, timeout=600)
        changes = [
            'CMD ["bash"]',
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        options = [option for change in changes for option in ("--change", change)]
        self("import", *options, str(tar), BASE_IMAGE, timeout=300)

    def remove(self) -> None:
        """Stop and remove every container (SIGTERM, SIGKILL after 5 s), pod, volume, network
        and image of this root, unmount what is left of it, and delete the folder."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self("rm", "--all", "--force", "--time", "5", check=False, timeout=120)
            self("pod", "rm", "--all", "--force", check=False, timeout=60)
            self("system", "reset", "--force", check=False, timeout=120)
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(f"{self.home}/")), reverse=True):
            subprocess.run(["umount", "--lazy", mount], check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Container:
    """A container started by the tests, by name."""

    podman: Podman
    name: str

    def logs(self) -> str:
        done = self.podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def exec(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.name, *command, timeout=timeout)

    def stop(self, grace: int = 35) -> float:
        """Stop it as `docker stop -t grace` does (SIGTERM, SIGKILL after grace seconds); how
        many seconds that took."""
        start = time.monotonic()
        self.podman("stop", "--time", str(grace), self.name, timeout=grace + 30)
        return time.monotonic() - start

    def state(self, field: str) -> str:
        return self.podman(
            "inspect", "--format", f"{{{{.State.{field}}}}}", self.name
        ).stdout.strip()

    def remove(self) -> None:
        self.podman("rm", "--force", "--time", "0", self.name, check=False)


@dataclass
class Compose:
    """podman-compose on compose files copied, as they are, into a project folder of their
    own (so that no .env of the work tree reaches them), with `env` as its environment."""

    podman: Podman
    project: Path
    files: tuple[str, ...]
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        files = [option for name in self.files for option in ("-f", name)]
        done = subprocess.run(
            [str(PODMAN_COMPOSE), *files, *args],
            cwd=self.project,
            env={**self.podman.env, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise PodmanError(
                f"podman-compose {shlex.join(args)}: exit {done.returncode}\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        return done

    def container(self, service: str) -> Container:
        """The one container of `service`."""
        names = self.podman(
            "ps", "--all", "--format", "{{.Names}}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).stdout.split()  # fmt: skip
        (name,) = names
        return Container(self.podman, name)


@dataclass
class MachineState:
    """What podman may change on the machine outside its root, as it was before it ran."""

    paths: dict[Path, bool]
    forwarding: dict[Path, str]
    firewall: dict[str, str]
    links: set[str]
    dns_servers: set[int]

    @classmethod
    def read(cls) -> MachineState:
        return cls(
            paths={path: path.exists() for path in OUTSIDE},
            forwarding={path: path.read_text() for path in FORWARDING if path.exists()},
            firewall={tool: _saved(tool) for tool in ("iptables", "ip6tables")},
            links=set(os.listdir("/sys/class/net")),
            dns_servers=_pids("aardvark-dns"),
        )

    def restore(self) -> list[str]:
        """Put back what podman changed; a line for each thing put back."""
        done = []
        for pid in _pids("aardvark-dns") - self.dns_servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                done.append(f"stopped aardvark-dns {pid}")
        for link in set(os.listdir("/sys/class/net")) - self.links:
            if link.startswith(("podman", "veth")):  # a network's bridge, a container's end
                subprocess.run(["ip", "link", "delete", link], check=False, capture_output=True)
                done.append(f"deleted link {link}")
        for tool, before in self.firewall.items():
            done += _restore_firewall(tool, before)
        for path, value in self.forwarding.items():
            if path.read_text() != value:
                path.write_text(value)
                done.append(f"{path} back to {value.strip()}")
        for path, existed in self.paths.items():
            if not existed and path.exists():
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path}")
        return done


def _saved(tool: str) -> str:
    """`tool`-save's dump of every table, or nothing where the tool is missing."""
    if not shutil.which(f"{tool}-save"):
        return ""
    return subprocess.run([f"{tool}-save"], capture_output=True, text=True, check=False).stdout


def _rules(saved: str) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
    """The chains and the rules of an iptables-save dump, each with its table."""
    chains, rules, table = set(), [], ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains.add((table, line[1:].split()[0]))
        elif line.startswith("-A "):
            rules.append((table, line))
    return chains, rules


def _restore_firewall(tool: str, before: str) -> list[str]:
    """Delete the rules, then the chains, of podman's networks (netavark's) that were not in
    the `before` dump; nothing else of the firewall is touched."""
    if not before:
        return []
    old_chains, old_rules = _rules(before)
    new_chains, new_rules = _rules(_saved(tool))
    done = []
    for (table, rule), count in (Counter(new_rules) - Counter(old_rules)).items():
        if "netavark" in rule.lower():
            for _ in range(count):
                command = [tool, "-t", table, "-D", *shlex.split(rule)[1:]]
                subprocess.run(command, check=False, capture_output=True)
            done.append(f"{tool} -t {table}: deleted {rule}")
    chains = sorted(chain for chain in new_chains - old_chains if chain[1].startswith("NETAVARK"))
    for verb in ("-F", "-X"):
        for table, chain in chains:
            subprocess.run([tool, "-t", table, verb, chain], check=False, capture_output=True)
    return done + [f"{tool} -t {table}: deleted chain {chain}" for table, chain in chains]


def _pids(name: str) -> set[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    return {int(pid) for pid in found.stdout.split()}
