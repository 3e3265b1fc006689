"""Video I/O: real small videos written with ffmpeg, decoded with decord."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from videotext.processing import DecodedVideo, VideoDecodeError, load_video, sample_frame_indices, write_video

RED = (220, 30, 30)


def _moving_square(t: int, h: int, w: int) -> np.ndarray:
    """Blue background, a red square moving left to right (frame i has its square at a distinct x)."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[..., 2] = 200
    side = max(4, h // 4)
    for i in range(t):
        x = int(round(i * (w - side) / max(1, t - 1)))
        frames[i, h // 2 - side // 2 : h // 2 + side // 2, x : x + side] = RED
    return frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    specs = {
        "h264": ("a.mp4", "libx264", 24, 48, 64, 8),
        "mpeg4": ("b.mp4", "mpeg4", 15, 32, 48, 10),
        "vp9": ("c.webm", "libvpx-vp9", 12, 40, 40, 6),
        "avi": ("d.avi", "mpeg4", 10, 36, 52, 5),
    }
    out = {}
    for key, (name, codec, t, h, w, fps) in specs.items():
        out[key] = (write_video(d / name, _moving_square(t, h, w), fps=fps, codec=codec), t, h, w, fps)
    red = np.zeros((6, 32, 32, 3), np.uint8)
    red[:] = RED
    out["red"] = (write_video(d / "red.mp4", red, fps=6), 6, 32, 32, 6)
    return out


# --------------------------------------------------------------------------------------- sampling


def test_uniform_indices_are_segment_centres():
    np.testing.assert_array_equal(sample_frame_indices(80, 8), [5, 15, 25, 35, 45, 55, 65, 75])
    idx = sample_frame_indices(100, 4, first=20, last=59)
    np.testing.assert_array_equal(idx, [25, 35, 45, 55])
    assert idx.dtype == np.int64


def test_short_clip_is_padded_by_repetition():
    np.testing.assert_array_equal(sample_frame_indices(3, 6), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(sample_frame_indices(1, 4), [0, 0, 0, 0])
    idx = sample_frame_indices(5, 8, "random", rng=0)
    assert len(idx) == 8 and np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() <= 4


def test_random_indices_lie_in_their_segments_and_are_seeded():
    a = sample_frame_indices(100, 10, "random", rng=np.random.default_rng(3))
    b = sample_frame_indices(100, 10, "random", rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    for i, k in enumerate(a):
        assert 10 * i <= k < 10 * (i + 1)
    draws = {tuple(sample_frame_indices(100, 10, "random", rng=s)) for s in range(5)}
    assert len(draws) > 1
    c = sample_frame_indices(100, 4, "random", first=40, last=79, rng=1)
    for i, k in enumerate(c):
        assert 40 + 10 * i <= k < 40 + 10 * (i + 1)


def test_fps_sampling():
    np.testing.assert_array_equal(sample_frame_indices(90, None, "fps", video_fps=30, fps=2), [0, 15, 30, 45, 60, 75])
    sub = sample_frame_indices(90, 3, "fps", video_fps=30, fps=2)  # 6 candidates -> 3 uniform
    np.testing.assert_array_equal(sub, [15, 45, 75])
    padded = sample_frame_indices(90, 6, "fps", video_fps=30, fps=1)  # 3 candidates -> repeated
    np.testing.assert_array_equal(padded, [0, 0, 30, 30, 60, 60])
    with pytest.raises(ValueError, match="video_fps"):
        sample_frame_indices(90, 4, "fps", fps=2)


def test_sampling_rejects_bad_arguments():
    with pytest.raises(ValueError):
        sample_frame_indices(0, 4)
    with pytest.raises(ValueError):
        sample_frame_indices(10, 0)
    with pytest.raises(ValueError, match="sampling"):
        sample_frame_indices(10, 4, "middle")
    with pytest.raises(ValueError):
        sample_frame_indices(10, 4, first=8, last=3)


# --------------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("key", ["h264", "mpeg4", "vp9", "avi"])
def test_decode_codecs_and_containers(videos, key):
    path, t, h, w, fps = videos[key]
    out = load_video(path, num_frames=4)
    assert isinstance(out, DecodedVideo)
    assert out.frames.shape == (4, h, w, 3) and out.frames.dtype == np.uint8
    assert out.total_frames == t
    assert out.fps == pytest.approx(fps, rel=0.01)
    assert out.duration == pytest.approx(t / fps, rel=0.02)
    assert out.path == str(path)
    np.testing.assert_array_equal(out.indices, sample_frame_indices(t, 4))
    # the red square moves right: its mean column increases frame after frame
    xs = [np.nonzero((f[..., 0] > 150) & (f[..., 2] < 100))[1].mean() for f in out.frames]
    assert all(b > a for a, b in zip(xs, xs[1:]))


def test_solid_colour_is_preserved(videos):
    frames = load_video(videos["red"][0], num_frames=3).frames.astype(int)
    mean = frames.reshape(-1, 3).mean(0)
    assert abs(mean[0] - RED[0]) < 12 and mean[1] < 45 and mean[2] < 45
    assert ((frames[..., 0] > 180) & (frames[..., 2] < 70)).mean() > 0.95


def test_frames_match_their_indices(videos):
    path, t, h, w, _ = videos["h264"]
    every = load_video(path, num_frames=t).frames
    np.testing.assert_array_equal(load_video(path, num_frames=t).indices, np.arange(t))
    some = load_video(path, num_frames=4, sampling="random", rng=7)
    for frame, k in zip(some.frames, some.indices):
        np.testing.assert_array_equal(frame, every[k])


def test_random_sampling_is_seeded(videos):
    path = videos["h264"][0]
    a = load_video(path, 6, "random", rng=np.random.default_rng(0))
    b = load_video(path, 6, "random", rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.frames, b.frames)


def test_fps_mode_on_a_file(videos):
    path, t, *_ = videos["h264"]  # 24 frames at 8 fps = 3 s
    out = load_video(path, num_frames=None, sampling="fps", fps=2)
    np.testing.assert_array_equal(out.indices, [0, 4, 8, 12, 16, 20])
    assert load_video(path, num_frames=3, sampling="fps", fps=2).frames.shape[0] == 3


def test_start_end_bounds(videos):
    path, t, *_ = videos["h264"]  # 8 fps: 1.0 s .. 2.0 s = frames 8..15
    out = load_video(path, num_frames=4, start=1.0, end=2.0)
    assert out.indices.min() >= 8 and out.indices.max() <= 15
    np.testing.assert_array_equal(out.indices, [9, 11, 13, 15])
    rnd = load_video(path, num_frames=8, sampling="random", start=1.0, end=2.0, rng=0)
    assert rnd.indices.min() >= 8 and rnd.indices.max() <= 15
    assert load_video(path, num_frames=2, start=2.5).indices.min() >= 20


def test_short_clip_padding_on_a_file(videos):
    path, t, *_ = videos["avi"]  # 10 frames
    out = load_video(path, num_frames=16)
    assert out.frames.shape[0] == 16
    assert np.all(np.diff(out.indices) >= 0) and len(set(out.indices.tolist())) == t
    k = int(np.nonzero(np.diff(out.indices) == 0)[0][0])
    np.testing.assert_array_equal(out.frames[k], out.frames[k + 1])


def test_resize_at_decode(videos):
    path, t, h, w, _ = videos["h264"]
    out = load_video(path, num_frames=3, size=(24, 32))
    assert out.frames.shape == (3, 24, 32, 3)
    assert load_video(path, num_frames=2, size=16).frames.shape == (2, 16, 16, 3)
    red = load_video(videos["red"][0], num_frames=2, size=8).frames.astype(int)
    assert red[..., 0].mean() > 180 and red[..., 2].mean() < 60
    with pytest.raises(ValueError):
        load_video(path, size=(0, 4))


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_image_as_static_video(tmp_path, ext):
    img = np.zeros((30, 40, 3), np.uint8)
    img[..., 1] = 200
    p = tmp_path / f"pic.{ext}"
    Image.fromarray(img).save(p)
    out = load_video(p, num_frames=5)
    assert out.frames.shape == (5, 30, 40, 3) and out.frames.dtype == np.uint8
    assert np.all(out.frames == out.frames[0]) and out.frames[..., 1].mean() > 180
    assert out.total_frames == 1 and out.indices.tolist() == [0] * 5
    assert load_video(p, num_frames=2, size=(10, 12)).frames.shape == (2, 10, 12, 3)


# --------------------------------------------------------------------------------------- errors


def _assert_decode_error(path, **kwargs):
    with pytest.raises(VideoDecodeError) as info:
        load_video(path, **kwargs)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_and_empty_files(tmp_path):
    _assert_decode_error(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _assert_decode_error(empty)
    _assert_decode_error(tmp_path)  # a folder


def test_non_video_files(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is a text file, not a video\n" * 20)
    _assert_decode_error(fake)
    bad_img = tmp_path / "broken.png"
    bad_img.write_bytes(b"not a png at all")
    _assert_decode_error(bad_img)


@pytest.mark.parametrize("key,frac", [("h264", 0.5), ("h264", 0.9), ("vp9", 0.5), ("avi", 0.3)])
def test_truncated_files(tmp_path, videos, key, frac):
    src = videos[key][0]
    data = open(src, "rb").read()
    bad = tmp_path / f"cut_{frac}_{src.rsplit('/', 1)[-1]}"
    bad.write_bytes(data[: int(len(data) * frac)])
    _assert_decode_error(bad)


def test_faststart_mp4_truncated(tmp_path, videos):
    """moov atom first (streaming layout): the header survives, the frames are cut off."""
    import subprocess

    import imageio_ffmpeg

    fs = tmp_path / "faststart.mp4"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", videos["h264"][0]]
    subprocess.run([*cmd, "-c", "copy", "-movflags", "+faststart", str(fs)], check=True)
    bad = tmp_path / "faststart_cut.mp4"
    bad.write_bytes(fs.read_bytes()[: fs.stat().st_size // 2])
    _assert_decode_error(bad)


def test_start_end_outside_the_video(videos):
    path = videos["h264"][0]  # 3 s
    _assert_decode_error(path, start=5.0)
    _assert_decode_error(path, start=-1.0)
    _assert_decode_error(path, start=1.0, end=10.0)
    _assert_decode_error(path, start=2.0, end=1.0)


def test_write_video_validates(tmp_path):
    with pytest.raises(ValueError):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="codec"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.uint8), codec="h265")
    odd = write_video(tmp_path / "odd.mp4", np.full((3, 15, 17, 3), 128, np.uint8))  # padded to even size
    assert load_video(odd, num_frames=3).frames.shape == (3, 16, 18, 3)


def test_write_video_is_deterministic(tmp_path):
    frames = _moving_square(8, 32, 32)
    a = write_video(tmp_path / "a.mp4", frames)
    b = write_video(tmp_path / "b.mp4", frames)
    assert open(a, "rb").read() == open(b, "rb").read()


@pytest.mark.parametrize("h,w,size", [(32, 48, None), (16, 16, None), (48, 64, 24), (40, 40, (16, 48))])
def test_widths_hitting_decord_stride_bug(tmp_path, h, w, size):
    """decord 0.6 returns padded rows for widths like 16/24/48/72 px; load_video repairs them."""
    src = _moving_square(6, h, w)
    out = load_video(write_video(tmp_path / "narrow.mp4", src), num_frames=6, size=size)
    if size is None:
        assert out.frames.shape == src.shape
        assert np.abs(out.frames.astype(int) - src).mean() < 8
    else:
        hh, ww = (size, size) if isinstance(size, int) else size
        assert out.frames.shape == (6, hh, ww, 3)
        red = (out.frames[..., 0] > 150) & (out.frames[..., 2] < 100)
        xs = [np.nonzero(m)[1].mean() for m in red]
        assert all(b > a for a, b in zip(xs, xs[1:]))


def test_extensionless_image_is_a_static_video(tmp_path):
    from PIL import Image

    from videotext.processing import load_video

    path = tmp_path / "3141592653"  # CC3M's training/<crc32(url)> naming has no extension
    Image.new("RGB", (40, 30), (0, 0, 255)).save(path, format="PNG")
    video = load_video(path, num_frames=4)
    assert video.frames.shape == (4, 30, 40, 3)
    assert video.frames[..., 2].min() > 200 and video.total_frames == 1


def _variable_frame_rate_clip(path) -> str:
    """20 frames, frame i of grey level 12*i: ten at 10 fps (0.0-0.9 s), then ten 0.4 s apart (1.0-4.6 s)."""
    import subprocess

    import imageio_ffmpeg

    from videotext.processing import write_video

    cfr = write_video(path.with_name("cfr.mp4"), np.stack([np.full((32, 32, 3), 12 * i, np.uint8) for i in range(20)]),
                      fps=10)  # fmt: skip
    retime = "setpts='if(lt(N,10),N*0.1,1.0+(N-10)*0.4)/TB'"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(cfr), "-vf", retime,
                    "-fps_mode", "vfr", "-c:v", "libx264", "-crf", "0", "-pix_fmt", "yuv420p", str(path)],
                   check=True)  # fmt: skip
    return str(path)


def test_clip_bounds_follow_frame_timestamps_in_a_variable_frame_rate_video(tmp_path):
    from videotext.processing import load_video

    path = _variable_frame_rate_clip(tmp_path / "vfr.mp4")
    video = load_video(path, num_frames=4, start=1.0, end=2.6)
    # the frames starting in [1.0, 2.6) s are 10 (1.0 s), 11 (1.4), 12 (1.8) and 13 (2.2); the average fps (4.3)
    # would have mapped the window to frames 4-11
    assert video.indices.tolist() == [10, 11, 12, 13]
    assert (np.abs(video.frames.reshape(4, -1).mean(1) - 12 * np.arange(10, 14)) < 4).all()
    assert load_video(path, num_frames=2, start=0.0, end=0.5).indices.tolist() == [1, 3]
