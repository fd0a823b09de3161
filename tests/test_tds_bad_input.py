"Token distribution shift, issue #27: empty prompts, malformed records, empty queries and empty completions give clear errors."
import pytest, torch
from interp_nb.core import tiny_model
from interp_nb.data import to_dataset
from interp_nb.tds import token_shift, generate, sft, GEMMA_CHAT_TEMPLATE


@pytest.fixture(scope='module')
def pair():
    m, t = tiny_model('gpt2', seed=0)
    a, _ = tiny_model('gpt2', seed=1)
    return m, a, t


def test_empty_prompt_names_the_example(pair):
    m, a, t = pair
    with pytest.raises(ValueError, match=r"prompt 0 is empty .*first response token needs context"):
        token_shift(m, a, t, [dict(query='x', prompt_ids=[], response_ids=[3, 4])], progress=False)
    ok = dict(query='x', prompt_ids=[1], response_ids=[3, 4])
    with pytest.raises(ValueError, match=r"prompt 1 is empty \(query 'y'\)"):
        token_shift(m, a, t, [ok, dict(query='y', prompt_ids=[], response_ids=[3])], progress=False)
    with pytest.raises(ValueError, match=r"base prompt 1 is empty .*first response token needs context"):
        token_shift(m, a, t, [ok, ok], base_prompts=[[1], []], progress=False)


def test_records_need_their_ids(pair):
    m, a, t = pair
    with pytest.raises(ValueError, match=r"response 0 has no 'response_ids'"):
        token_shift(m, a, t, [dict(query='x', prompt_ids=[1])], progress=False)
    # a record without a query is fine (the query is only used in messages)
    assert len(token_shift(m, a, t, [dict(prompt_ids=[1], response_ids=[3, 4])], progress=False)) == 2
    with pytest.raises(ValueError, match=r"response 0 is empty"): token_shift(m, a, t, [dict(prompt_ids=[1], response_ids=[])], progress=False)


def test_generate_refuses_an_empty_query(pair):
    m, a, t = pair
    with pytest.raises(ValueError, match=r"query 1 has no tokens.*first generated token needs context"):
        generate(m, t, ['ab', ''], max_new_tokens=2, chat=False, progress=False)


def test_sft_refuses_empty_completions():
    m, t = tiny_model('gemma3')
    t.chat_template = GEMMA_CHAT_TEMPLATE
    row = lambda c: dict(prompt=[{'role': 'user', 'content': 'hi'}], completion=[{'role': 'assistant', 'content': c}])
    with pytest.raises(ValueError, match=r"completion 1 is empty"):
        sft(m, t, to_dataset([row('hello'), row('  ')]), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"needs 'prompt' and 'completion' columns"):
        sft(m, t, to_dataset([dict(text='hello')]), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"no training rows"):
        sft(m, t, to_dataset({'prompt': [], 'completion': []}), steps=1, progress=False)
