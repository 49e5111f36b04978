from shared.rpc.editdsc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliverRequest(_message.Message):
    __slots__ = ("request_id", "received", "side_info", "channel_report", "info", "equalizer")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SIDE_INFO_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_REPORT_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    EQUALIZER_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    received: _common_pb2.Tensor
    side_info: _common_pb2.SideInfo
    channel_report: _common_pb2.ChannelReport
    info: _common_pb2.RequestInfo
    equalizer: str
    def __init__(self, request_id: _Optional[str] = ..., received: _Optional[_Union[_common_pb2.Tensor, _Mapping]] = ..., side_info: _Optional[_Union[_common_pb2.SideInfo, _Mapping]] = ..., channel_report: _Optional[_Union[_common_pb2.ChannelReport, _Mapping]] = ..., info: _Optional[_Union[_common_pb2.RequestInfo, _Mapping]] = ..., equalizer: _Optional[str] = ...) -> None: ...

class DeliverResponse(_message.Message):
    __slots__ = ("request_id", "result_path", "timings", "received_snr_db", "replayed")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_PATH_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_SNR_DB_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    result_path: str
    timings: _containers.ScalarMap[str, float]
    received_snr_db: float
    replayed: bool
    def __init__(self, request_id: _Optional[str] = ..., result_path: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., received_snr_db: _Optional[float] = ..., replayed: _Optional[bool] = ...) -> None: ...
