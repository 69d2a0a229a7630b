"""fusenet-gluon: deep-fusion networks (DFN-MR, DFN-IL, N_f3/N_f6) in MXNet Gluon.

Versions are pinned once, in constraints.txt; this file takes its pins from there.
Install with exactly one MXNet build: ``pip install -c constraints.txt -e .[cpu]`` (tests,
CI) or ``.[gpu]`` (mxnet-cu112, for clusters with CUDA 11.2 and cuDNN on the system).
Every requirement is imported by the package; ``gluoncv`` builds the Gluon data pipeline
(``fusenet_gluon/data/gcv.py`` imports it so that it stays quiet beside torch >= 2.0).
"""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _pins():
    pins = {}
    with open(os.path.join(HERE, 'constraints.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                name = re.match(r'[A-Za-z0-9_.\-]+', line).group(0)
                pins[name.lower()] = line
    return pins


PINS = _pins()


def pinned(*names):
    return [PINS.get(n.lower(), n) for n in names]


setup(
    name='fusenet-gluon',
    version='0.1.0',
    description='Deep-fusion networks (Zhao et al., arXiv 1611.07718) in MXNet Gluon',
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['fusenet_gluon', 'fusenet_gluon.*']),
    python_requires='>=3.8',
    install_requires=pinned('numpy', 'opencv-python', 'matplotlib', 'scipy', 'scikit-learn',
                            'tqdm', 'gluoncv'),
    extras_require={
        'cpu': pinned('mxnet'),
        'gpu': pinned('mxnet-cu112'),
        'onnx': pinned('onnx', 'protobuf', 'onnxruntime'),
        'viz': pinned('graphviz'),
        'test': pinned('pytest'),
    },
    entry_points={'console_scripts': [
        'fusenet-convert=fusenet_gluon.convert:cli',
        'fusenet-show-model=fusenet_gluon.show_model:cli',
    ]},
)
