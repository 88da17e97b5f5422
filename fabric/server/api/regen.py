"""Regenerate ``controller_pb2.py`` / ``controller_pb2_grpc.py`` from ``controller.proto``.

    pip install -e '.[dev]' && python -m fabric.server.api.regen

The generated modules are checked in, so installing fabricctl needs no protoc. grpcio-tools is pinned
in the ``dev`` extra to a release that accepts protobuf <7 (finsy needs protobuf >=6.33.6,<7; newer
grpcio-tools releases require protobuf 7). The imports are rewritten to be package-relative so the
modules load as ``fabric.server.api.controller_pb2``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    from grpc_tools import protoc

    args = ["grpc_tools.protoc", f"-I{HERE}", f"--python_out={HERE}", f"--pyi_out={HERE}",
            f"--grpc_python_out={HERE}", str(HERE / "controller.proto")]
    rc = int(protoc.main(args))
    if rc:
        return rc
    grpc_mod = HERE / "controller_pb2_grpc.py"
    text = grpc_mod.read_text()
    grpc_mod.write_text(re.sub(r"^import controller_pb2 as", "from . import controller_pb2 as", text, flags=re.M))
    return 0


if __name__ == "__main__":
    sys.exit(main())
