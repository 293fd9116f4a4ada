"""Real PostgreSQL, Redis and Apache Kafka for development and tests, run from a state folder.

Each binds to 127.0.0.1 on a configurable port and is health-checked before `up` returns. A
service whose TUSKFLOW_* URL is set is used as it is and never started.
"""

from tuskflow.deploy.local.service import LocalService, ServiceStatus
from tuskflow.deploy.local.stack import LocalStack

__all__ = ["LocalService", "LocalStack", "ServiceStatus"]
