#!/usr/bin/python3
"""plot_sentiment.py — PNG plots from the --results JSON files of examples/sentiment (train, eval or compare).

    examples/sentiment/plot_sentiment.py RESULTS.json [MORE.json ...] --out DIR

Writes, per model: <dataset>_<model>_curves.png (loss and accuracy by epoch, train and validation) and
<dataset>_<model>_confusion.png (test confusion matrix); and for all models together: roc.png (test ROC
curves of binary tasks) and latency.png (inference latency per example against sequence length, log-log).
Needs matplotlib (Debian: apt-get install python3-matplotlib; cmake/setup-debian.sh installs it).
"""
import argparse
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_sentiment.py needs matplotlib: apt-get install python3-matplotlib (or pip install matplotlib)")


def runs(paths):
    """(label, dataset, result) for every model result in the given files."""
    out = []
    for path in paths:
        with open(path) as f:
            j = json.load(f)
        classes = j.get("dataset", {}).get("classes", [])
        dataset = j.get("dataset", {}).get("name", "")
        results = j.get("results") or ([j["result"]] if "result" in j else [])
        for r in results:
            out.append((r.get("model", {}).get("name", "model"), dataset, classes, r))
    return out


def plot_curves(name, r, out, prefix):
    curves = r.get("training", {}).get("curves", [])
    if not curves:
        return
    ep = [c["epoch"] for c in curves]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [c["train_loss"] for c in curves], "o-", label="train")
    a.plot(ep, [c["val_loss"] for c in curves], "s-", label="validation")
    a.set(xlabel="epoch", ylabel="loss", title=f"{name}: loss")
    b.plot(ep, [100 * c["train_accuracy"] for c in curves], "o-", label="train")
    b.plot(ep, [100 * c["val_accuracy"] for c in curves], "s-", label="validation")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{name}: accuracy")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{prefix}{name}_curves.png"), dpi=120)
    plt.close(fig)


def plot_confusion(name, classes, ev, out, prefix):
    cm = ev.get("confusion_matrix")
    if not cm:
        return
    n = len(cm)
    labels = classes if len(classes) == n else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.2 * n + 2))
    ax.imshow(cm, cmap="Blues")
    top = max(max(row) for row in cm) or 1
    for t in range(n):
        for p in range(n):
            ax.text(p, t, cm[t][p], ha="center", va="center", color="white" if cm[t][p] > top / 2 else "black")
    ax.set_xticks(range(n), labels)
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="predicted", ylabel="true", title=f"{name}: test confusion (acc {100 * ev['accuracy']:.2f}%)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, f"{prefix}{name}_confusion.png"), dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results JSON files of examples/sentiment")
    ap.add_argument("--out", default="plots", help="output directory (default: plots)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    all_runs = runs(a.results)
    if not all_runs:
        sys.exit("no model results in " + ", ".join(a.results))
    roc_fig, roc_ax = plt.subplots(figsize=(5, 5))
    lat_fig, lat_ax = plt.subplots(figsize=(6, 4))
    have_roc = have_lat = False
    for name, dataset, classes, r in all_runs:
        prefix = f"{dataset}_" if dataset else ""
        plot_curves(name, r, a.out, prefix)
        test = r.get("eval", {}).get("test", {})
        plot_confusion(name, classes, test, a.out, prefix)
        if test.get("roc_curve"):
            pts = test["roc_curve"]
            roc_ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{name} (AUC {test['roc_auc']:.3f})")
            have_roc = True
        lat = r.get("latency", [])
        if lat:
            lat_ax.loglog([e["length"] for e in lat], [e["ms_per_example"] for e in lat], "o-", label=name, base=2)
            have_lat = True
    if have_roc:
        roc_ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
        roc_ax.grid(alpha=0.3)
        roc_ax.legend(loc="lower right")
        roc_fig.tight_layout()
        roc_fig.savefig(os.path.join(a.out, "roc.png"), dpi=120)
    if have_lat:
        lat_ax.set(xlabel="sequence length (tokens)", ylabel="ms per example (batch 1)", title="inference latency")
        lat_ax.grid(alpha=0.3, which="both")
        lat_ax.legend()
        lat_fig.tight_layout()
        lat_fig.savefig(os.path.join(a.out, "latency.png"), dpi=120)
    print("plots written to", a.out)


if __name__ == "__main__":
    main()
