"""The docs site, tested as a reader would: built offline, served on loopback, driven in headless Chromium.
Every page loads without console errors, every sidebar link resolves, each reproduction page shows a figure;
screenshots go to _site/screenshots/ for a person to look at. Each defect once found by reading the site has a test
that fails if it comes back: show_doc link attributes printed as text, math left raw or loaded from a CDN, a narrow
or page-dependent content column, figures shrunk below readability, stderr / empty / widget / progress-bar outputs;
and tools/build_docs.py's adaptation of outputs has unit tests."""
import functools, http.server, json, re, socket, threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def site():
    import sys; sys.path.insert(0, str(ROOT/'tools'))
    from build_docs import build
    out = build()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass  # (set on a functools.partial it silenced nothing)
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield out, f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown()


def _notebook_pages():
    "mkdocs page of each notebook, and whether it is a reproduction (has a `parameters` cell)."
    out = {}
    for p in sorted((ROOT/'nbs').glob('*.ipynb')):
        nb = json.loads(p.read_text())
        out[p.stem + '.html'] = any('parameters' in c.get('metadata', {}).get('tags', []) for c in nb['cells'])
    return out


def _visit(browser, url, shot):
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    errors = []
    page.on('console', lambda m: errors.append(m.text) if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append(str(e)))
    failed = []
    page.on('requestfailed', lambda r: failed.append(r.url))
    resp = page.goto(url, wait_until='networkidle')
    page.screenshot(path=str(shot), full_page=False)
    return page, resp, errors, failed


def test_every_page_loads_cleanly_with_sidebar(site, browser):
    out, base = site
    shots = out/'screenshots'; shots.mkdir(exist_ok=True)
    pages = _notebook_pages()
    assert 'index.html' in pages
    for name, is_repro in pages.items():
        page, resp, errors, failed = _visit(browser, f'{base}/{name}', shots/name.replace('.html', '.png'))
        assert resp.status == 200, name
        assert not errors, f'{name}: console errors {errors}'
        assert not failed, f'{name}: failed requests {failed}'
        links = page.eval_on_selector_all('nav.md-nav--primary a.md-nav__link[href]', 'els => els.map(e => e.href)')
        targets = {l.split('#')[0] for l in links if l.startswith(base)}
        assert len(targets) >= len(pages), f'{name}: sidebar has {len(targets)} pages, expected {len(pages)}'
        for t in targets:
            r = page.request.get(t)
            assert r.status == 200, f'{name}: sidebar link {t} gives {r.status}'
        if is_repro:
            imgs = page.eval_on_selector_all('article img', 'els => els.filter(e => e.naturalWidth > 100).length')
            assert imgs >= 1, f'{name}: a reproduction page shows no figure'
        page.close()


def test_api_reference_and_search(site, browser):
    out, base = site
    page = browser.new_page()
    page.goto(f'{base}/01_sites.html', wait_until='networkidle')
    text = page.inner_text('article')
    assert 'capture' in text and 'Run `model` on `inputs`' not in text  # show_doc renders markdown, not source
    assert page.query_selector('h3#capture, h3[id="capture"]') is not None, 'show_doc heading for capture'
    assert 'show_doc(' not in text, 'show_doc inputs are hidden'
    assert '#| export' not in text and 'default_exp' not in text, 'nbdev directives are processed'
    page.click('input.md-search__input')
    # The search worker builds its index in the background; a query typed before it is ready gets no
    # results and is not re-run, so type it again until results show (at most ~90 s on a busy machine).
    for attempt in range(15):
        page.fill('input.md-search__input', '')
        page.type('input.md-search__input', 'load_model', delay=20)
        try: page.wait_for_selector('.md-search-result__item', timeout=6000); break
        except Exception:
            if attempt == 14: raise
    assert page.query_selector_all('.md-search-result__item')
    page.screenshot(path=str(out/'screenshots'/'search.png'))
    page.close()


def test_cross_references_are_local(site):
    out, _ = site
    html = (out/'index.html').read_text()
    assert 'interp-nb.github.io' not in html
    assert re.search(r'href="00_core\.html#load_model"', html) and re.search(r'href="01_sites\.html#capture"', html)


# What a reader sees on each notebook page in a 1280x900 window, collected in one visit per page (the tests below
# check it): the article's text, the assets the page asked for, the column's width, each figure and each output.
SURVEY_JS = '''() => {
  const art = document.querySelector('article');
  const col = art.getBoundingClientRect();
  const media = 'img, svg, canvas, iframe, video, table';
  return {
    text: art.innerText,
    katex: document.querySelectorAll('article .katex').length,
    katex_errors: [...document.querySelectorAll('.katex-error')].map(e => e.title),
    empty_src_scripts: [...document.querySelectorAll('script[src]')].filter(s => !s.getAttribute('src').trim()).length,
    assets: [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href),
    source_links: [...art.querySelectorAll('a')].filter(a => a.textContent.trim() === 'source').map(a => a.target),
    column: col.width, page_width: document.documentElement.scrollWidth, window_width: window.innerWidth,
    figures: [...art.querySelectorAll('.jp-OutputArea-output img')].map(i => {
      const r = i.getBoundingClientRect();
      return {src: i.src.slice(0, 60), natural: i.naturalWidth, shown: r.width, left: r.left - col.left, right: col.right - r.right};
    }),
    outputs: [...art.querySelectorAll('.jp-OutputArea-output')].map(o => ({
      cls: o.className, mime: o.getAttribute('data-mime-type'), text: o.innerText,
      media: !!o.querySelector(media) || o.matches(media),
      widget: o.matches('.jupyter-widgets') || !!o.querySelector('.jupyter-widgets, script[type*="jupyter.widget"]'),
    })),
  };
}'''


def _math_pages():
    "Pages whose markdown has display math, with how many `$$...$$` formulas."
    out = {}
    for p in sorted((ROOT/'nbs').glob('*.ipynb')):
        md = ''.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'] if c['cell_type'] == 'markdown')
        if md.count('$$') >= 2: out[p.stem + '.html'] = md.count('$$') // 2
    return out


@pytest.fixture(scope='module')
def survey(site, browser):
    out, base = site
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    requests = []
    page.on('request', lambda r: requests.append(r.url))
    math, res = _math_pages(), {}
    for name, is_repro in _notebook_pages().items():
        requests.clear()
        page.goto(f'{base}/{name}', wait_until='networkidle', timeout=30_000)
        if name in math:  # KaTeX renders on mkdocs-material's document$; give it a bounded moment
            try: page.wait_for_selector('article .katex', timeout=10_000)
            except Exception: pass
        page.wait_for_function('() => [...document.images].every(i => i.complete)', timeout=10_000)
        res[name] = {**page.evaluate(SURVEY_JS), 'requests': list(requests), 'repro': is_repro}
    page.close()
    return base, res


def test_show_doc_link_attributes_are_not_text(survey):
    "show_doc's `[source](url){target=... style=...}`: a link that opens a new tab, no attribute text after it."
    _, res = survey
    for name, r in res.items():
        for bad in ('{target=', 'style="float'):
            i = r['text'].find(bad)
            assert i < 0, f'{name}: link attributes shown as text: ...{r["text"][max(0, i-40):i+60]!r}'
        assert all(t == '_blank' for t in r['source_links']), f'{name}: source links {r["source_links"]}'
    assert sum(len(r['source_links']) for r in res.values()) >= 20, 'show_doc source links are rendered as links'


def test_math_renders_offline(survey):
    "Display math is typeset by the site's own KaTeX: no raw `$$`, no KaTeX error, a .katex element per formula."
    _, res = survey
    math = _math_pages()
    assert {'10_das.html', '20_edge_pruning.html'} <= set(math), math
    for name, n in math.items():
        r = res[name]
        assert '$$' not in r['text'], f'{name}: raw $$ shown'
        assert r['katex'] >= n, f'{name}: {r["katex"]} KaTeX elements for {n} formulas'
        assert not r['katex_errors'], f'{name}: KaTeX errors {r["katex_errors"]}'


def test_every_asset_is_served_by_the_site(survey):
    "No CDN: every request and every script/stylesheet URL of every page is on the site's origin; no `<script src=''>`."
    base, res = survey
    own = lambda u: u.startswith(base + '/') or u.startswith(('data:', 'blob:'))
    for name, r in res.items():
        assert not r['empty_src_scripts'], f'{name}: {r["empty_src_scripts"]} script(s) with an empty src'
        assert all(map(own, r['assets'])), f'{name}: external assets {[u for u in r["assets"] if not own(u)]}'
        assert all(map(own, r['requests'])), f'{name}: external requests {[u for u in r["requests"] if not own(u)]}'
        assert any('/assets/katex/katex.min.js' in u for u in r['requests']), f'{name}: KaTeX not loaded'


def test_column_is_wide_and_the_same_on_every_page(survey):
    "At 1280px the article column is >= 900px on every page, the same on all (no output widens or squeezes it)."
    _, res = survey
    widths = {name: round(r['column']) for name, r in res.items()}
    assert min(widths.values()) >= 900, f'article column narrower than 900px: {widths}'
    assert max(widths.values()) - min(widths.values()) <= 4, f'article column differs between pages: {widths}'
    for name, r in res.items():
        assert r['page_width'] <= r['window_width'], f'{name}: the page scrolls sideways ({r["page_width"]}px)'


def test_figures_are_readable(survey):
    "Each figure on a reproduction page is shown at least min(600px, its natural width) wide, inside the column."
    _, res = survey
    for name, r in res.items():
        if not r['repro']: continue
        assert r['figures'], f'{name}: no figure'
        for f in r['figures']:
            assert f['shown'] >= min(600, f['natural']) - 1, f'{name}: figure shown {f["shown"]:.0f}px wide: {f}'
            assert f['left'] >= -1 and f['right'] >= -1, f'{name}: figure sticks out of the column: {f}'


PROGRESS = re.compile(r'(it/s|s/it)\]|\d%\|')
# what a widget view shows without a widget manager: the text/plain fallback, e.g. `VBox(children=(...))`
WIDGET_REPR = re.compile(r'^(interactive|[A-Z]\w*)\((children|value|options|outputs|layout|description)=|^Output\(\)$')


def test_outputs_are_clean(survey):
    "No stderr or error output, no empty box, no widget placeholder, no frozen progress bar on any page."
    _, res = survey
    for name, r in res.items():
        for o in r['outputs']:
            text = o['text'].strip()
            assert o['mime'] != 'application/vnd.jupyter.stderr', f'{name}: stderr output {text[:200]!r}'
            assert not o['widget'], f'{name}: widget placeholder {o["cls"]!r}'
            assert not WIDGET_REPR.search(text), f'{name}: a widget shown as its text repr {text[:200]!r}'
            assert text or o['media'], f'{name}: empty output box {o["cls"]!r}'
            assert not PROGRESS.search(text), f'{name}: progress-bar residue {text[:200]!r}'


def _build_docs():
    import sys; sys.path.insert(0, str(ROOT/'tools'))
    import build_docs
    return build_docs


def test_html_link():
    bd = _build_docs()
    sub = lambda s: bd._ATTR_LINK.sub(bd._html_link, s)
    src = '[source](https://github.com/o/r/blob/main/interp_nb/sites.py#L10){target="_blank" style="float:right; font-size:smaller"}'
    assert sub(src) == ('<a href="https://github.com/o/r/blob/main/interp_nb/sites.py#L10" target="_blank" '
                        'style="float:right; font-size:smaller" rel="noopener">source</a>')
    assert sub('see [x](y.html){.cls .other} then') == 'see <a href="y.html" class="cls other">x</a> then'
    for plain in ('[x](y.html) and {a}', 'a `{target="_blank"}` b', '[x] (y){z}'): assert sub(plain) == plain


def test_static_output():
    bd = _build_docs()
    widget = {'output_type': 'display_data', 'metadata': {},
              'data': {'application/vnd.jupyter.widget-view+json': {'model_id': 'abc', 'version_major': 2},
                       'text/plain': "VBox(children=(HTML(value=''),))"}}
    note = bd._static_output(widget)
    assert note['data'] == {'text/markdown': bd.WIDGET_NOTE} and note['output_type'] == 'display_data'
    md = {'output_type': 'execute_result', 'execution_count': 3, 'metadata': {},
          'data': {'text/markdown': ['---\n', '\n', '[source](u.py#L1){target="_blank" style="float:right"}\n', '### f\n'],
                   'text/plain': 'x'}}
    got = bd._static_output(md)
    assert got['data']['text/markdown'] == '---\n\n<a href="u.py#L1" target="_blank" style="float:right" rel="noopener">source</a>\n### f\n'
    assert got['data']['text/plain'] == 'x' and got['execution_count'] == 3
    assert isinstance(md['data']['text/markdown'], list), 'the input output is not modified'
    for o in ({'output_type': 'stream', 'name': 'stdout', 'text': ['a {target="_blank"}\n']},
              {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': 'iVBOR', 'text/plain': 'fig'}}):
        assert bd._static_output(o) == o


def test_mathjax_hook_removes_the_cdn_script():
    "docs_assets/hooks.py drops nbconvert's MathJax block (a `<script src=\"\">` and its config) from each page."
    import importlib.util
    spec = importlib.util.spec_from_file_location('docs_hooks', ROOT/'docs_assets'/'hooks.py')
    hooks = importlib.util.module_from_spec(spec); spec.loader.exec_module(hooks)
    html = ('<p>a</p><!-- Load mathjax -->\n<script src=""></script>\n<script type="text/x-mathjax-config">'
            'MathJax.Hub.Config({})</script>\n<!-- End of mathjax configuration --><p>b</p>')
    assert hooks.on_page_content(html, None, None, None) == '<p>a</p><p>b</p>'
