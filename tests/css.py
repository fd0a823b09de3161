"Checks on the stylesheets that the HTML views carry (shared by the method tests)."
import re


def unscoped_selectors(page: str, scope: str) -> list[str]:
    "The selectors of `page`'s `<style>` blocks that do not start with class `scope`: each would style the page around the view."
    rules = ''.join(re.findall(r'<style>(.*?)</style>', page, re.S))
    sels = [s.strip() for block in re.findall(r'([^{}]+)\{[^}]*\}', rules) for s in block.split(',')]
    assert sels, 'no stylesheet found'
    return [s for s in sels if not s.startswith('.' + scope)]
