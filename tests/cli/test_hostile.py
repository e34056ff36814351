#!/usr/bin/python3
"""Hostile input: HDF5 files damaged so that the HDF5 library itself would crash or exhaust
memory reading them, stray arguments, options past what memory and time allow. Each is refused
with one line naming the file or option, exit status 2, no signal, and nothing created.

Run by ctest with METAGMM pointing at the binary; needs Debian's python3-h5py.
"""
import glob
import os
import shutil
import tempfile
import unittest

import h5py

from support import METAGMM, read_bytes, run_checked

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
CRASHING = sorted(glob.glob(os.path.join(FIXTURES, "crashing-h5", "*.h5")))


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="metagmm_hostile_")
        cls.tasks = os.path.join(cls.dir, "tasks.h5")
        run_checked([METAGMM, "generate", "--out", cls.tasks, "--tasks", 12, "--points", "30:40", "--seed", 2])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def expect_refused(self, args, phrase):
        """Exit status 2 (not a signal), one line containing `phrase`, the directory unchanged."""
        listing = {name: read_bytes(self.path(name)) for name in os.listdir(self.dir)
                   if os.path.isfile(self.path(name))}
        dirs = sorted(os.listdir(self.dir))
        result = run_checked([METAGMM, *args], check=False, timeout=60)
        self.assertEqual(result.returncode, 2, f"{args}: status {result.returncode}\n{result.stderr}")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{args}: expected one line, got:\n{result.stderr}")
        self.assertIn(phrase, lines[0])
        self.assertTrue(lines[0].isascii() and lines[0].isprintable(), lines[0])
        self.assertEqual(sorted(os.listdir(self.dir)), dirs, f"{args}: files appeared or vanished")
        for name, content in listing.items():
            self.assertEqual(read_bytes(self.path(name)), content, f"{args}: {name} was modified")

    def test_the_crashing_fixtures_are_refused_by_every_reader(self):
        self.assertEqual(len(CRASHING), 8)
        out = self.path("out.h5")
        for fixture in CRASHING:
            name = os.path.basename(fixture)
            with self.subTest(name):
                self.expect_refused(["inspect", fixture], name)
                if "checkpoint" in name:
                    self.expect_refused(["fit", "--init", fixture, "--data", f"{self.tasks}:0", "--out", out], name)
                    self.expect_refused(["train", "--tasks", self.tasks, "--run-dir", self.path("run"),
                                         "--resume", fixture], name)
                else:
                    self.expect_refused(["fit", "--data", f"{fixture}:0", "--components", 2, "--out", out], name)
                    self.expect_refused(["train", "--tasks", fixture, "--run-dir", self.path("run"), "--steps", 2], name)

    def test_a_huge_declared_shape_is_refused_before_it_is_read(self):
        fixture = [f for f in CRASHING if "00688" in f][0]
        self.expect_refused(["inspect", fixture], "declares shape [8589934597]")

    def test_stray_positional_arguments(self):
        run = self.path("run")
        out = self.path("out.h5")
        cases = [
            ["train", "--tasks", self.tasks, "--run-dir", run, "--steps", 3, 200],
            ["fit", "--data", f"{self.tasks}:0", "--components", 2, "--out", out, "extra"],
            ["generate", "--out", out, "--tasks", 5, "7"],
            ["eval", "--tasks", self.tasks, "--out", self.path("ev"), "--steps", 3, "x"],
            ["import", "--csv", self.tasks, "--out", out, "y"],
        ]
        for args in cases:
            with self.subTest(args[0]):
                self.expect_refused(args, "unexpected argument")

    def test_options_past_their_limits(self):
        run = self.path("run")
        self.expect_refused(["train", "--tasks", self.tasks, "--run-dir", run, "--components", 100000],
                            "--components 100000: more than the 20 support points")
        self.expect_refused(["train", "--tasks", self.tasks, "--run-dir", run, "--support", "all",
                             "--components", 41], "its smallest training task")
        self.expect_refused(["train", "--tasks", self.tasks, "--run-dir", run, "--meta-batch", 10 ** 12],
                            "--meta-batch 1000000000000: expected an integer from 1 to")
        self.expect_refused(["generate", "--out", self.path("big.h5"), "--tasks", 99999999999999],
                            "--tasks 99999999999999: the task set would need")

    def test_a_refused_training_leaves_no_run_directory(self):
        # Refused after the options were read: no training episode holds 5 classes here.
        self.expect_refused(["train", "--tasks", self.tasks, "--run-dir", self.path("run"), "--algo", "protonet"],
                            "no train task found")

    def test_bad_data_specifications(self):
        out = self.path("out.h5")
        self.expect_refused(["fit", "--data", f"{self.tasks}:-1", "--components", 2, "--out", out],
                            "task -1 does not exist")
        damaged = self.path("damaged.h5")
        content = bytearray(read_bytes(self.tasks))
        content[1:4] = b"XXX"
        with open(damaged, "wb") as handle:
            handle.write(content)
        self.expect_refused(["fit", "--data", f"{damaged}:0", "--components", 2, "--out", out],
                            "damaged.h5 is not an HDF5 file")
        folder = self.path("folder.csv")
        os.mkdir(folder)
        try:
            self.expect_refused(["import", "--csv", folder, "--out", out], "folder.csv: not a regular file")
        finally:
            os.rmdir(folder)
        os.remove(damaged)

    def test_an_edited_view_of_a_model_is_detected(self):
        run_dir = self.path("views")
        model = self.path("views.h5")
        try:
            run_checked([METAGMM, "train", "--tasks", self.tasks, "--run-dir", run_dir, "--steps", 2])
            checkpoint = os.path.join(run_dir, "checkpoint-000000000002.h5")
            run_checked([METAGMM, "fit", "--data", f"{self.tasks}:0", "--components", 2, "--out", model])
            for path, group in ((checkpoint, "model/"), (model, "")):
                with h5py.File(path, "r+") as f:
                    f[group + "means"][0, 0] += 0.5
                self.expect_refused(["inspect", path], "dataset means disagrees with dataset parameters")
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            for path in (model, self.path("views.assignments.csv")):
                if os.path.exists(path):
                    os.remove(path)

    def test_csv_import_follows_rfc_4180(self):
        # A byte-order mark before the header, CRLF line ends, quoted fields holding the
        # delimiter, doubled quotes and a line break.
        source = self.path("quoted.csv")
        with open(source, "wb") as handle:
            handle.write(b'\xef\xbb\xbfname,x,y\r\n"Smith, J",1.5,2\r\n"Smith, J",2.5,3\r\n'
                         b'"O""Neil\nJr",4,5\r\n"O""Neil\nJr",6,"7"\r\n')
        out = self.path("quoted.h5")
        try:
            run_checked([METAGMM, "import", "--csv", source, "--task-column", "name", "--out", out])
            with h5py.File(out) as f:
                self.assertEqual(list(f["task_offsets"][()]), [0, 2, 4])
                self.assertEqual(f["points"][()].tolist(), [[1.5, 2], [2.5, 3], [4, 5], [6, 7]])
                self.assertIn("columns = x y", f.attrs["settings"])
            with open(source, "wb") as handle:
                handle.write(b'a,b\n1,"2\n3,4\n')
            self.expect_refused(["import", "--csv", source, "--out", self.path("o.h5")],
                                "quoted.csv: line 2: a quoted field is not closed")
            with open(source, "wb") as handle:
                handle.write(b'a,b\n1,"2"x\n')
            self.expect_refused(["import", "--csv", source, "--out", self.path("o.h5")],
                                "quoted.csv: line 2: text after a closing quote")
        finally:
            for path in (source, out):
                if os.path.exists(path):
                    os.remove(path)

    def test_a_binary_config_file_is_not_echoed(self):
        config = self.path("binary.ini")
        with open(config, "wb") as handle:
            handle.write(b"\x7fELF\x02\x01\x01\x00\x00\x1b[31m\xff\xfe = 1\n")
        try:
            self.expect_refused(["fit", "--config", config, "--data", f"{self.tasks}:0", "--out", self.path("o.h5")],
                                "--config")
        finally:
            os.remove(config)


if __name__ == "__main__":
    unittest.main()
