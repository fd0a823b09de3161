"Token distribution shift: bad input, the URIAL prompt, HTML view, saved per-token results."
import pytest, torch
from interp_nb.core import tiny_model, byte_tokenizer
from css import unscoped_selectors
from interp_nb.tds import (show_example, URIAL_SYSTEM, generate, token_shift, tds_summary, position_curve, check_tokenizers, urial_prompt, tds_html,
                           shift_class, _trim_stop, URIAL_EXAMPLES, chat_text)


@pytest.fixture(scope='module')
def pair():
    m, t = tiny_model('gpt2', seed=0)
    a, _ = tiny_model('gpt2', seed=1)
    return m, a, t


def test_tokenizers_must_match():
    from interp_nb.core import load_tokenizer
    with pytest.raises(ValueError, match='tokenizers differ'): check_tokenizers(byte_tokenizer(), load_tokenizer('smollm2-135m-instruct'))
    check_tokenizers(byte_tokenizer(), byte_tokenizer())


def test_empty_response_and_too_long(pair):
    m, a, t = pair
    with pytest.raises(ValueError, match='response 1 is empty'):
        token_shift(m, a, t, [dict(query='x', prompt_ids=[1, 2], response_ids=[3]), dict(query='y', prompt_ids=[1], response_ids=[])], progress=False)
    long = dict(query='long', prompt_ids=list(range(250)), response_ids=[5] * 10)  # tiny models have 256 positions
    with pytest.raises(ValueError, match='longer than the model context'): token_shift(m, a, t, [long], progress=False)
    with pytest.raises(ValueError, match='no responses'): token_shift(m, a, t, [], progress=False)
    with pytest.raises(ValueError, match='2 base prompts for 1 responses'):
        token_shift(m, a, t, [dict(query='x', prompt_ids=[1], response_ids=[2])], base_prompts=[[1], [2]], progress=False)
    with pytest.raises(ValueError, match='no queries'): generate(m, t, [], progress=False)


def test_chat_needs_a_template(pair):
    m, a, t = pair
    with pytest.raises(ValueError, match='no chat template'): generate(m, t, ['hi'], chat=True, progress=False)


def test_ranks_and_kl_against_direct_computation(pair):
    m, a, t = pair
    rec = dict(query='q', prompt_ids=list(b'hello'), response_ids=list(b' there you'))
    ts = token_shift(m, a, t, [rec], top_k=3, progress=False)
    ids = torch.tensor([rec['prompt_ids'] + rec['response_ids']])
    with torch.no_grad(): lb, la = m(ids).logits[0].log_softmax(-1), a(ids).logits[0].log_softmax(-1)
    for row in ts:
        i = len(rec['prompt_ids']) + row['position'] - 1
        tok = row['token_id']
        assert row['rank'] == int((lb[i] > lb[i, tok]).sum())
        assert row['cls'] == shift_class(row['rank'])
        assert abs(row['kl'] - float((la[i].exp() * (la[i] - lb[i])).sum())) < 1e-4
        assert row['base_top_ids'] == lb[i].topk(3).indices.tolist()


def test_summary_curve_and_html(pair, tmp_path):
    m, a, t = pair
    recs = generate(a, t, ['ab', 'cd'], max_new_tokens=12, chat=False, progress=False)
    ts = token_shift(m, a, t, recs, progress=False)
    s = tds_summary(ts)
    assert abs(s['unshifted_share'] + s['marginal_share'] + s['shifted_share'] - 1) < 1e-9
    assert sum(r['n'] for r in position_curve(ts)) == len(ts)
    page = tds_html(ts, ['ab', 'cd'], tmp_path/'v.html')
    assert (tmp_path/'v.html').read_text() == page and '<script' not in page and 'base top:' in page
    # the views' stylesheet is scoped to them: shown in the docs or JupyterLab, it leaves the page's body and tables alone
    assert unscoped_selectors(page, 'tds-view') == [] and unscoped_selectors(show_example(ts, 0, 'ab').data, 'tds-view') == []
    assert '<div class="tds-view">' in show_example(ts, 1, 'cd\nnext line').data
    ts.to_parquet(tmp_path/'t.parquet')
    from datasets import Dataset
    assert Dataset.from_parquet(str(tmp_path/'t.parquet'))['rank'] == ts['rank']


def test_urial_prompt_and_stop():
    p = urial_prompt('How do I boil an egg?')
    assert p == urial_prompt('How do I boil an egg?', URIAL_EXAMPLES, URIAL_SYSTEM)
    import inspect
    assert len(str(inspect.signature(urial_prompt))) < 120  # the defaults are named, not spelled out in the docs
    assert p.count('# Query:\n```') == len(URIAL_EXAMPLES) + 1 and p.endswith('# Answer:\n```\n')
    t = byte_tokenizer()
    ids = list(b'An answer.\n```\n\n# Query:\nmore')
    assert t.decode(_trim_stop(t, ids, '# Query:')) == 'An answer.\n```\n\n'
    assert _trim_stop(t, ids, None) == ids
