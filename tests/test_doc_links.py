"""Every relative link and image in README.md and docs/*.md points to a file of the repository."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r'\]\(([^)\s]+)\)')


def test_relative_links_resolve():
    broken = []
    for doc in [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('**/*.md')):
        for target in LINK.findall(doc.read_text(encoding='utf-8')):
            if re.match(r'[a-z]+:', target) or target.startswith('#'):
                continue
            if not (doc.parent / target.split('#')[0]).exists():
                broken.append(f'{doc.relative_to(ROOT)}: {target}')
    assert broken == []


def test_readme_is_a_front_page():
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(text.splitlines()) <= 200
    for needed in ('https://arxiv.org/abs/2309.08987', 'https://github.com/Brittany-Chen/InvMIHNet',
                   'bash scripts/install.sh', '@inproceedings', '](LICENSE)', 'figures/cpu_4images_free.jpg'):
        assert needed in text
