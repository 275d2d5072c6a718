"""nnasr engine: the on-device runtime (numpy only; never imports torch).

    model = engine.load_model("assets/models/aat-csp.nnasr")
    rec = engine.Recognizer(model, chunk_ms=160, beam=1)
"""

from .audio import AudioError, load_audio
from .frontend import FrontendConfig, StreamingFrontend, compute_features
from .model import Architecture, EngineModel, ModelFormatError, load_model, save_model
from .nna.spec import NNASpec, load_profile
from .recognizer import EndpointConfig, Recognizer, Result, Stream

__all__ = [
    "AudioError", "Architecture", "EndpointConfig", "EngineModel", "FrontendConfig",
    "ModelFormatError", "NNASpec", "Recognizer", "Result", "Stream", "StreamingFrontend",
    "compute_features", "load_audio", "load_model", "load_profile", "save_model",
]
