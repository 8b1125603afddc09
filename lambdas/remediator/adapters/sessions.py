"""boto3 sessions that share one botocore loader, so each service model is parsed once per
process.

Every botocore session has its own loader, and a loader parses a service's model (JSON, the
EC2 model alone is megabytes) the first time a client of that service is made. A process that
makes several sessions, one per member account's assumed role, or one per adapter, would parse
the same models again for each of them. The loader caches what it has read and holds no
credentials or configuration, so one loader can serve every session.

``boto3.Session`` adds its own data directory to its loader's search paths each time one is
made; with a shared loader that list would grow with every session, so repeats are dropped.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.session


@functools.cache
def shared_loader() -> Any:
    """The loader of a first botocore session, with its default search paths."""
    return botocore.session.Session().get_component("data_loader")


def new_session(**kwargs: Any) -> boto3.Session:
    """``boto3.Session(**kwargs)`` (credentials, region), on the shared loader."""
    core = botocore.session.Session()
    loader = shared_loader()
    core.register_component("data_loader", loader)
    session = boto3.Session(botocore_session=core, **kwargs)
    paths = loader.search_paths
    paths[:] = list(dict.fromkeys(paths))
    return session
