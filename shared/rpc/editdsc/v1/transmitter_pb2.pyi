from shared.rpc.editdsc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitRequest(_message.Message):
    __slots__ = ("image", "instruction", "channel", "seed", "session_id", "request_id", "inversion_steps", "edit_steps", "return_ideal", "scheme", "generative")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INVERSION_STEPS_FIELD_NUMBER: _ClassVar[int]
    EDIT_STEPS_FIELD_NUMBER: _ClassVar[int]
    RETURN_IDEAL_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    GENERATIVE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    instruction: str
    channel: _common_pb2.ChannelParams
    seed: int
    session_id: str
    request_id: str
    inversion_steps: int
    edit_steps: int
    return_ideal: bool
    scheme: str
    generative: _common_pb2.GenerativeParams
    def __init__(self, image: _Optional[bytes] = ..., instruction: _Optional[str] = ..., channel: _Optional[_Union[_common_pb2.ChannelParams, _Mapping]] = ..., seed: _Optional[int] = ..., session_id: _Optional[str] = ..., request_id: _Optional[str] = ..., inversion_steps: _Optional[int] = ..., edit_steps: _Optional[int] = ..., return_ideal: _Optional[bool] = ..., scheme: _Optional[str] = ..., generative: _Optional[_Union[_common_pb2.GenerativeParams, _Mapping]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("request_id", "session_id", "session_turn", "edit", "outcome", "k", "channel_uses", "cbr", "timings", "bundle_version", "channel_report", "result_path", "batch_size", "inverted", "replayed", "served_by", "ideal_png", "scheme", "generative")
    class TimingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_TURN_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_USES_FIELD_NUMBER: _ClassVar[int]
    CBR_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_REPORT_FIELD_NUMBER: _ClassVar[int]
    RESULT_PATH_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    INVERTED_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    IDEAL_PNG_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    GENERATIVE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    session_id: str
    session_turn: int
    edit: _common_pb2.Edit
    outcome: _common_pb2.EditOutcome
    k: int
    channel_uses: int
    cbr: float
    timings: _containers.ScalarMap[str, float]
    bundle_version: str
    channel_report: _common_pb2.ChannelReport
    result_path: str
    batch_size: int
    inverted: bool
    replayed: bool
    served_by: str
    ideal_png: bytes
    scheme: str
    generative: _common_pb2.GenerativeParams
    def __init__(self, request_id: _Optional[str] = ..., session_id: _Optional[str] = ..., session_turn: _Optional[int] = ..., edit: _Optional[_Union[_common_pb2.Edit, _Mapping]] = ..., outcome: _Optional[_Union[_common_pb2.EditOutcome, _Mapping]] = ..., k: _Optional[int] = ..., channel_uses: _Optional[int] = ..., cbr: _Optional[float] = ..., timings: _Optional[_Mapping[str, float]] = ..., bundle_version: _Optional[str] = ..., channel_report: _Optional[_Union[_common_pb2.ChannelReport, _Mapping]] = ..., result_path: _Optional[str] = ..., batch_size: _Optional[int] = ..., inverted: _Optional[bool] = ..., replayed: _Optional[bool] = ..., served_by: _Optional[str] = ..., ideal_png: _Optional[bytes] = ..., scheme: _Optional[str] = ..., generative: _Optional[_Union[_common_pb2.GenerativeParams, _Mapping]] = ...) -> None: ...

class SubmitStreamRequest(_message.Message):
    __slots__ = ("submit",)
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    submit: SubmitRequest
    def __init__(self, submit: _Optional[_Union[SubmitRequest, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "step", "total")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    stage: str
    step: int
    total: int
    def __init__(self, stage: _Optional[str] = ..., step: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class SubmitStreamResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: SubmitResponse
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[SubmitResponse, _Mapping]] = ...) -> None: ...

class ParseRequest(_message.Message):
    __slots__ = ("instruction",)
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    instruction: str
    def __init__(self, instruction: _Optional[str] = ...) -> None: ...

class ParseResponse(_message.Message):
    __slots__ = ("edit", "bundle_version", "attributes")
    EDIT_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    edit: _common_pb2.Edit
    bundle_version: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, edit: _Optional[_Union[_common_pb2.Edit, _Mapping]] = ..., bundle_version: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ...) -> None: ...
