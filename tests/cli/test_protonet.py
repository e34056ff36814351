#!/usr/bin/python3
"""ProtoNet end to end, as a researcher runs it: scikit-learn's handwritten digits imported
with a class split, a ProtoNet trained with 2 ranks and evaluated on held-out classes; the
warped family, where the learned encoder must undo a shared deformation; and the bad input of
import --class-split and eval. File layouts are read with h5py, the adjusted Rand index is
recomputed with scikit-learn.

Run by ctest with METAGMM pointing at the binary and MPIRUN at mpirun.
"""
import csv
import json
import os
import re
import shutil
import tempfile
import unittest

import h5py
import numpy as np
import sklearn
from sklearn.metrics import adjusted_rand_score

from support import RefusalChecks, metagmm as run, metagmm_ranks as run_ranks

DIGITS = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")


def accuracy(results, method):
    return next(row for row in results["accuracy"] if row["method"] == method)


def clustering(results, method):
    return next(row for row in results["clustering"] if row["method"] == method)


class Workspace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="metagmm_protonet_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def import_digits(cls, class_split):
        """scikit-learn's digits as DIR/digits.h5 (cls.tasks), split by class."""
        cls.tasks = cls.path("digits.h5")
        run("import", "--csv", DIGITS, "--label-column", 64, "--class-split", class_split, "--out", cls.tasks)

    def evaluate(self, name, *args):
        out = self.path(name)
        run("eval", "--out", out, *args)
        with open(os.path.join(out, "eval.json")) as f:
            return json.load(f)


class Digits(Workspace):
    """Digits 0-4 meta-train, 5-9 test, validation = 20% of each train digit's images."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.import_digits("0-4::5-9")
        cls.checkpoint = cls.path("run/checkpoint-000000000200.h5")
        run_ranks(2, "train", "--algo", "protonet", "--tasks", cls.tasks, "--run-dir", cls.path("run"), "--steps", 200,
                  "--meta-batch", 8, "--ways", 5, "--shots", 5, "--queries", 10, "--validate-every", 100)

    def test_class_split_layout(self):
        pixels = np.loadtxt(DIGITS, delimiter=",")
        with h5py.File(self.tasks) as f:
            self.assertEqual(list(f["task_split"][()]), [0, 1, 2])
            offsets, labels, points = f["task_offsets"][()], f["labels"][()], f["points"][()]
        self.assertEqual(offsets[-1], len(pixels))
        train, validation, test = (labels[offsets[t]:offsets[t + 1]] for t in range(3))
        self.assertEqual(set(train), set(range(5)))
        self.assertEqual(set(validation), set(range(5)))
        self.assertEqual(set(test), set(range(5, 10)))
        for digit in range(5):  # 20% of each train digit's images held out, rounded
            total = np.sum(pixels[:, 64] == digit)
            self.assertEqual(np.sum(validation == digit), round(0.2 * total))
        # Every image once, with its own label, in file order within a split.
        rows = {tuple(row) for row in np.column_stack([points, labels])}
        self.assertEqual(rows, {tuple(row) for row in pixels})
        test_rows = np.column_stack([points, labels])[offsets[2]:]
        self.assertTrue(np.array_equal(test_rows, pixels[pixels[:, 64] >= 5]))

    def test_eval_json_holds_any_checkpoint_path(self):
        # A tab, quotes and a backslash in the path: eval.json stays valid JSON (written by
        # nlohmann-json) and holds the path exactly.
        odd = self.path('tab\there "quoted" back\\slash')
        os.makedirs(odd, exist_ok=True)
        copy = os.path.join(odd, "model.h5")
        shutil.copy(self.checkpoint, copy)
        results = self.evaluate("odd_eval", "--checkpoint", copy, "--shots", 5, "--episodes", 50, "--head-tasks", 0,
                                "--linear-baselines", "no")
        self.assertEqual(results["accuracy"][0]["checkpoint"], copy)

    def test_encoder_learns_the_train_digits_and_the_test_digits_are_reported(self):
        # Seen digits, unseen images (the validation split): the encoder beats raw pixels clearly.
        seen = self.evaluate("seen", "--checkpoint", self.checkpoint, "--split", "validation", "--shots", 1,
                             "--episodes", 1000, "--head-tasks", 0)
        learned, raw = accuracy(seen, "protonet"), accuracy(seen, "identity encoder (raw inputs)")
        self.assertEqual(learned["n"], 1000)
        self.assertGreater(learned["mean"] - learned["ci95"], raw["mean"] + raw["ci95"])
        # Unseen digits 5-9: 1000 episodes with and without refinement, beside raw pixels. With
        # five meta-train digits the encoder does not transfer (README, "Digits"): reported, not
        # asserted better.
        novel = self.evaluate("novel", "--checkpoint", self.checkpoint, "--shots", 5, "--head-tasks", 1)
        self.assertEqual(novel["split"], "test")
        methods = [row["method"] for row in novel["accuracy"]]
        self.assertEqual(methods[:4], ["protonet", "protonet + refinement", "identity encoder (raw inputs)",
                                       "identity encoder + refinement"])
        # The linear baselines, their settings chosen on validation episodes (here: unseen images
        # of the train digits, as this task set has no validation classes).
        self.assertRegex(methods[4], r"^PCA of the train split \(m = \d+\)$")
        self.assertRegex(methods[6], r"^shrinkage LDA \(lambda = [0-9.]+\)$")
        self.assertEqual(novel["baseline_selection"], "500 5-way episodes of the validation split")
        self.assertEqual(len(methods), 8)
        with open(os.path.join(self.path("novel"), "episodes.csv")) as f:
            table = list(csv.reader(f))
        self.assertEqual(table[0], ["episode"] + methods)
        self.assertEqual(len(table), 1001)
        for row in novel["accuracy"]:
            self.assertEqual(row["n"], 1000)
            self.assertTrue(0.2 < row["mean"] <= 1.0 and 0.0 < row["ci95"] < 0.02, row)
            column = [float(r[1 + methods.index(row["method"])]) for r in table[1:]]
            self.assertAlmostEqual(np.mean(column), row["mean"], delta=1e-12)
        self.assertGreater(accuracy(novel, "identity encoder (raw inputs)")["mean"], 0.8)


class Warped(Workspace):
    """The warped family: every task's clusters pushed through one smooth deformation."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tasks = cls.path("warped.h5")
        run("generate", "--family", "warped", "--dim", 2, "--warp", 0.9, "--box", 4, "--scale", 0.8, "--components", 4,
            "--tasks", 400, "--points", "100:200", "--seed", 0, "--out", cls.tasks)
        cls.checkpoint = cls.path("run/checkpoint-000000001500.h5")
        run_ranks(2, "train", "--algo", "protonet", "--tasks", cls.tasks, "--run-dir", cls.path("run"), "--steps", 1500,
                  "--meta-batch", 8, "--ways", 3, "--shots", 5, "--queries", 10, "--encoder-widths", "64,2",
                  "--validate-every", 0)

    def test_embedding_clusters_new_tasks_better_than_raw_points(self):
        out = self.path("eval")
        results = self.evaluate("eval", "--checkpoint", self.checkpoint, "--ways", 3, "--shots", 5, "--queries", 10,
                                "--episodes", 1000, "--head-tasks", 40)
        embedded, raw = clustering(results, "embedded_kmeans++"), clustering(results, "raw_kmeans++")
        self.assertEqual(embedded["n"], raw["n"])
        self.assertGreater(embedded["n"], 30)
        # Measured 0.61 against 0.50; other family seeds gave margins of 0.06 to 0.11.
        self.assertGreater(embedded["mean"], raw["mean"] + 0.03)
        learned, identity = accuracy(results, "protonet"), accuracy(results, "identity encoder (raw inputs)")
        self.assertGreater(learned["mean"], identity["mean"])
        # The index recomputed by scikit-learn from the written assignments.
        with open(os.path.join(out, "assignments.csv")) as f:
            rows = list(csv.DictReader(f))
        by_task = {}
        for row in rows:
            by_task.setdefault(row["task"], []).append(row)
        self.assertEqual(len(by_task), embedded["n"])
        for method, summary in (("embedded_kmeans++", embedded), ("raw_kmeans++", raw)):
            scores = [adjusted_rand_score([r["label"] for r in task], [r[method] for r in task])
                      for task in by_task.values()]
            self.assertAlmostEqual(np.mean(scores), summary["mean"], places=12)


    def test_fit_in_the_embedding(self):
        """metagmm fit --encoder: the GMM head on one new task, with its assignments."""
        with h5py.File(self.tasks) as f:
            task = int(np.nonzero(f["task_split"][()] == 2)[0][0])
            offsets = f["task_offsets"][()]
            labels = f["labels"][offsets[task]:offsets[task + 1]]
        data = f"{self.tasks}:{task}"
        out = self.path("fit.h5")
        report = run("fit", "--data", data, "--encoder", self.checkpoint, "--init", "kmeans++", "--components",
                     len(set(labels)), "--covariance", "diag", "--out", out).stdout
        self.assertIn("embedded by", report)
        with h5py.File(out) as f:
            self.assertEqual(f["means"].shape, (len(set(labels)), 2))  # in the 2-d embedding
            assignments = f["assignments"][()]
        printed = float(next(line for line in report.splitlines() if line.startswith("ari")).split()[1])
        self.assertAlmostEqual(printed, adjusted_rand_score(labels, assignments), places=4)
        # From the prototypes of the labelled points: K is their number of classes.
        report = run("fit", "--data", data, "--encoder", self.checkpoint, "--init", "prototypes", "--covariance", "diag",
                     "--out", self.path("fit_prototypes.h5")).stdout
        self.assertIn(f"{len(set(labels))} components, diag covariance, init prototypes", report)


class IdentityStart(Workspace):
    """Digits 0-2 meta-train, 3-4 validation (classes of their own), 5-9 test: the identity start
    and the checkpoint of best validation score."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.import_digits("0-2:3-4:5-9")
        cls.run_dir = cls.path("run")
        cls.output = run_ranks(2, "train", "--algo", "protonet", "--tasks", cls.tasks, "--run-dir", cls.run_dir,
                               "--encoder-start", "identity", "--encoder-widths", "32,64", "--steps", 60,
                               "--meta-batch", 4, "--ways", 3, "--shots", 5, "--queries", 10, "--validate-every", 10,
                               "--keep-best", "yes", "--checkpoint-every", 20)

    def test_validation_holds_only_its_own_classes(self):
        with h5py.File(self.tasks) as f:
            offsets, labels = f["task_offsets"][()], f["labels"][()]
        self.assertEqual(set(labels[offsets[1]:offsets[2]]), {3, 4})  # no images of 0-2 held out

    def test_start_and_standardisation_are_stored(self):
        pixels = np.loadtxt(DIGITS, delimiter=",")
        train = pixels[pixels[:, 64] <= 2, :64]
        with h5py.File(os.path.join(self.run_dir, "checkpoint-000000000020.h5")) as f:
            encoder = f["encoder"]
            self.assertEqual(encoder.attrs["residual"], 1)
            np.testing.assert_allclose(encoder["input_offset"][()], train.mean(axis=0), rtol=1e-12)
            spread = train.std(axis=0)
            np.testing.assert_allclose(encoder["input_scale"][()], np.where(spread > 0, spread, 1.0), rtol=1e-10)
            # A power of two near sqrt(8 / d) / the pixels' root-mean-square deviation.
            scale = encoder.attrs["skip_scale"]
            rms = np.sqrt(np.mean(np.where(spread > 0, spread, 1.0) ** 2))
            self.assertEqual(scale, 2.0 ** round(np.log2(np.sqrt(8 / 64) / rms)))

    def test_best_checkpoint_is_the_best_validated_step(self):
        with open(os.path.join(self.run_dir, "metrics.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        validated = [(r["validation_loglik"], r["step"]) for r in rows if r["validation_loglik"] is not None]
        self.assertEqual(len(validated), 6)
        printed = re.search(r"best validation score (\S+) at step (\d+)", self.output.stdout)
        score, step = float(printed.group(1)), int(printed.group(2))
        with h5py.File(os.path.join(self.run_dir, "best.h5")) as f:
            self.assertEqual(f.attrs["step"], step)
            weights = f["encoder/layer_2/weights"][()]
        if step == 0:  # the start beat every validated step (ties go to the earlier step)
            self.assertGreaterEqual(score, max(v for v, _ in validated))
            self.assertFalse(weights.any())  # g's last layer still at zero: the identity start
        else:
            best_score, best_step = max(validated, key=lambda v: (v[0], -v[1]))  # the first of equal scores
            self.assertEqual((score, step), (best_score, best_step))
        # The best checkpoint is never taken for resuming, nor pruned.
        names = sorted(os.listdir(self.run_dir))
        self.assertIn("best.h5", names)
        self.assertEqual([n for n in names if n.startswith("checkpoint-")],
                         [f"checkpoint-0000000000{s}.h5" for s in (20, 40, 60)])

    def test_the_start_is_best_when_no_step_improves_on_it(self):
        # Adam steps of 0.3 per weight ruin the embedding at once: best.h5 is the start itself.
        run_dir = self.path("ruined")
        output = run("train", "--algo", "protonet", "--tasks", self.tasks, "--run-dir", run_dir, "--encoder-start",
                     "identity", "--encoder-widths", "32,64", "--steps", 20, "--ways", 3, "--queries", 10,
                     "--outer", "adam", "--outer-lr", 0.3, "--validate-every", 10, "--keep-best", "yes").stdout
        self.assertIn("at step 0 (the start: no step improved on it)", output)
        with h5py.File(os.path.join(run_dir, "best.h5")) as f:
            self.assertEqual(f.attrs["step"], 0)
            self.assertFalse(f["encoder/layer_2/weights"][()].any())
        results = self.evaluate("ruined_eval", "--checkpoint", os.path.join(run_dir, "best.h5"), "--shots", 5,
                                "--episodes", 300, "--head-tasks", 0, "--linear-baselines", "no")
        self.assertEqual(accuracy(results, "protonet")["mean"],
                         accuracy(results, "identity encoder (raw inputs)")["mean"])

    def test_best_checkpoint_is_the_same_after_a_stop_and_resume(self):
        # The same run in two pieces (one rank, then a resume to 60 steps): best.h5 holds the same
        # step and the same weights, bit for bit, as the 2-rank run in one piece.
        run_dir = self.path("pieces")
        options = ["--algo", "protonet", "--tasks", self.tasks, "--run-dir", run_dir, "--encoder-start", "identity",
                   "--encoder-widths", "32,64", "--meta-batch", 4, "--ways", 3, "--shots", 5, "--queries", 10,
                   "--validate-every", 10, "--keep-best", "yes", "--checkpoint-every", 20]
        run("train", *options, "--steps", 30)
        run("train", "--run-dir", run_dir, "--resume", "auto", "--steps", 60)
        with h5py.File(os.path.join(run_dir, "best.h5")) as a, h5py.File(os.path.join(self.run_dir, "best.h5")) as b:
            self.assertEqual(a.attrs["step"], b.attrs["step"])
            self.assertTrue(np.array_equal(a["encoder/parameters"][()], b["encoder/parameters"][()]))

    def test_the_untrained_identity_start_scores_as_raw_pixels(self):
        run_dir = self.path("zero")
        run("train", "--algo", "protonet", "--tasks", self.tasks, "--run-dir", run_dir, "--encoder-start",
            "identity", "--encoder-widths", "32,64", "--steps", 1, "--ways", 3, "--queries", 10,
            "--outer-lr", 1e-300)  # one step that moves nothing: the start itself
        results = self.evaluate("zero_eval", "--checkpoint", os.path.join(run_dir, "checkpoint-000000000001.h5"),
                                "--shots", 5, "--episodes", 300, "--head-tasks", 0)
        self.assertEqual(accuracy(results, "protonet")["mean"],
                         accuracy(results, "identity encoder (raw inputs)")["mean"])


class LinearBaselines(RefusalChecks, Workspace):
    """eval's PCA and shrinkage-LDA rows on digits 0-2 / 3-4 / 5-9, settings given or chosen."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.import_digits("0-2:3-4:5-9")
        run("train", "--algo", "protonet", "--tasks", cls.tasks, "--run-dir", cls.path("run"), "--steps", 5,
            "--ways", 3, "--queries", 5)
        cls.checkpoint = cls.path("run/checkpoint-000000000005.h5")

    def test_chosen_on_the_validation_classes(self):
        results = self.evaluate("chosen", "--checkpoint", self.checkpoint, "--shots", 5, "--episodes", 200,
                                "--head-tasks", 0, "--baseline-episodes", 100)
        self.assertEqual(results["baseline_selection"], "100 2-way episodes of the validation split")
        methods = [row["method"] for row in results["accuracy"]]
        m = int(methods[4].split("m = ")[1].rstrip(")"))
        self.assertIn(m, [2, 4, 8, 16, 32, 64])
        lam = float(methods[6].split("lambda = ")[1].rstrip(")"))
        self.assertIn(lam, [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])

    def test_given_settings_and_the_raw_metric_at_full_shrinkage(self):
        results = self.evaluate("given", "--checkpoint", self.checkpoint, "--shots", 5, "--episodes", 200,
                                "--head-tasks", 0, "--pca-components", 8, "--lda-shrinkage", 1)
        self.assertEqual(results["baseline_selection"], "")
        rows = {row["method"]: row for row in results["accuracy"]}
        self.assertIn("PCA of the train split (m = 8)", rows)
        # lambda = 1 is the identity metric up to scale: prototypes classify as on raw pixels, but
        # for near-ties that the eigensolver's rounding (~1e-16 off the diagonal) may flip: a
        # query or two of 15 000.
        self.assertAlmostEqual(rows["shrinkage LDA (lambda = 1)"]["mean"],
                               rows["identity encoder (raw inputs)"]["mean"], delta=2 / 15000)
        self.assertNotEqual(rows["PCA of the train split (m = 8)"]["mean"],
                            rows["identity encoder (raw inputs)"]["mean"])

    def test_bad_settings(self):
        self.refused("eval", "--checkpoint", self.checkpoint, "--pca-components", 65, "--out", self.path("b1"),
                     expect="--pca-components")
        self.refused("eval", "--checkpoint", self.checkpoint, "--lda-shrinkage", 1.5, "--out", self.path("b2"),
                     expect="--lda-shrinkage")
        self.refused("eval", "--checkpoint", self.checkpoint, "--linear-baselines", "maybe", "--out", self.path("b3"),
                     expect="--linear-baselines")
        self.assertFalse(any(os.path.exists(self.path(f"b{i}")) for i in (1, 2, 3)))


class BadInput(RefusalChecks, Workspace):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.csv = cls.path("points.csv")
        with open(cls.csv, "w") as f:
            for i in range(60):
                f.write(f"{i % 7}.5,{i % 3}.25,{i % 6}\n")

    def test_class_split_errors(self):
        out = self.path("split.h5")
        for split, expect in (("0-2:3:2-5", "class 2 is listed twice"), ("0-2:5", "TRAIN:VALIDATION:TEST"),
                              ("0-x::3", "expected class lists"), ("0-2::9", "class 9, which has no rows")):
            self.refused("import", "--csv", self.csv, "--label-column", 2, "--class-split", split, "--out", out,
                         expect=expect)
        self.refused("import", "--csv", self.csv, "--class-split", "0-2::3-5", "--out", out, expect="--label-column")
        self.refused("import", "--csv", self.csv, "--label-column", 2, "--class-split", "0-2::3-5",
                     "--validation-fraction", 1.5, "--out", out, expect="--validation-fraction")
        self.assertFalse(os.path.exists(out))
        run("import", "--csv", self.csv, "--label-column", 2, "--class-split", "0-2:3:4", "--out", out)
        with h5py.File(out) as f:
            self.assertEqual(list(f["task_split"][()]), [0, 1, 2])
            self.assertEqual(f["task_offsets"][-1], 50)  # class 5 left out

    def test_train_and_eval_errors(self):
        tasks = self.path("labelled.h5")
        run("import", "--csv", self.csv, "--label-column", 2, "--class-split", "0-1:2-3:4-5", "--validation-fraction", 0,
            "--out", tasks)
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r1"), "--refine-steps", 1,
                     expect="--unlabelled")
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r2"),
                     "--encoder-widths", "8,0", expect="--encoder-widths")
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r3"), "--ways", 1,
                     expect="--ways")
        # The identity start needs the last width equal to d = 2; a best checkpoint needs
        # validation classes of its own.
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r6"),
                     "--encoder-start", "identity", "--encoder-widths", "8,3", expect="--encoder-widths")
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r7"),
                     "--encoder-start", "zero", expect="--encoder-start")
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r8"),
                     "--anchor-decay", -1, expect="anchor-decay")
        images = self.path("images.h5")  # validation = unseen rows of the training classes
        run("import", "--csv", self.csv, "--label-column", 2, "--class-split", "0-2::3-5", "--out", images)
        self.refused("train", "--algo", "protonet", "--tasks", images, "--run-dir", self.path("r9"),
                     "--ways", 2, "--keep-best", "yes", expect="shares 3 class(es) with the train split")
        no_validation = self.path("no_validation.h5")
        run("import", "--csv", self.csv, "--label-column", 2, "--class-split", "0-2::3-5", "--validation-fraction", 0,
            "--out", no_validation)
        self.refused("train", "--algo", "protonet", "--tasks", no_validation, "--run-dir", self.path("r10"),
                     "--ways", 2, "--keep-best", "yes", expect="has no labelled classes")
        unlabelled = self.path("unlabelled.h5")
        run("import", "--csv", self.csv, "--out", unlabelled)
        self.refused("train", "--algo", "protonet", "--tasks", unlabelled, "--run-dir", self.path("r4"),
                     expect="labelled points")
        # Too many ways for the tasks: refused before the first step, naming the options.
        self.refused("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("r5"), "--ways", 3,
                     expect="3 classes of at least")
        # eval: a mixture checkpoint beside a protonet one, a missing checkpoint, a task set of another
        # dimension.
        run("train", "--tasks", tasks, "--run-dir", self.path("reptile"), "--steps", 2, "--support", 3,
            "--components", 2)
        reptile = self.path("reptile/checkpoint-000000000002.h5")
        self.refused("eval", "--checkpoint", self.path("none.h5"), "--out", self.path("e2"), expect="none.h5")
        run("train", "--algo", "protonet", "--tasks", tasks, "--run-dir", self.path("proto"), "--steps", 2,
            "--ways", 2, "--queries", 2)
        proto = self.path("proto/checkpoint-000000000002.h5")
        self.refused("eval", "--checkpoint", proto, reptile, "--tasks", tasks, "--out", self.path("e1"),
                     expect="evaluate ProtoNet and mixture checkpoints apart")
        other = self.path("other.h5")
        run("generate", "--dim", 3, "--tasks", 10, "--out", other)
        self.refused("eval", "--checkpoint", proto, "--tasks", other, "--out", self.path("e3"),
                     expect="takes 2 inputs")
        self.refused("eval", "--checkpoint", proto, "--out", self.path("e4"), "--episodes", 0, expect="--episodes")
        self.assertFalse(os.path.exists(self.path("e4")))
        # fit --encoder: a checkpoint without an encoder, another dimension; prototypes need labels.
        self.refused("fit", "--data", tasks, "--components", 2, "--encoder", reptile, "--out", self.path("f1.h5"),
                     expect="has no encoder")
        self.refused("fit", "--data", other, "--components", 2, "--encoder", proto, "--out", self.path("f2.h5"),
                     expect="takes 2 inputs")
        self.refused("fit", "--data", unlabelled, "--init", "prototypes", "--out", self.path("f3.h5"),
                     expect="no labelled points")
        self.assertFalse(any(os.path.exists(self.path(f"f{i}.h5")) for i in (1, 2, 3)))
        self.assertFalse(os.path.exists(os.path.join(self.path("e3"), "eval.json")))
        # A good run, on the checkpoint's own training tasks (no --tasks).
        results = self.evaluate("e5", "--checkpoint", proto, "--ways", 2, "--queries", 2, "--unlabelled", 1,
                                "--episodes", 50, "--split", "test")
        self.assertEqual(len(results["accuracy"]), 8)


if __name__ == "__main__":
    unittest.main()
