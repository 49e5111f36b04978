from shared.rpc.editdsc.v1 import common_pb2 as _common_pb2
from shared.rpc.editdsc.v1 import receiver_pb2 as _receiver_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransmitRequest(_message.Message):
    __slots__ = ("request_id", "symbols", "channel", "info")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    symbols: _common_pb2.Tensor
    channel: _common_pb2.ChannelParams
    info: _common_pb2.RequestInfo
    def __init__(self, request_id: _Optional[str] = ..., symbols: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., channel: _Optional[_Union[_common_pb2.ChannelParams, _Mapping]] = ..., info: _Optional[_Union[_common_pb2.RequestInfo, _Mapping]] = ...) -> None: ...

class TransmitResponse(_message.Message):
    __slots__ = ("request_id", "report", "delivery", "timings")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    report: _common_pb2.ChannelReport
    delivery: _receiver_pb2.DeliverResponse
    timings: _containers.ScalarMap[str, float]
    def __init__(self, request_id: _Optional[str] = ..., report: _Optional[_Union[_common_pb2.ChannelReport, _Mapping]] = ..., delivery: _Optional[_Union[_receiver_pb2.DeliverResponse, _Mapping]] = ..., timings: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ValidateChannelRequest(_message.Message):
    __slots__ = ("channel", "k")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    channel: _common_pb2.ChannelParams
    k: int
    def __init__(self, channel: _Optional[_Union[_common_pb2.ChannelParams, _Mapping]] = ..., k: _Optional[int] = ...) -> None: ...

class ValidateChannelResponse(_message.Message):
    __slots__ = ("channel_uses", "data_uses", "pilot_uses")
    CHANNEL_USES_FIELD_NUMBER: _ClassVar[int]
    DATA_USES_FIELD_NUMBER: _ClassVar[int]
    PILOT_USES_FIELD_NUMBER: _ClassVar[int]
    channel_uses: int
    data_uses: int
    pilot_uses: int
    def __init__(self, channel_uses: _Optional[int] = ..., data_uses: _Optional[int] = ..., pilot_uses: _Optional[int] = ...) -> None: ...
