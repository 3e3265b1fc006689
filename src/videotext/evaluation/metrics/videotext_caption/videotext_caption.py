"""coco-caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) as a local `evaluate` module.

    import evaluate
    from videotext.evaluation import metric_path
    metric = evaluate.load(metric_path("caption"))
    metric.compute(predictions=["a man is cooking"], references=[["a man cooks food", "someone cooks"]])

Thin wrapper around `videotext.evaluation.caption_metrics` (the ids are the positions); needs Java.
"""

import datasets
import evaluate

from videotext.evaluation import caption_metrics

_DESCRIPTION = """\
Captioning metrics with the coco-caption protocol: the Stanford PTB tokenizer on predictions and references,
then pycocoevalcap's Bleu(4), Meteor(), Rouge() and Cider(). Corpus-level values on pycocoevalcap's scale
(BLEU/METEOR/ROUGE-L in [0, 1], CIDEr usually in [0, 10]); identical to calling pycocoevalcap directly.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of generated captions, one per video (an empty string is allowed and scores 0).
    references: list of lists of reference captions (at least one per video), aligned with `predictions`.
    metrics: optional subset of "BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr" ("BLEU" = the four BLEU keys).
Returns:
    dict with keys BLEU-1, BLEU-2, BLEU-3, BLEU-4, METEOR, ROUGE-L, CIDEr (floats).
"""

_CITATION = """\
@article{chen2015microsoft,
  title={Microsoft COCO Captions: Data Collection and Evaluation Server},
  author={Chen, Xinlei and Fang, Hao and Lin, Tsung-Yi and Vedantam, Ramakrishna and Gupta, Saurabh and
          Doll{\\'a}r, Piotr and Zitnick, C. Lawrence},
  journal={arXiv preprint arXiv:1504.00325},
  year={2015}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class VideotextCaption(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            codebase_urls=["https://github.com/salaniz/pycocoevalcap"],
        )

    def _compute(self, predictions, references, metrics=None):
        ids = [str(i) for i in range(len(predictions))]
        return caption_metrics(
            dict(zip(ids, predictions)), {i: list(r) for i, r in zip(ids, references)}, metrics=metrics
        )
