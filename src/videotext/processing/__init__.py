"""Video I/O for data pipelines: decord decoding, frame sampling, ffmpeg writing.

Method folders (Hub code) cannot import this package; they decode with decord in their own processors.
"""

from .sampling import SAMPLING_MODES, sample_frame_indices
from .video_io import IMAGE_EXTENSIONS, DecodedVideo, VideoDecodeError, load_video, read_frames
from .video_writer import SUPPORTED_CODECS, write_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "SAMPLING_MODES",
    "SUPPORTED_CODECS",
    "DecodedVideo",
    "VideoDecodeError",
    "load_video",
    "read_frames",
    "sample_frame_indices",
    "write_video",
]
