from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    D_TYPE_UNSPECIFIED: _ClassVar[DType]
    D_TYPE_FLOAT32: _ClassVar[DType]
    D_TYPE_FLOAT64: _ClassVar[DType]
    D_TYPE_COMPLEX64: _ClassVar[DType]
    D_TYPE_INT64: _ClassVar[DType]
    D_TYPE_INT32: _ClassVar[DType]
    D_TYPE_UINT8: _ClassVar[DType]
    D_TYPE_BOOL: _ClassVar[DType]

class ChannelModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_MODEL_UNSPECIFIED: _ClassVar[ChannelModel]
    CHANNEL_MODEL_AWGN: _ClassVar[ChannelModel]
    CHANNEL_MODEL_RAYLEIGH: _ClassVar[ChannelModel]
    CHANNEL_MODEL_RICIAN: _ClassVar[ChannelModel]
    CHANNEL_MODEL_TDL: _ClassVar[ChannelModel]

class CsiMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CSI_MODE_UNSPECIFIED: _ClassVar[CsiMode]
    CSI_MODE_PERFECT: _ClassVar[CsiMode]
    CSI_MODE_LS: _ClassVar[CsiMode]
    CSI_MODE_NONE: _ClassVar[CsiMode]

class PowerMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POWER_MODE_UNSPECIFIED: _ClassVar[PowerMode]
    POWER_MODE_EQUAL: _ClassVar[PowerMode]
    POWER_MODE_MAX: _ClassVar[PowerMode]
D_TYPE_UNSPECIFIED: DType
D_TYPE_FLOAT32: DType
D_TYPE_FLOAT64: DType
D_TYPE_COMPLEX64: DType
D_TYPE_INT64: DType
D_TYPE_INT32: DType
D_TYPE_UINT8: DType
D_TYPE_BOOL: DType
CHANNEL_MODEL_UNSPECIFIED: ChannelModel
CHANNEL_MODEL_AWGN: ChannelModel
CHANNEL_MODEL_RAYLEIGH: ChannelModel
CHANNEL_MODEL_RICIAN: ChannelModel
CHANNEL_MODEL_TDL: ChannelModel
CSI_MODE_UNSPECIFIED: CsiMode
CSI_MODE_PERFECT: CsiMode
CSI_MODE_LS: CsiMode
CSI_MODE_NONE: CsiMode
POWER_MODE_UNSPECIFIED: PowerMode
POWER_MODE_EQUAL: PowerMode
POWER_MODE_MAX: PowerMode

class Tensor(_message.Message):
    __slots__ = ("data", "dtype", "shape")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, data: _Optional[bytes] = ..., dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class ChannelParams(_message.Message):
    __slots__ = ("model", "snr_db", "k_factor_db", "coherence", "doppler_hz", "speed_kmh", "carrier_frequency_hz", "symbol_rate_hz", "tdl_profile", "delay_spread_s", "fft_size", "subcarrier_spacing_hz", "cp_length", "csi", "pilots", "pilot_spacing", "power", "power_mode", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SNR_DB_FIELD_NUMBER: _ClassVar[int]
    K_FACTOR_DB_FIELD_NUMBER: _ClassVar[int]
    COHERENCE_FIELD_NUMBER: _ClassVar[int]
    DOPPLER_HZ_FIELD_NUMBER: _ClassVar[int]
    SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    CARRIER_FREQUENCY_HZ_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    TDL_PROFILE_FIELD_NUMBER: _ClassVar[int]
    DELAY_SPREAD_S_FIELD_NUMBER: _ClassVar[int]
    FFT_SIZE_FIELD_NUMBER: _ClassVar[int]
    SUBCARRIER_SPACING_HZ_FIELD_NUMBER: _ClassVar[int]
    CP_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CSI_FIELD_NUMBER: _ClassVar[int]
    PILOTS_FIELD_NUMBER: _ClassVar[int]
    PILOT_SPACING_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    POWER_MODE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: ChannelModel
    snr_db: float
    k_factor_db: float
    coherence: int
    doppler_hz: float
    speed_kmh: float
    carrier_frequency_hz: float
    symbol_rate_hz: float
    tdl_profile: str
    delay_spread_s: float
    fft_size: int
    subcarrier_spacing_hz: float
    cp_length: int
    csi: CsiMode
    pilots: int
    pilot_spacing: int
    power: float
    power_mode: PowerMode
    seed: int
    def __init__(self, model: _Optional[_Union[ChannelModel, str]] = ..., snr_db: _Optional[float] = ..., k_factor_db: _Optional[float] = ..., coherence: _Optional[int] = ..., doppler_hz: _Optional[float] = ..., speed_kmh: _Optional[float] = ..., carrier_frequency_hz: _Optional[float] = ..., symbol_rate_hz: _Optional[float] = ..., tdl_profile: _Optional[str] = ..., delay_spread_s: _Optional[float] = ..., fft_size: _Optional[int] = ..., subcarrier_spacing_hz: _Optional[float] = ..., cp_length: _Optional[int] = ..., csi: _Optional[_Union[CsiMode, str]] = ..., pilots: _Optional[int] = ..., pilot_spacing: _Optional[int] = ..., power: _Optional[float] = ..., power_mode: _Optional[_Union[PowerMode, str]] = ..., seed: _Optional[int] = ...) -> None: ...

class Edit(_message.Message):
    __slots__ = ("attribute", "mode", "direction", "change", "target")
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    attribute: str
    mode: str
    direction: int
    change: int
    target: int
    def __init__(self, attribute: _Optional[str] = ..., mode: _Optional[str] = ..., direction: _Optional[int] = ..., change: _Optional[int] = ..., target: _Optional[int] = ...) -> None: ...

class EditOutcome(_message.Message):
    __slots__ = ("status", "attribute", "degrees_before", "degrees_after", "expected_degree", "confidence", "iterations")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    DEGREES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    DEGREES_AFTER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DEGREE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    status: str
    attribute: str
    degrees_before: _containers.RepeatedScalarFieldContainer[int]
    degrees_after: _containers.RepeatedScalarFieldContainer[int]
    expected_degree: int
    confidence: float
    iterations: int
    def __init__(self, status: _Optional[str] = ..., attribute: _Optional[str] = ..., degrees_before: _Optional[_Iterable[int]] = ..., degrees_after: _Optional[_Iterable[int]] = ..., expected_degree: _Optional[int] = ..., confidence: _Optional[float] = ..., iterations: _Optional[int] = ...) -> None: ...

class SideInfo(_message.Message):
    __slots__ = ("snr_db", "no", "es", "csi", "k", "model", "layout_json", "h", "pilots", "tx_gain")
    SNR_DB_FIELD_NUMBER: _ClassVar[int]
    NO_FIELD_NUMBER: _ClassVar[int]
    ES_FIELD_NUMBER: _ClassVar[int]
    CSI_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_JSON_FIELD_NUMBER: _ClassVar[int]
    H_FIELD_NUMBER: _ClassVar[int]
    PILOTS_FIELD_NUMBER: _ClassVar[int]
    TX_GAIN_FIELD_NUMBER: _ClassVar[int]
    snr_db: float
    no: float
    es: float
    csi: CsiMode
    k: int
    model: str
    layout_json: str
    h: Tensor
    pilots: Tensor
    tx_gain: Tensor
    def __init__(self, snr_db: _Optional[float] = ..., no: _Optional[float] = ..., es: _Optional[float] = ..., csi: _Optional[_Union[CsiMode, str]] = ..., k: _Optional[int] = ..., model: _Optional[str] = ..., layout_json: _Optional[str] = ..., h: _Optional[_Union[Tensor, _Mapping]] = ..., pilots: _Optional[_Union[Tensor, _Mapping]] = ..., tx_gain: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class RequestInfo(_message.Message):
    __slots__ = ("request_id", "session_id", "session_turn", "instruction", "edit", "outcome", "channel", "k", "cbr", "resolution", "bundle_version", "timings", "inversion_lpips", "submitted_unix", "principal", "scheme", "generative")
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
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    CBR_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    INVERSION_LPIPS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_UNIX_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    GENERATIVE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    session_id: str
    session_turn: int
    instruction: str
    edit: Edit
    outcome: EditOutcome
    channel: ChannelParams
    k: int
    cbr: float
    resolution: int
    bundle_version: str
    timings: _containers.ScalarMap[str, float]
    inversion_lpips: float
    submitted_unix: float
    principal: str
    scheme: str
    generative: GenerativeParams
    def __init__(self, request_id: _Optional[str] = ..., session_id: _Optional[str] = ..., session_turn: _Optional[int] = ..., instruction: _Optional[str] = ..., edit: _Optional[_Union[Edit, _Mapping]] = ..., outcome: _Optional[_Union[EditOutcome, _Mapping]] = ..., channel: _Optional[_Union[ChannelParams, _Mapping]] = ..., k: _Optional[int] = ..., cbr: _Optional[float] = ..., resolution: _Optional[int] = ..., bundle_version: _Optional[str] = ..., timings: _Optional[_Mapping[str, float]] = ..., inversion_lpips: _Optional[float] = ..., submitted_unix: _Optional[float] = ..., principal: _Optional[str] = ..., scheme: _Optional[str] = ..., generative: _Optional[_Union[GenerativeParams, _Mapping]] = ...) -> None: ...

class GenerativeParams(_message.Message):
    __slots__ = ("privacy", "k", "no_flow", "edit")
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    NO_FLOW_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    privacy: str
    k: int
    no_flow: bool
    edit: bool
    def __init__(self, privacy: _Optional[str] = ..., k: _Optional[int] = ..., no_flow: _Optional[bool] = ..., edit: _Optional[bool] = ...) -> None: ...

class ChannelReport(_message.Message):
    __slots__ = ("model", "snr_db", "seed", "channel_uses", "data_uses", "pilot_uses", "measured_es_n0_db", "report_json")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SNR_DB_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_USES_FIELD_NUMBER: _ClassVar[int]
    DATA_USES_FIELD_NUMBER: _ClassVar[int]
    PILOT_USES_FIELD_NUMBER: _ClassVar[int]
    MEASURED_ES_N0_DB_FIELD_NUMBER: _ClassVar[int]
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    model: str
    snr_db: float
    seed: int
    channel_uses: int
    data_uses: int
    pilot_uses: int
    measured_es_n0_db: float
    report_json: str
    def __init__(self, model: _Optional[str] = ..., snr_db: _Optional[float] = ..., seed: _Optional[int] = ..., channel_uses: _Optional[int] = ..., data_uses: _Optional[int] = ..., pilot_uses: _Optional[int] = ..., measured_es_n0_db: _Optional[float] = ..., report_json: _Optional[str] = ...) -> None: ...
