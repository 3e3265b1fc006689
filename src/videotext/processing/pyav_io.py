"""PyAV decoding for `load_video`: exact frames at the min-work cost (issue 17, "Loading near the limit").

The container's packets are read once (no decoding) for each frame's timestamp and the keyframes. A sampled frame is
then reached by one seek to its preceding keyframe and a forward decode; sampled frames in one GOP share the pass,
and only the sampled frames are converted to RGB (and resized). Frames are identified by their presentation
timestamp, so a seek that lands early or late cannot shift them; a stream without timestamps is decoded in full.

decord reaches the same frames up to 1.25x slower (60 s clip, GOP 30, idle host: 3.34 against 4.19 clips/s): every
decord seek flushes and restarts its threaded decoder, about 4 ms of CPU here (bench/run.py loading).
"""

from __future__ import annotations

import numpy as np


class PyAVError(Exception):
    """A decoding problem; `load_video` turns it into a `VideoDecodeError` naming the file."""


def _reason(err: Exception) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text[:300]


class PyAVVideo:
    """An open video: ``total`` frames, ``fps``, per-frame ``timestamps`` (seconds, ``(total, 2)`` start/stop),
    ``keyframes`` (frame indices). Use as a context manager; the container is closed on exit."""

    def __init__(self, path: str, num_threads: int = 1):
        import av
        from av.video.reformatter import VideoReformatter

        # one scaler for the whole video: `frame.reformat` builds a new swscale context per frame (~5 ms at 224 px,
        # 10x the conversion itself)
        self._reformatter = VideoReformatter()
        try:
            self.container = av.open(path)
        except Exception as err:  # av.error.* for missing streams, bad headers, truncated files
            raise PyAVError(f"cannot decode video {path} (missing stream, truncated, or not a video): "
                            f"{_reason(err)}") from err  # fmt: skip
        try:
            if not self.container.streams.video:
                raise PyAVError(f"cannot decode video {path}: no video stream")
            self.stream = self.container.streams.video[0]
            self.stream.thread_type = "NONE" if num_threads == 1 else "AUTO"
            self.stream.codec_context.thread_count = max(0, int(num_threads))
            self._index(path)
        except Exception:
            self.container.close()
            raise

    def _index(self, path: str) -> None:
        pts, durations, keys = [], [], []
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                pts.append(packet.pts)
                durations.append(packet.duration or 0)
                keys.append(bool(packet.is_keyframe))
        except Exception as err:
            raise PyAVError(f"cannot read video {path} (truncated or corrupt): {_reason(err)}") from err
        self.total = len(pts)
        rate = self.stream.average_rate
        self.fps = float(rate) if rate else 0.0
        self.has_pts = self.total > 0 and all(p is not None for p in pts)
        if self.total == 0:
            return
        expected = int(self.stream.frames or 0)  # the header's count (mp4, avi); 0 where unknown (webm)
        if expected and self.total < expected:
            raise PyAVError(f"video is truncated ({self.total} of {expected} frames present): {path}")
        if not self.has_pts:
            self.pts, self.keyframes = None, np.flatnonzero(keys)
            self.timestamps = (np.arange(self.total)[:, None] + np.array([0.0, 1.0])) / max(self.fps, 1e-9)  # (N, 2)
            return
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        self.pts = np.asarray(pts, dtype=np.int64)[order]
        duration = np.asarray(durations, dtype=np.int64)[order]
        self.keyframes = np.sort(np.flatnonzero(np.asarray(keys)[order]))
        tb = float(self.stream.time_base)
        start = self.stream.start_time or 0
        self.timestamps = np.stack([(self.pts - start) * tb, (self.pts + duration - start) * tb], axis=1)  # (N, 2)
        # the header's duration (webm writes it on closing) against the packets found; only for a lone video stream,
        # since the container's duration is that of its longest stream
        declared = self.container.duration if len(self.container.streams) == 1 else None  # microseconds
        if not expected and declared and self.fps and self.timestamps[-1, 1] < 0.9 * declared / 1e6 - 1 / self.fps:
            raise PyAVError(f"video is truncated ({self.timestamps[-1, 1]:.2f} s of {declared / 1e6:.2f} s): {path}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def _rgb(self, frame, hw) -> np.ndarray:
        if hw is None:
            return self._reformatter.reformat(frame, format="rgb24").to_ndarray()
        # bicubic: the scaler decord (and ffmpeg's scale filter) resize with
        return self._reformatter.reformat(frame, width=hw[1], height=hw[0], format="rgb24",
                                          interpolation="BICUBIC").to_ndarray()  # fmt: skip

    def read(self, targets: list[int], hw) -> np.ndarray:
        """Frames ``targets`` (sorted, unique frame indices) -> uint8 ``(len(targets), H, W, 3)``."""
        if not self.has_pts:
            return self._read_all(targets, hw)
        out, frames, last = [], None, None  # last: pts of the last decoded frame
        for target in targets:
            want = int(self.pts[target])
            at = int(np.searchsorted(self.keyframes, target, side="right")) - 1
            key = int(self.keyframes[at]) if at >= 0 else 0  # frame index of the target's keyframe
            upcoming = None if last is None else int(np.searchsorted(self.pts, last, side="right"))  # next frame out
            if frames is None or upcoming is None or not key <= upcoming <= target:  # restart at the keyframe
                self.container.seek(int(self.pts[key]), stream=self.stream, backward=True)
                frames = self.container.decode(self.stream)
            found = None
            for frame in frames:
                if frame.pts is None:
                    continue
                last = frame.pts
                if frame.pts >= want:
                    found = frame if frame.pts == want else None
                    break
            if found is None:  # the seek landed past the frame, or its timestamp never came out: decode everything
                return self._read_all(targets, hw)
            out.append(self._rgb(found, hw))
        return np.stack(out)

    def _read_all(self, targets: list[int], hw) -> np.ndarray:
        """Decode every frame from the start (order = frame index) and keep ``targets``."""
        self.container.seek(0, stream=self.stream, backward=True, any_frame=True)
        wanted, kept = set(targets), {}
        for i, frame in enumerate(self.container.decode(self.stream)):
            if i in wanted:
                kept[i] = self._rgb(frame, hw)
            if len(kept) == len(wanted):
                break
        missing = [t for t in targets if t not in kept]
        if missing:
            raise PyAVError(f"frames {missing[:5]} could not be decoded (the stream ends early)")
        return np.stack([kept[t] for t in targets])
