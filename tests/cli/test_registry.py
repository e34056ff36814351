"""Every command with an algorithm that only the registry knows: tests/toy registers
"toy-fomaml" and runs the unchanged command line (METAGMM_TOY). It trains, stops and resumes
bit for bit, is inspected, fitted from and evaluated; its settings are options and typed
checkpoint attributes. The plain binary refuses its checkpoints clearly where it must rebuild the
algorithm, and reads them where it need not."""
import os
import unittest

import h5py

from support import RefusalChecks, SharedDirectory, checkpoint_content, metagmm, run_checked

TOY = os.environ["METAGMM_TOY"]


def toy(*args, check=True):
    return run_checked([TOY, *args], check=check, timeout=600)


class ToyAlgorithm(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm_registry_")
        cls.tasks = cls.path("tasks.h5")
        toy("generate", "--dim", 2, "--components", 3, "--tasks", 40, "--points", "30:40", "--seed", 2,
            "--out", cls.tasks)
        cls.common = ["--algo", "toy-fomaml", "--toy-steps", 3, "--tasks", cls.tasks, "--components", 3,
                      "--support", 10, "--meta-batch", 4, "--validate-every", 0, "--checkpoint-every", 2]

    def checkpoint(self, run, step):
        return os.path.join(self.path(run), f"checkpoint-{step:012d}.h5")

    def test_help_lists_it_and_its_settings(self):
        out = " ".join(toy("train", "--help").stdout.split())  # --help wraps its lines
        self.assertIn("toy-fomaml (a test's first-order learner", out)
        self.assertIn("--toy-rate", out)
        self.assertIn("[toy-fomaml]", out)  # the setting says which algorithm uses it

    def test_trains_resumes_inspects_fits_and_evaluates(self):
        toy("train", *self.common, "--steps", 4, "--run-dir", self.path("straight"))
        toy("train", *self.common, "--steps", 2, "--run-dir", self.path("resumed"))
        toy("train", "--resume", "auto", "--steps", 4, "--run-dir", self.path("resumed"))
        whole, resumed = checkpoint_content(self.checkpoint("straight", 4)), checkpoint_content(self.checkpoint("resumed", 4))
        for key in ("model/parameters", "extra/log_unused_scale", "optimizer_steps"):
            key = key if "/" in key else "@" + key
            self.assertEqual(whole[key], resumed[key], key)
        with h5py.File(self.checkpoint("straight", 4)) as f:
            self.assertEqual(f.attrs["algorithm"], "toy-fomaml")
            self.assertEqual(f["settings"].attrs["toy-steps"], 3)
            self.assertEqual(f["settings"].attrs["toy-rate"], 0.05)
        out = toy("inspect", self.checkpoint("straight", 4)).stdout
        self.assertIn("algorithm   toy-fomaml, step 4", out)
        self.assertIn("extra       log_unused_scale [1]: unused_scale 1", out)
        fit = toy("fit", "--data", f"{self.tasks}:35", "--init", self.checkpoint("straight", 4), "--out",
                  self.path("fit.h5")).stdout
        self.assertIn("3 inner steps of toy-fomaml, as in training", fit)
        toy("eval", "--checkpoint", self.checkpoint("straight", 4), "--out", self.path("eval"), "--steps", 3,
            "--relevance", 16, "--max-tasks", 3)
        with open(os.path.join(self.path("eval"), "summary.csv")) as f:
            self.assertIn("toy-fomaml", f.read())
        # The plain program reads the file but cannot rebuild an algorithm it does not have.
        self.assertIn("algorithm   toy-fomaml", metagmm("inspect", self.checkpoint("straight", 4)).stdout)
        self.refused("fit", "--data", f"{self.tasks}:35", "--init", self.checkpoint("straight", 4), "--out",
                     self.path("plain.h5"), expect="which this program does not have")

    def test_settings_are_checked_as_options(self):
        refused = toy("train", *self.common, "--toy-rate", 0, "--run-dir", self.path("bad1"), check=False)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("--toy-rate: expected a number > 0", refused.stderr)
        refused = toy("train", "--algo", "reptile", "--toy-rate", 0.1, "--tasks", self.tasks, "--run-dir",
                      self.path("bad2"), check=False)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("--toy-rate: not a setting of --algo reptile (it is one of toy-fomaml)", refused.stderr)
        self.assertFalse(os.path.exists(self.path("bad2")))


if __name__ == "__main__":
    unittest.main()
