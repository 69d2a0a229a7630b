"""fusenet_gluon.data.bench: the data pipeline's benchmark refuses what it cannot time."""
from conftest import run


def test_data_bench_with_fewer_images_than_a_batch_says_why():
    r = run('-m', 'fusenet_gluon.data.bench', '--cifar-images', '10', '--no-train-step')
    assert r.returncode == 2 and 'fewer than one batch' in r.stderr
