"""fusenet_gluon.plots: a run's curves drawn from its metrics file."""
import json


def test_one_epoch_curves_are_drawn(tmp_path):
    from fusenet_gluon.plots import plot_runs
    path = tmp_path / 'm-metrics.jsonl'
    path.write_text(json.dumps(dict(epoch=1, lr=0.1, train_loss=1.0, train_acc=0.5,
                                    val_loss=1.2, val_acc=0.4, time_s=1, img_per_s=1)) + '\n')
    import matplotlib.image
    png = plot_runs([str(path)], str(tmp_path / 'c.png'))
    rgb = matplotlib.image.imread(png)[..., :3]
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.2   # the lines' colours, not grey axes
    assert coloured.sum() > 20
