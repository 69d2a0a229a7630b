# `make demo` and `make test` set everything up on a fresh machine (a virtual environment
# with the CPU build of MXNet, pinned by constraints.txt) and then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= cpu,test,onnx,viz

.PHONY: setup test demo bench clean help

help:
	@echo "make demo   - set up, then train DFN-MR on the bundled handwritten digits (CPU)"
	@echo "make test   - set up, then run the test suite"
	@echo "make bench  - set up, then run the training-throughput benchmark"

setup: $(STAMP)

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		--only-binary=onnx,onnxruntime -c constraints.txt -e ".[$(EXTRAS)]"
	@$(PY) -c "import mxnet, numpy; from fusenet_gluon.data.gcv import gluoncv; \
		print('mxnet', mxnet.__version__, '| numpy', numpy.__version__, '| gluoncv', gluoncv.__version__)"
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

DEMO := runs/demo/model
demo: $(STAMP)
	$(PY) train_cifar.py --network cross --depth 14 --num-epochs 20 --gpus '' --cpu-devices auto \
		--rand-seed 1 --model-prefix $(DEMO) --force
	$(PY) -m fusenet_gluon.results $(DEMO)-metrics.jsonl --min-accuracy 90

bench: $(STAMP)
	$(PY) -m fusenet_gluon.bench --network cross --depth 26 --batch-size 32

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
