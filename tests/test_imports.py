"""The package's import graph, read from the source with ``ast`` (imports inside functions
count): no cycle, and no library module imports a command-line module. Modules: every
module of fusenet_gluon, read, not imported.

An import names the module it names: ``from .training.checkpoint import read_metrics`` is
an import of ``fusenet_gluon.training.checkpoint``, ``from . import models`` one of the
package ``fusenet_gluon.models`` (its ``__init__``). Python also runs the ``__init__`` of
the packages on the way; counted too, they close no cycle and bring in no command line
(the training package's ``__init__`` re-exports the recipe only).
"""
import ast
import os

import pytest

from conftest import ROOT

PACKAGE = 'fusenet_gluon'

#: The command-line modules: each builds an argparse parser and is run by ``python -m`` or
#: a training script (training.cli, behind train_cifar.py, and training.options, its
#: parser); a library module never imports one, directly or through a package's __init__.
COMMAND_LINE = {
    'fusenet_gluon.bench', 'fusenet_gluon.convert', 'fusenet_gluon.launch',
    'fusenet_gluon.results', 'fusenet_gluon.show_model', 'fusenet_gluon.study',
    'fusenet_gluon.data.bench', 'fusenet_gluon.data.pack',
    'fusenet_gluon.training.cli', 'fusenet_gluon.training.options',
    'fusenet_gluon.deploy',   # convert quantize's flags and its run(args): no parser of its own
}


def modules():
    """``{module name: path}`` of every module of the package."""
    out = {}
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                out['.'.join(parts)] = path
    return out


def _is_package(name, known):
    return any(m.startswith(name + '.') for m in known)


def imports(name, path, known, facades=False):
    """The package's modules that module `name` imports, anywhere in its source; with
    `facades`, also the packages whose ``__init__`` those imports run on the way."""
    package = name if _is_package(name, known) else name.rpartition('.')[0]
    targets = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')
                anchor = anchor[:len(anchor) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = base + '.' + alias.name
                targets.add(sub if sub in known else base)
    out = set()
    for target in targets:
        if not (target == PACKAGE or target.startswith(PACKAGE + '.')):
            continue
        while target not in known and '.' in target:
            target = target.rpartition('.')[0]
        out.add(target)
        # the packages on the way, unless the importer is inside them (already running)
        parent = target.rpartition('.')[0]
        while facades and parent != PACKAGE and '.' in parent:
            if not (name == parent or name.startswith(parent + '.')):
                out.add(parent)
            parent = parent.rpartition('.')[0]
    out.discard(name)
    out.discard(PACKAGE)
    return out


def graph(facades=False):
    known = modules()
    return {name: imports(name, path, known, facades) for name, path in known.items()}


def cycles(edges):
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle_and_reads_imports_inside_functions(tmp_path):
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []
    known = {'fusenet_gluon.a', 'fusenet_gluon.sub', 'fusenet_gluon.sub.b',
             'fusenet_gluon.sub.c'}
    inner = tmp_path / 'b.py'
    inner.write_text('def f():\n    from ..a import x\n    from . import c\n')
    assert imports('fusenet_gluon.sub.b', str(inner), known) == {'fusenet_gluon.a',
                                                                 'fusenet_gluon.sub.c'}
    outer = tmp_path / 'a.py'
    outer.write_text('import os\n\n\ndef g():\n    import fusenet_gluon.sub.c\n')
    assert imports('fusenet_gluon.a', str(outer), known) == {'fusenet_gluon.sub.c'}
    assert imports('fusenet_gluon.a', str(outer), known, facades=True) == {
        'fusenet_gluon.sub.c', 'fusenet_gluon.sub'}


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, 'import cycles: %s' % '; '.join(' <-> '.join(c) for c in found)


def test_the_command_line_modules_are_named():
    """Every module that builds an argparse parser is in COMMAND_LINE, and every name there
    is a module, so the list cannot go stale."""
    known = modules()
    assert COMMAND_LINE <= set(known)
    parsers = {n for n, p in known.items() if 'ArgumentParser(' in open(p).read()}
    assert parsers <= COMMAND_LINE, sorted(parsers - COMMAND_LINE)


@pytest.mark.parametrize('module', sorted(set(modules()) - COMMAND_LINE))
def test_library_modules_import_no_command_line_module(module):
    bad = graph(facades=True)[module] & COMMAND_LINE   # nor through a package's __init__
    assert not bad, '%s imports the command-line module(s) %s' % (module, sorted(bad))


def test_the_families_module_is_a_leaf():
    assert graph()['fusenet_gluon.families'] == set()


def test_no_cycle_through_package_facades():
    """Counting the package __init__ run on the way, no cycle either."""
    found = cycles(graph(facades=True))
    assert not found, 'import cycles: %s' % '; '.join(' <-> '.join(c) for c in found)
