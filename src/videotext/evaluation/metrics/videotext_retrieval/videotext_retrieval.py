"""Text-video retrieval metrics (R@1/5/10/50, MdR, MnR; optional DSL) as a local `evaluate` module.

    import evaluate
    from videotext.evaluation import metric_path
    metric = evaluate.load(metric_path("retrieval"))
    metric.compute(similarity=sim, text_to_video=t2v)          # sim: (num_texts, num_videos)

One row per text: `similarity` is the text's row of scores against every video, `text_to_video` its video index.
Thin wrapper around `videotext.evaluation.retrieval_metrics`.
"""

import datasets
import evaluate
import numpy as np

from videotext.evaluation import retrieval_metrics

_DESCRIPTION = """\
Text-to-video and video-to-text retrieval metrics with the CLIP4Clip multi-sentence protocol: every caption is a
query; recalls in percent (0-100), 1-based ranks with pessimistic ties; dual-softmax (DSL) re-ranked numbers only
on request, under separate `dsl_` keys.
"""

_KWARGS_DESCRIPTION = """\
Args:
    similarity: (num_texts, num_videos) scores, one row per text (array, tensor or list of lists).
    text_to_video: length-num_texts list of the ground-truth video index of each text.
    dsl: also return `dsl_`-prefixed metrics on dual-softmax re-ranked similarities (default False).
    dsl_temperature: DSL softmax temperature (default 1.0).
    v2t_protocol: "clip4clip" (default) or "min_text_rank".
Returns:
    dict with t2v_R@1, t2v_R@5, t2v_R@10, t2v_R@50, t2v_MdR, t2v_MnR and the same for v2t_ (and dsl_ ones).
"""

_CITATION = """\
@article{luo2021clip4clip,
  title={CLIP4Clip: An Empirical Study of CLIP for End to End Video Clip Retrieval},
  author={Luo, Huaishao and Ji, Lei and Zhong, Ming and Chen, Yang and Lei, Wen and Duan, Nan and Li, Tianrui},
  journal={arXiv preprint arXiv:2104.08860},
  year={2021}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VideotextRetrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    # float64 keeps the caller's float64 scores bit-exact (ties decide pessimistic ranks)
                    "similarity": datasets.Sequence(datasets.Value("float64")),
                    "text_to_video": datasets.Value("int64"),
                }
            ),
            codebase_urls=["https://github.com/ArrowLuo/CLIP4Clip"],
        )

    def _compute(self, similarity, text_to_video, dsl=False, dsl_temperature=1.0, v2t_protocol="clip4clip"):
        lengths = {len(row) for row in similarity}
        if len(lengths) > 1:
            raise ValueError(f"similarity rows must all have num_videos entries, got row lengths {sorted(lengths)}")
        sim = np.asarray(similarity, dtype=np.float64)
        return retrieval_metrics(
            sim, np.asarray(text_to_video), dsl=dsl, dsl_temperature=dsl_temperature, v2t_protocol=v2t_protocol
        )
