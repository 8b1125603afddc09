"""moto's EC2 with its 44 stock AMIs only.

Besides its stock AMIs, moto loads 1,247 regional "latest" AMIs into every new region's EC2
backend, with random ids for each, at every reset: building them took seconds per test, and
`DescribeImages` of the Amazon AMIs returned them all. No test, demo or benchmark uses them.
moto reads ``MOTO_AMIS_PATH`` (a JSON file of AMIs, in place of both lists) when its EC2 models
are first imported, so this must run before that; it imports nothing of moto's.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

AMIS_PATH = "MOTO_AMIS_PATH"


def stock_amis_only() -> None:
    """Point ``MOTO_AMIS_PATH`` at moto's stock AMIs (unless it is set already)."""
    if AMIS_PATH in os.environ:
        return
    spec = importlib.util.find_spec("moto")
    if spec is None or spec.origin is None:
        return  # no moto: nothing to configure
    stock = Path(spec.origin).parent / "ec2" / "resources" / "amis.json.gz"
    data = gzip.decompress(stock.read_bytes())
    # One file per content, shared by every process and written whole (never half-read).
    path = (
        Path(tempfile.gettempdir())
        / f"moto-stock-amis-{hashlib.sha256(data).hexdigest()[:16]}.json"
    )
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)
    os.environ[AMIS_PATH] = str(path)
