// Render the notebooks' TeX with the site's own KaTeX (mkdocs.yml extra_javascript; no CDN).
// Only rendered markdown (markdown cells and markdown outputs such as show_doc's): a `$` in a stream or
// text output is a shell variable, not math. auto-render already skips code, pre and script.
function renderMath() {
  document.querySelectorAll('.jp-RenderedMarkdown').forEach(el => renderMathInElement(el, {
    delimiters: [
      {left: '$$', right: '$$', display: true},
      {left: '\\[', right: '\\]', display: true},
      {left: '$', right: '$', display: false},
      {left: '\\(', right: '\\)', display: false},
    ],
  }));
}
// mkdocs-material's document$ fires on every page load, also with instant navigation
if (window.document$) document$.subscribe(renderMath);
else document.addEventListener('DOMContentLoaded', renderMath);
