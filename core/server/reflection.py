"""Server reflection that keeps the .proto comments, so `grpcurl describe` shows the contract.

grpcio-reflection serializes descriptors from a DescriptorPool, and a pool drops the
`source_code_info` that holds comments. `make proto` writes a descriptor set with source info
(`chatrpc/v1/chat_service.protoset`); this module serves those exact FileDescriptorProtos.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection

logger = logging.getLogger(__name__)

PROTOSET = "chat_service.protoset"


class _FileWithSource:
    """A FileDescriptor whose CopyToProto yields the proto with comments."""

    def __init__(self, descriptor: Any, protos: dict[str, descriptor_pb2.FileDescriptorProto]):
        self._descriptor = descriptor
        self._protos = protos
        self.name: str = descriptor.name

    @property
    def dependencies(self) -> list[_FileWithSource]:
        return [_FileWithSource(d, self._protos) for d in self._descriptor.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        source = self._protos.get(self.name)
        if source is None:
            self._descriptor.CopyToProto(proto)
        else:
            proto.CopyFrom(source)


class _SourcePool:
    """The default DescriptorPool, answering with the commented protos where it has them."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self._pool = descriptor_pool.Default()
        self._protos = {f.name: f for f in files.file}

    def FindFileByName(self, name: str) -> _FileWithSource:
        return _FileWithSource(self._pool.FindFileByName(name), self._protos)

    def FindFileContainingSymbol(self, symbol: str) -> _FileWithSource:
        return _FileWithSource(self._pool.FindFileContainingSymbol(symbol), self._protos)

    def __getattr__(self, name: str) -> Any:  # FindMessageTypeByName, FindAllExtensions, ...
        return getattr(self._pool, name)


def _load_protoset() -> descriptor_pb2.FileDescriptorSet | None:
    try:
        data = resources.files("chatrpc.v1").joinpath(PROTOSET).read_bytes()
    except FileNotFoundError:
        logger.warning("%s not found; reflection serves the contract without comments", PROTOSET)
        return None
    return descriptor_pb2.FileDescriptorSet.FromString(data)


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Registers server reflection for `service_names` plus the reflection service itself."""
    files = _load_protoset()
    names = (*service_names, reflection.SERVICE_NAME)
    pool = _SourcePool(files) if files is not None else None
    reflection.enable_server_reflection(names, server, pool=pool)
