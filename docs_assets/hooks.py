"mkdocs hooks (mkdocs.yml `hooks:`) for the docs site."
import re

# nbconvert's template loads MathJax from a URL (mkdocs-jupyter leaves it empty: a <script src="">) and
# configures it; the site renders math with its own KaTeX instead (docs_assets/math.js)
_MATHJAX = re.compile(r'<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->', re.S)


def on_page_content(html, page, config, files):
    return _MATHJAX.sub('', html)
