"""Training speed end to end, this project's train_cifar.py against the original's engine.

    python benchmarks/end_to_end.py --devices 1,2 --depth 26 --epochs 6 --repeat 2

For each device count, in one process tree and interleaved over the repetitions:

* ``module``: the original's way, as the authors' ``train_model.py`` trains: the symbol
  graph of ``symbols/`` bound by ``mx.mod.Module`` on ``mx.cpu(0..N-1)`` and trained with
  ``Module.fit`` (NAG; the kvstore of ``--kv-store``, by default 'device', the default of
  the authors' ``options.py``; 'local' is MXNet's own default), fed by
  ``mx.io.ImageRecordIter`` doing the CIFAR augmentation in C++ (pad 4, random crop and
  mirror, per-channel normalisation). It runs in a process of its own with MXNet's own
  workspace pool (``MXNET_CPU_TEMP_COPY`` 4, ``--module-temp-copy``), as a process of the
  original's code has it: importing fusenet_gluon would give it this package's 64.
* ``gluon``: ``train_cifar.py --cpu-devices N`` on the same records, network, batch and
  optimizer.

Both sides' training images per second are what each run's own metrics say: for
``train_cifar.py`` the ``img_per_s`` its metrics file records, for the Module the batches of
an epoch over the ``Time cost`` that ``Module.fit`` logs for it. Both count an epoch from
its start (its first batch read) to its last update, without the validation and without
the loader's end of epoch (``Module.fit`` calls ``reset()`` after its "Time cost"). Until
2026-12-01 the Module's epoch was timed from the previous epoch's last batch, its reset
included, and ``train_cifar.py`` timed its loader's next iterator too. The first epoch
(graph building, memory pools) is left out on both sides. The data is scikit-learn's
digits, packed once (1,437 training images; 22 batches of 64 an epoch). A benchmark, not
a test: it reports numbers and asserts nothing.
"""
import argparse
import collections
import json
import logging
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mxnet as mx  # noqa: E402  (after fusenet_gluon's path)

from fusenet_gluon.data import presets  # noqa: E402
from fusenet_gluon.data.digits import ensure_digits  # noqa: E402
from fusenet_gluon.spec import NetworkSpec  # noqa: E402
from fusenet_gluon.timing import machine, spread  # noqa: E402
from fusenet_gluon.upstream import upstream_symbol  # noqa: E402


def module_run(folder, spec, batch, devices, epochs, kv_store, seed=1):
    """Training img/s of each epoch after the first, ``Module.fit`` as train_model.py."""
    pre = presets.DATASETS['digits']
    mean, std = pre.mean, pre.std
    train = mx.io.ImageRecordIter(
        path_imgrec=os.path.join(folder, 'train.rec'), data_shape=(3, 32, 32),
        batch_size=batch, shuffle=True, rand_crop=True, rand_mirror=False, pad=4,
        fill_value=255, mean_r=mean[0], mean_g=mean[1], mean_b=mean[2], std_r=std[0],
        std_g=std[1], std_b=std[2], preprocess_threads=os.cpu_count() or 1, seed=seed)
    mod = mx.mod.Module(upstream_symbol(spec), context=[mx.cpu(i) for i in range(devices)])
    batches, costs = collections.Counter(), {}

    def batch_end(param):
        batches[param.epoch] += 1

    class TimeCost(logging.Handler):  # Module.fit's own line: "Epoch[3] Time cost=4.210"
        def emit(self, record):
            found = re.match(r'Epoch\[(\d+)\] Time cost=([0-9.]+)', record.getMessage())
            if found:
                costs[int(found.group(1))] = float(found.group(2))

    logging.getLogger().addHandler(TimeCost())
    logging.getLogger().setLevel(logging.INFO)  # as train_model.py's logging.basicConfig
    mod.fit(train, num_epoch=epochs, kvstore=kv_store, optimizer='nag',
            optimizer_params=dict(learning_rate=0.1, momentum=0.9, wd=1e-4),
            initializer=mx.init.Xavier(rnd_type='gaussian', factor_type='in', magnitude=2),
            batch_end_callback=batch_end)
    return [batches[e] * batch / costs[e] for e in range(1, epochs)]


def module_child(folder, spec, batch, devices, epochs, kv_store, temp_copy):
    """:func:`module_run` in a fresh process whose MXNet has `temp_copy` workspaces."""
    env = dict(os.environ, MXNET_CPU_TEMP_COPY=str(temp_copy))
    cmd = [sys.executable, os.path.abspath(__file__), '--module-child', json.dumps(dict(
        folder=folder, network=spec.network, depth=spec.depth, batch=batch, devices=devices,
        epochs=epochs, kv_store=kv_store))]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def gluon_run(folder, spec, batch, devices, epochs, kv_store, num_examples=None, seed=1):
    """Training img/s of each epoch after the first, from train_cifar.py's metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, 'm')
        cmd = [sys.executable, os.path.join(ROOT, 'train_cifar.py'), '--network', spec.network,
               '--depth', str(spec.depth), '--data-dir', folder, '--gpus', '',
               '--cpu-devices', str(devices), '--batch-size', str(batch), '--num-epochs',
               str(epochs), '--rand-seed', str(seed), '--no-plot', '--model-prefix', prefix,
               '--kv-store', kv_store]
        if num_examples:
            cmd += ['--num-examples', str(num_examples)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-2000:])
        with open(prefix + '-metrics.jsonl') as f:
            rows = [json.loads(line) for line in f]
    return [r['img_per_s'] for r in rows[1:]]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--network', default='cross')
    p.add_argument('--depth', type=int, default=26)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--devices', default='1,2', help='comma list of CPU device counts')
    p.add_argument('--epochs', type=int, default=6, help='epochs per run (the first is left out)')
    p.add_argument('--repeat', type=int, default=2, help='runs of each side per device count')
    p.add_argument('--kv-store', default='device',
                   help="both sides' kvstore: device (the authors' default) or local")
    p.add_argument('--num-examples', type=int, default=None,
                   help="train_cifar.py's epoch in images (e.g. 14370: ten passes, 224 "
                        "updates an epoch), so that per-epoch costs weigh as on CIFAR; the "
                        "Module's epoch stays one pass")
    p.add_argument('--module-temp-copy', type=int, default=4,
                   help="MXNET_CPU_TEMP_COPY of the Module's process (MXNet's default 4, as "
                        "the original's code runs)")
    p.add_argument('--json', default=None, help='write the results here')
    p.add_argument('--module-child', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.module_child:
        a = json.loads(args.module_child)
        print(json.dumps(module_run(a['folder'], NetworkSpec(a['network'], depth=a['depth']),
                                    a['batch'], a['devices'], a['epochs'], a['kv_store'])))
        return
    folder = ensure_digits(quiet=True)
    spec = NetworkSpec(args.network, depth=args.depth)
    print('# %s; kvstore %s; Module with MXNET_CPU_TEMP_COPY=%d, train_cifar.py with %s' % (
        machine(), args.kv_store, args.module_temp_copy, os.environ['MXNET_CPU_TEMP_COPY']),
        flush=True)
    speeds = {}   # devices -> {'module': [img/s of each epoch], 'gluon': [...]}
    for n in [int(d) for d in args.devices.split(',')]:
        runs = {'module': [], 'gluon': []}
        for r in range(args.repeat):
            runs['module'] += module_child(folder, spec, args.batch_size, n, args.epochs,
                                           args.kv_store, args.module_temp_copy)
            runs['gluon'] += gluon_run(folder, spec, args.batch_size, n, args.epochs,
                                       args.kv_store, args.num_examples)
            print('devices %d, run %d: module %.1f, gluon %.1f img/s (medians so far)' % (
                n, r + 1, np.median(runs['module']), np.median(runs['gluon'])), flush=True)
        speeds[n] = runs
    print('| CPU devices | Module + ImageRecordIter img/s (min-max) | train_cifar.py img/s '
          '(min-max) | ratio |\n|---|---|---|---|')
    for n, runs in speeds.items():
        print('| %d | %s | %s | %.2f |' % (n, spread(runs['module']), spread(runs['gluon']),
                                           np.median(runs['gluon']) / np.median(runs['module'])))
    if args.json:
        results = {n: {k: dict(median=float(np.median(v)), min=float(min(v)),
                               max=float(max(v)), epochs=len(v)) for k, v in runs.items()}
                   for n, runs in speeds.items()}
        with open(args.json, 'w') as f:
            json.dump(dict(machine=machine(), args=vars(args), results=results), f, indent=1)


if __name__ == '__main__':
    main()
