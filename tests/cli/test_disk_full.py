#!/usr/bin/python3
"""A full disk for every writing command (train, fit, generate, import, eval): a small tmpfs
mounted by the test (it needs root, as CI is), filled to leave a few kilobytes free. Each run
ends with exit status 1 (not a signal and not "bad input"), one line saying the disk is full and
naming the file, no temporary and no partial set of outputs; a training's last checkpoint stays
intact, and resuming it elsewhere ends bit-identical to a run the disk never stopped.

Run by ctest with METAGMM pointing at the binary; needs Debian's python3-h5py.
"""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

from support import METAGMM, checkpoint_content, run_checked

SIZE_KB = 512
FREE_LEVELS = (2_000, 12_000, 40_000, 100_000)  # bytes left free: before, during and after the first writes


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class DiskFull(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="metagmm_diskfull_")
        cls.small = os.path.join(cls.work, "small")
        os.mkdir(cls.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs", cls.small], check=True)
        cls.tasks = os.path.join(cls.work, "tasks.h5")
        run_checked([METAGMM, "generate", "--out", cls.tasks, "--tasks", 60, "--points", "40:60", "--seed", 5])
        cls.csv = os.path.join(cls.work, "points.csv")
        with open(cls.csv, "w") as handle:
            handle.write("task,x,y\n")
            for i in range(3000):
                handle.write(f"{i // 100},{(i * 37 % 101) / 7.0},{(i * 53 % 89) / 3.0}\n")

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["umount", cls.small], check=False)
        shutil.rmtree(cls.work, ignore_errors=True)

    def fill(self, free):
        """Empties the small disk, then fills it to leave `free` bytes."""
        for name in os.listdir(self.small):
            path = os.path.join(self.small, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        available = shutil.disk_usage(self.small).free
        with open(os.path.join(self.small, "filler"), "wb") as handle:
            handle.write(b"\0" * max(available - free, 0))

    def small_files(self):
        found = []
        for root, _, files in os.walk(self.small):
            found += [os.path.relpath(os.path.join(root, f), self.small) for f in files]
        return sorted(f for f in found if f != "filler")

    def expect_disk_full(self, args):
        """Runs `args`; returns True if it failed for the full disk (False: it fitted and succeeded)."""
        result = run_checked([METAGMM, *args], check=False, timeout=300)
        if result.returncode == 0:
            return False
        if args[0] == "generate" and result.returncode == 2:  # refused before writing: it knows its size
            self.assertIn("the task set would need", result.stderr)
            self.assertEqual(self.small_files(), [])
            return False
        self.assertEqual(result.returncode, 1, f"{args}: status {result.returncode}\n{result.stderr}")
        last = result.stderr.strip().splitlines()[-1]
        self.assertIn("disk full", last)
        self.assertIn(self.small, last)
        self.assertNotIn(".tmp.", last)
        self.assertEqual([f for f in self.small_files() if ".tmp." in f], [], f"{args}: a temporary was left")
        return True

    def each_level(self, args, levels=FREE_LEVELS):
        failures = 0
        for free in levels:
            with self.subTest(free=free):
                self.fill(free)
                if self.expect_disk_full(args):
                    failures += 1
                    self.assertEqual(self.small_files(), [], f"{args}: outputs left")
        self.assertGreater(failures, 0, f"{args}: never ran out of space")

    def test_fit_writes_both_outputs_or_neither(self):
        out = os.path.join(self.small, "model.h5")
        self.each_level(["fit", "--data", f"{self.tasks}:0", "--components", 3, "--out", out])

    def test_generate(self):
        # 25 tasks of 100 points: estimated at 50 kB before writing (less room is refused with exit
        # status 2), 73 kB once written with the true mixtures.
        self.each_level(["generate", "--out", os.path.join(self.small, "g.h5"), "--tasks", 25, "--points", "100:100"],
                        levels=(2_000, 60_000))

    def test_import(self):
        self.each_level(["import", "--csv", self.csv, "--task-column", "task", "--out",
                         os.path.join(self.small, "i.h5")])

    def test_eval_leaves_no_directory(self):
        run = os.path.join(self.work, "eval_run")
        run_checked([METAGMM, "train", "--tasks", self.tasks, "--run-dir", run, "--steps", 5])
        checkpoint = sorted(glob.glob(os.path.join(run, "checkpoint-*.h5")))[-1]
        self.each_level(["eval", "--checkpoint", checkpoint, "--tasks", self.tasks, "--steps", 2,
                         "--out", os.path.join(self.small, "ev")])

    def test_training_keeps_its_last_checkpoint_and_resumes_bit_identical(self):
        common = ["--tasks", self.tasks, "--steps", 60, "--checkpoint-every", 10, "--keep", 2, "--seed", 4]
        reference = os.path.join(self.work, "reference")
        run_checked([METAGMM, "train", *common, "--run-dir", reference])
        final = "checkpoint-000000000060.h5"
        stopped = 0
        for free in (30_000, 60_000, 120_000):
            with self.subTest(free=free):
                self.fill(free)
                run = os.path.join(self.small, "run")
                if not self.expect_disk_full(["train", *common, "--run-dir", run]):
                    continue
                stopped += 1
                with open(os.path.join(run, "metrics.jsonl")) as handle:
                    text = handle.read()
                self.assertTrue(text == "" or text.endswith("\n"), "metrics.jsonl ends mid-line")
                moved = os.path.join(self.work, f"moved_{free}")
                shutil.rmtree(moved, ignore_errors=True)
                shutil.copytree(run, moved)
                run_checked([METAGMM, "train", *common, "--run-dir", moved, "--resume", "auto"])
                self.assertEqual(checkpoint_content(os.path.join(moved, final)),
                                 checkpoint_content(os.path.join(reference, final)))
        self.assertGreater(stopped, 0, "the disk never filled up")


if __name__ == "__main__":
    unittest.main()
