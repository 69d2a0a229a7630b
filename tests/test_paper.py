"""fusenet_gluon.paper: the paper's numbers are those of docs/reference.md."""


def test_the_papers_numbers_are_the_reference_docs():
    """fusenet_gluon/paper.py against docs/reference.md section 4.1."""
    from conftest import REFERENCE
    from fusenet_gluon import paper
    text = open(REFERENCE).read()
    text = text[text.index('### 4.1'):]

    def rows(title):
        part = text[text.index(title):]
        part = part[:part.index('\n\n', part.index('|---'))]
        return [[c.strip() for c in line.strip('|').split('|')]
                for line in part.splitlines() if line.startswith('| ') and '---' not in line]
    t1 = rows('Table 1,')
    depths = [int(d) for d in t1[0][1:]]
    assert {d: (float(f), float(e)) for d, f, e in zip(depths, t1[1][1:], t1[2][1:])} == \
        paper.TABLE1
    t3 = rows('Table 3,')
    assert {int(r[0]): tuple(float(v) for v in r[1:]) for r in t3[1:]} == paper.TABLE3
    t2 = rows('Table 2,')
    got = {}
    for r in t2[1:]:
        got.setdefault(int(r[0]), {})[r[1]] = tuple(None if v == 'fail' else float(v)
                                                     for v in r[2:])
    assert got == paper.TABLE2
