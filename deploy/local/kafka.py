"""Apache Kafka, one node in KRaft mode, from the official jars that Maven resolves.

The jars come from ``deploy/local/kafka/pom.xml``: Maven downloads them once into its own cache
(~/.m2) and copies them into ``<state>/kafka/lib``, which is reused while the pom is unchanged.
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tuskflow.config.errors import ServiceError, ToolMissingError
from tuskflow.config.settings import env_var
from tuskflow.deploy.local import _process
from tuskflow.deploy.local.service import ServiceStatus

POM = Path(__file__).parent / "kafka" / "pom.xml"
MIN_JAVA = 17
HEAP = "1g"
log = structlog.get_logger(__name__)
_JAR = re.compile(r"^kafka_2\.13-(?P<version>[\d.]+)\.jar$")


def missing_tools_message(missing: str) -> str:
    """The one line a developer without Java or Maven gets, with both ways out."""
    return (
        f"Kafka: {missing}. Install Java {MIN_JAVA}+ and Maven (Debian: "
        f"`apt-get install openjdk-{MIN_JAVA}-jdk-headless maven`), or set "
        f"TUSKFLOW_KAFKA_BOOTSTRAP to an existing broker"
    )


def java_major(version_output: str) -> int | None:
    """The major version in `java -version` output: 17 for "17.0.15", 8 for "1.8.0_392"."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java() -> Path:
    """A Java 17+ executable, from JAVA_HOME or PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise ToolMissingError(missing_tools_message("java is not on PATH"))
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        raise ToolMissingError(missing_tools_message(f"{java} is Java {major}, too old"))
    return Path(java)


def find_maven() -> Path:
    """The mvn executable on PATH."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolMissingError(missing_tools_message("mvn (Maven) is not on PATH"))
    return Path(mvn)


DEFAULT_PARTITIONS = 4


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """The broker+controller configuration of a single-node KRaft cluster on 127.0.0.1."""
    host = _process.LOOPBACK
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={host}:{controller_port}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            f"advertised.listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data_dir}",
            # A topic made by its first producer gets 4 partitions, so up to 4 consumers of one
            # group share it (the README runs two); `tuskflow kafka topics create` sets others.
            f"num.partitions={DEFAULT_PARTITIONS}",
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # Tests start consumer groups often; do not wait for more members to join.
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def new_cluster_id() -> str:
    """A random cluster id as Kafka's own tool makes one: a UUID in URL-safe base64, 22 chars.

    Like Kafka's ``Uuid.randomUuid``, it never begins with ``-``, so a person who copies it
    onto a command line is not taken for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def storage_format_argv(java: Path, lib: Path, config: Path, cluster_id: str) -> list[str]:
    """The command line that formats a single-node KRaft storage for ``cluster_id``.

    Values are joined to their options (``--cluster-id=<id>``): the tool's argument parser
    reads a separate value that begins with ``-`` as an option and refuses it.
    """
    return [
        str(java),
        "-cp",
        f"{lib}/*",
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        f"--cluster-id={cluster_id}",
        f"--config={config}",
    ]


def format_storage(java: Path, lib: Path, config: Path, data: Path, cluster_id: str) -> None:
    """Format ``data`` (the ``log.dirs`` of ``config``) as a new cluster called ``cluster_id``."""
    result = subprocess.run(
        storage_format_argv(java, lib, config, cluster_id),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(
            f"kafka: formatting the storage in {data} failed:\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )


def log4j_properties(log_file: Path) -> str:
    """Log4j 2 configuration sending the broker's log to one file."""
    return "\n".join(
        [
            "appender.file.type=File",
            "appender.file.name=file",
            f"appender.file.fileName={log_file}",
            "appender.file.layout.type=PatternLayout",
            "appender.file.layout.pattern=[%d] %p %m (%c)%n",
            "rootLogger.level=INFO",
            "rootLogger.appenderRef.file.ref=file",
            "",
        ]
    )


class KafkaService:
    """A single-node Kafka in ``<state>/kafka``: jars in lib/, metadata and logs in data/."""

    name = "kafka"
    url_variable = env_var("kafka_bootstrap")

    def __init__(self, state_dir: Path, port: int, controller_port: int) -> None:
        self.home = (state_dir / "kafka").resolve()
        self.lib = self.home / "lib"
        self.data = self.home / "data"
        self.config = self.home / "server.properties"
        self.pid_file = self.home / "kafka.pid"
        self.log = self.home / "kafka.log"
        self.port = port
        self.controller_port = controller_port

    @property
    def url(self) -> str:
        """The bootstrap servers."""
        return f"{_process.LOOPBACK}:{self.port}"

    def pid(self) -> int | None:
        """The broker JVM's pid, when it runs."""
        return _process.pid_from_file(self.pid_file, str(self.config))

    def start(self) -> bool:
        """Resolve the jars, format the storage on first use, start the broker, wait for it."""
        if self.pid() is not None:
            self._wait_ready()
            return False
        java = find_java()
        _process.ensure_port_free(self.port, self.name, env_var("local_kafka_port"))
        _process.ensure_port_free(
            self.controller_port, self.name, env_var("local_kafka_controller_port")
        )
        _process.ensure_usable_home(self.home, self.name)
        self.home.mkdir(parents=True, exist_ok=True)
        self.resolve_jars()
        self._write_config()
        self._format_storage(java)
        _process.launch(
            [
                java,
                f"-Xmx{HEAP}",
                "-Xms256m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                "-cp",
                f"{self.lib}/*",
                "kafka.Kafka",
                self.config,
            ],
            self.home / "stdout.log",
            self.pid_file,
        )
        self._wait_ready()
        return True

    def stop(self) -> bool:
        """SIGTERM: the broker closes its logs cleanly and exits."""
        return _process.stop_launched(self.pid(), self.pid_file, what=self.name, timeout_s=60)

    def status(self) -> ServiceStatus:
        """Running or stopped, with the Kafka version of the jars it runs."""
        pid = self.pid()
        if pid is None:
            return ServiceStatus(self.name, "stopped", self.url)
        return ServiceStatus(self.name, "running", self.url, self.version(), pid)

    def version(self) -> str:
        """``Apache Kafka <version> (KRaft)`` from the broker jar in lib/."""
        for jar in self.lib.glob("kafka_2.13-*.jar"):
            found = _JAR.match(jar.name)
            if found:
                return f"Apache Kafka {found['version']} (KRaft)"
        return "Apache Kafka (version unknown)"

    def resolve_jars(self) -> None:
        """Copy the broker jars into lib/ from Maven, unless they match the pom already."""
        pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()
        marker = self.lib / ".pom-sha256"
        if marker.exists() and marker.read_text() == pom_hash:
            return
        mvn = find_maven()
        staging = self.home / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        log.info("kafka.resolving_jars", pom=str(POM), note="cached after the first run")
        result = subprocess.run(
            [
                str(mvn),
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"kafka: Maven could not resolve the Kafka jars from {POM} "
                f"(exit code {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}"
            )
        (staging / ".pom-sha256").write_text(pom_hash)
        shutil.rmtree(self.lib, ignore_errors=True)
        staging.rename(self.lib)

    def _write_config(self) -> None:
        self.config.write_text(server_properties(self.data, self.port, self.controller_port))
        (self.home / "log4j2.properties").write_text(log4j_properties(self.log))

    def _format_storage(self, java: Path) -> None:
        # The controller's address is written into the metadata log when it is formatted, so a
        # changed port needs a fresh log. Local data only: nothing here is meant to last.
        formatted_for = self.home / "formatted-for"
        ports = f"{self.port},{self.controller_port}"
        if (self.data / "meta.properties").exists():
            if formatted_for.exists() and formatted_for.read_text() == ports:
                return
            log.warning("kafka.reformatting", reason="ports changed", ports=ports)
            shutil.rmtree(self.data)
        format_storage(java, self.lib, self.config, self.data, new_cluster_id())
        formatted_for.write_text(ports)

    def _wait_ready(self) -> None:
        _process.wait_until(
            lambda: broker_answers(self.url),
            timeout_s=120,
            what=f"kafka on port {self.port}",
            alive=lambda: self.pid() is not None,
            log_path=self.log,
        )


def broker_answers(bootstrap: str) -> bool:
    """True when a broker at ``bootstrap`` returns cluster metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=2)
    except KafkaException:
        return False
    return bool(metadata.brokers)
