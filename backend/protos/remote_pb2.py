"""Prometheus remote_write 1.0 messages (prompb WriteRequest, TimeSeries, Label, Sample).

Equivalent to `protoc --python_out` on `remote.proto` beside this file, but the descriptor is built
at runtime with `descriptor_pb2`, so neither protoc nor grpcio-tools is a build dependency. The
messages live in a private descriptor pool: another library's `prometheus.*` can't clash.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _field(
    name: str, number: int, kind: _F.Type.ValueType, *, repeated: bool = False, type_name: str = ""
) -> _F:
    field = _F(name=name, number=number, type=kind)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = type_name
    return field


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="hostpulse/prometheus/remote.proto", package="prometheus", syntax="proto3"
    )
    proto.message_type.add(
        name="Sample",
        field=[
            _field("value", 1, _F.TYPE_DOUBLE),
            _field("timestamp", 2, _F.TYPE_INT64),
        ],
    )
    proto.message_type.add(
        name="Label",
        field=[
            _field("name", 1, _F.TYPE_STRING),
            _field("value", 2, _F.TYPE_STRING),
        ],
    )
    proto.message_type.add(
        name="TimeSeries",
        field=[
            _field("labels", 1, _F.TYPE_MESSAGE, repeated=True, type_name=".prometheus.Label"),
            _field("samples", 2, _F.TYPE_MESSAGE, repeated=True, type_name=".prometheus.Sample"),
        ],
    )
    write_request = proto.message_type.add(
        name="WriteRequest",
        field=[
            _field(
                "timeseries", 1, _F.TYPE_MESSAGE, repeated=True, type_name=".prometheus.TimeSeries"
            ),
        ],
    )
    write_request.reserved_range.add(start=2, end=3)
    return proto


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    return pool


@cache
def message_class(name: str) -> type[message.Message]:
    """The class of `prometheus.<name>`: WriteRequest, TimeSeries, Label or Sample."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"prometheus.{name}"))


def WriteRequest() -> Any:  # named like the class protoc would generate
    """A new, empty WriteRequest (typed Any: its fields are only known at runtime)."""
    return message_class("WriteRequest")()
