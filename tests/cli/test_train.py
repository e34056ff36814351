#!/usr/bin/python3
"""metagmm train under mpirun, as a researcher runs it: bit-identical results for any number of
ranks and across stop-and-resume, clean stops on signals, checkpoints that survive kill -9 and
are checked on reading, and a failure on one rank ending the whole job. Checkpoints are read
with h5py, independently of our reader. The engine's tests run once per algorithm (the classes
made at the end of this file).

Run by ctest with METAGMM pointing at the binary and MPIRUN at mpirun.
"""
import glob
import json
import os
import pty
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import h5py
import numpy as np

from support import bits, checkpoint_content, read_bytes, run_checked

METAGMM = os.environ.get("METAGMM", "metagmm")
MPIRUN = os.environ.get("MPIRUN", "mpirun")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           # Oversubscribed ranks must yield the core instead of spinning in a collective.
           OMPI_MCA_mpi_yield_when_idle="1")
TIMEOUT = 300
# Checkpoints of format version 3, written by metagmm 0.2.0 (tests/fixtures/checkpoints-v3/make.sh).
# Whether this build compiles the code as the one that wrote them (tests/CMakeLists.txt).
EXACT_FIXTURES = os.environ.get("EXACT_FIXTURES", "1") == "1"
FIXTURE_ISA = "avx2"  # the kernel level that wrote them (their /isa attribute)
LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "checkpoints-v3")
# OpenMPI does not free everything it allocates (much of it in components it unloads at
# MPI_Finalize), so in the sanitizer build leak detection is off for ranks started by mpirun;
# every other check stays on, and runs without mpirun keep leak detection.
MPI_ENV = dict(ENV, ASAN_OPTIONS=ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0")


def command(args, ranks):
    args = [METAGMM, *map(str, args)]
    if ranks is None:
        return args
    return [MPIRUN, "--oversubscribe", "-np", str(ranks), *args]


def environment(ranks):
    return ENV if ranks is None else MPI_ENV


def run(args, ranks=None, check=True, env=None):
    return run_checked(command(args, ranks), check=check, timeout=TIMEOUT, env=env or environment(ranks))


def line_count(path):
    with open(path) as handle:
        return sum(1 for _ in handle)


def parameters_dataset(f):
    """The meta-parameters' flat vector: a mixture's, or protonet's encoder weights."""
    return "model/parameters" if "model" in f else "encoder/parameters"


def state(path):
    """What a resumed run must reproduce: model, optimiser state, step and losses."""
    with h5py.File(path, "r") as f:
        out = {k: bits(f[k][()]) for k in (parameters_dataset(f), "metrics/loss", "metrics/step")}
        for k in ("optimizer/first", "optimizer/second"):
            if k in f:
                out[k] = bits(f[k][()])
        for name in f["extra"]:  # learned step sizes, relevance factors, ...
            out["extra/" + name] = bits(f["extra"][name][()])
        out["step"] = int(f.attrs["step"])
        out["optimizer_steps"] = int(f.attrs["optimizer_steps"])
    return out


class Workspace(unittest.TestCase):
    # The algorithm under test: options selecting it, options that give it state of its own
    # to carry across a resume, and (covariance, options) pairs for the rank-invariance test.
    ALGO = []
    OWN_STATE = ["--inner", "adam", "--inner-lr", 0.05]
    VARIANTS = [("diag", ["--inner", "sgd"]), ("full", ["--inner", "adam"]), ("spherical", ["--inner", "em"]),
                ("diag", ["--inner", "map", "--relevance", "2:4:8"])]

    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="metagmm_train_")
        cls.tasks = os.path.join(cls.shared, "tasks.h5")
        subprocess.run([METAGMM, "generate", "--family", "anchored", "--tasks", "120", "--points", "30:60",
                        "--seed", "5", "--out", cls.tasks], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shared, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="metagmm_train_")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def train(self, run_dir, *extra, ranks=None, check=True, env=None):
        return run(["train", *self.ALGO, "--tasks", self.tasks, "--run-dir", self.path(run_dir), "--support", 10,
                    "--meta-batch", 7, "--validate-every", 4, "--validation-tasks", 5, *extra],
                   ranks=ranks, check=check, env=env)

    def checkpoint(self, run_dir, step):
        return os.path.join(self.path(run_dir), "checkpoint-%012d.h5" % step)


class RankCountInvariance(Workspace):
    def test_checkpoint_identical_for_1_2_3_4_ranks(self):
        for index, (covariance, variant) in enumerate(self.VARIANTS):
            with self.subTest(covariance=covariance, variant=variant):
                extra = ["--steps", 12, "--covariance", covariance, *variant, "--outer", "adam",
                         "--outer-lr", 0.05, "--components", 3]
                contents = []
                for ranks in (None, 2, 3, 4):
                    name = f"{index}-{covariance}-{ranks}"
                    self.train(name, *extra, ranks=ranks)
                    contents.append(checkpoint_content(self.checkpoint(name, 12)))
                for other in contents[1:]:
                    self.assertEqual(contents[0].keys(), other.keys())
                    for key in contents[0]:
                        self.assertTrue(np.array_equal(contents[0][key], other[key]), key)
                # The runs did train: the parameters moved away from the start.
                with h5py.File(self.checkpoint(f"{index}-{covariance}-None", 12)) as f:
                    self.assertEqual(f.attrs["step"], 12)
                    self.assertTrue(np.all(np.isfinite(f["metrics/loss"][()])))



class ReptileWeighting(Workspace):
    def test_distance_weighting_is_rank_invariant(self):
        extra = ["--steps", 8, "--weighting", "distance"]
        self.train("one", *extra)
        self.train("three", *extra, ranks=3)
        self.assertEqual(state(self.checkpoint("one", 8)), state(self.checkpoint("three", 8)))


class ResumeExactness(Workspace):
    def test_stop_and_resume_equals_straight_run(self):
        extra = ["--outer", "adam", "--outer-lr", 0.05, *self.OWN_STATE]
        self.train("straight", "--steps", 16, *extra)
        self.train("split", "--steps", 8, *extra)
        resumed = run(["train", "--run-dir", self.path("split"), "--resume", "auto", "--steps", 16])
        self.assertIn("resuming from", resumed.stdout)
        # Not a terminal: plain progress lines, the last one at the final step.
        self.assertIn("step 16/16  loss", resumed.stderr)
        self.assertNotIn("\r", resumed.stderr)
        self.assertEqual(state(self.checkpoint("straight", 16)), state(self.checkpoint("split", 16)))
        # metrics.jsonl holds one line per step, exactly as the straight run's.
        self.assertEqual(line_count(os.path.join(self.path("split"), "metrics.jsonl")), 16)

    def test_resume_from_another_directory_with_a_relative_tasks_path(self):
        self.train("run", "--steps", 4)
        # A requeued job may start elsewhere; the stored configuration names the task set by its
        # absolute path, and the same file spelled relatively is the same run.
        tasks_dir, tasks_name = os.path.split(self.tasks)
        subprocess.run([METAGMM, "train", "--run-dir", self.path("run"), "--resume", "auto", "--steps", "6"],
                       cwd=self.dir, check=True, capture_output=True, env=ENV)
        subprocess.run([METAGMM, "train", "--run-dir", self.path("run"), "--resume", "auto", "--steps", "8",
                        "--tasks", tasks_name], cwd=tasks_dir, check=True, capture_output=True, env=ENV)
        self.train("straight", "--steps", 8)
        self.assertEqual(state(self.checkpoint("run", 8)), state(self.checkpoint("straight", 8)))

    def test_resume_with_a_different_rank_count(self):
        self.train("straight", "--steps", 12, "--outer", "adam", "--outer-lr", 0.05, ranks=2)
        self.train("split", "--steps", 6, "--outer", "adam", "--outer-lr", 0.05, ranks=2)
        run(["train", "--run-dir", self.path("split"), "--resume", self.checkpoint("split", 6), "--steps", 12],
            ranks=3)
        self.assertEqual(state(self.checkpoint("straight", 12)), state(self.checkpoint("split", 12)))

    def test_resume_refuses_a_different_run(self):
        self.train("run", "--steps", 4)
        before = read_bytes(self.checkpoint("run", 4))
        for option, value in [("--seed", 9), ("--components", 5), ("--covariance", "full"), ("--meta-sgd", "parameter")]:
            result = run(["train", "--run-dir", self.path("run"), "--resume", "auto", "--steps", 8, option, value],
                         check=False)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(option[2:], result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertEqual(read_bytes(self.checkpoint("run", 4)), before)

    def test_resume_auto_without_a_checkpoint_starts_a_new_run(self):
        # A requeued batch job always passes --resume auto, also on its first start.
        result = self.train("run", "--steps", 4, "--resume", "auto")
        self.assertIn("starting a new run", result.stdout)
        self.train("straight", "--steps", 4)
        self.assertEqual(state(self.checkpoint("run", 4)), state(self.checkpoint("straight", 4)))

    def test_a_fresh_run_refuses_a_run_directory_with_checkpoints(self):
        self.train("run", "--steps", 4)
        result = self.train("run", "--steps", 4, check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--resume auto", result.stderr)


class Signals(Workspace):
    def wait_for_steps(self, run_dir, steps, process):
        metrics = os.path.join(self.path(run_dir), "metrics.jsonl")
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                self.fail(f"training ended early: {process.communicate()}")
            if os.path.exists(metrics) and line_count(metrics) >= steps:
                return
            time.sleep(0.05)
        self.fail("training did not start")

    def stop_and_resume(self, sig, ranks):
        name = f"stopped-{ranks}"
        args = ["train", *self.ALGO, *self.OWN_STATE, "--tasks", self.tasks, "--run-dir", self.path(name), "--support", 10, "--meta-batch", 7,
                "--steps", 100000000, "--checkpoint-every", 0, "--validate-every", 0, "--outer", "adam",
                "--outer-lr", 0.05]
        process = subprocess.Popen(command(args, ranks), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=environment(ranks))
        self.wait_for_steps(name, 20, process)
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
        checkpoints = glob.glob(os.path.join(self.path(name), "checkpoint-*.h5"))
        self.assertEqual(len(checkpoints), 1, err)
        with h5py.File(checkpoints[0]) as f:
            step = int(f.attrs["step"])
            # A checkpoint at a step boundary: one loss per step taken, no more.
            self.assertEqual(list(f["metrics/step"][()]), list(range(1, step + 1)))
        self.assertIn(f"after step {step}", out)
        # Resuming from it is exact.
        run(["train", "--run-dir", self.path(name), "--resume", "auto", "--steps", step + 3], ranks=ranks)
        run(["train", *self.ALGO, *self.OWN_STATE, "--tasks", self.tasks, "--run-dir", self.path(f"straight-{ranks}"),
             "--support", 10, "--meta-batch", 7, "--steps", step + 3, "--validate-every", 0, "--outer", "adam",
             "--outer-lr", 0.05])
        self.assertEqual(state(self.checkpoint(name, step + 3)), state(self.checkpoint(f"straight-{ranks}", step + 3)))
        return process.returncode

    def test_sigterm_without_mpirun(self):
        self.assertEqual(self.stop_and_resume(signal.SIGTERM, None), 3)

    def test_sigint_without_mpirun(self):
        self.assertEqual(self.stop_and_resume(signal.SIGINT, None), 3)

    def test_sigusr1_under_mpirun(self):
        # mpirun forwards SIGUSR1 to every rank; the ranks agree on the step and exit with 3.
        self.assertEqual(self.stop_and_resume(signal.SIGUSR1, 2), 3)

    def test_sigterm_to_mpirun_still_checkpoints(self):
        # mpirun turns SIGTERM into SIGTERM to the ranks (then reports its own status).
        self.assertNotEqual(self.stop_and_resume(signal.SIGTERM, 2), 0)


class DamagedCheckpoints(Workspace):
    def test_kill_during_a_save_keeps_the_previous_checkpoint(self):
        self.train("run", "--steps", 6)
        # Resume, and kill -9 while the step-12 checkpoint is being written (the test hook pauses
        # the save after its content is written, before the file is closed and renamed).
        env = dict(ENV, METAGMM_TEST_CHECKPOINT_DELAY="60")
        process = subprocess.Popen([METAGMM, "train", "--run-dir", self.path("run"), "--resume", "auto", "--steps", "12"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.time() + 60
        while not glob.glob(os.path.join(self.path("run"), ".checkpoint-000000000012.h5.tmp.*")):
            self.assertLess(time.time(), deadline, "the save never started")
            self.assertIsNone(process.poll())
            time.sleep(0.02)
        time.sleep(0.2)
        process.kill()
        process.communicate()
        self.assertEqual(sorted(os.listdir(self.path("run")))[-2:], ["checkpoint-000000000006.h5", "metrics.jsonl"])
        with h5py.File(self.checkpoint("run", 6)) as f:
            self.assertEqual(f.attrs["step"], 6)
        result = run(["train", "--run-dir", self.path("run"), "--resume", "auto", "--steps", 12])
        self.assertIn("checkpoint-000000000006.h5 at step 6", result.stdout)
        self.train("straight", "--steps", 12)
        self.assertEqual(state(self.checkpoint("run", 12)), state(self.checkpoint("straight", 12)))

    def test_a_kill_storm_during_saves_leaves_no_temporary_and_resumes_exactly(self):
        # Every save pauses 50 ms between writing and renaming; each launch is killed (-9) at a
        # random moment of its first pauses. Until 20 kills have hit a save in progress.
        target = 120
        args = ["--steps", target, "--checkpoint-every", 2, "--keep", 2]
        env = dict(ENV, METAGMM_TEST_CHECKPOINT_DELAY="0.05")
        random = __import__("random").Random(7)
        run_dir = self.path("storm")
        kills_during_saves = launches = 0
        while kills_during_saves < 20:
            launches += 1
            self.assertLess(launches, 200, "the kills never hit a save")
            resume = ["--resume", "auto"] if os.path.isdir(run_dir) else []
            argv = [METAGMM, "train", *self.ALGO, "--tasks", self.tasks, "--run-dir", run_dir, "--support", 10,
                    "--meta-batch", 7, "--validate-every", 4, "--validation-tasks", 5, *args, *resume]
            process = subprocess.Popen([str(a) for a in argv],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            deadline = time.time() + 60
            while not glob.glob(os.path.join(run_dir, ".checkpoint-*.tmp.*")) and process.poll() is None:
                self.assertLess(time.time(), deadline, "no save started")
                time.sleep(0.002)
            time.sleep(random.uniform(0.0, 0.12))
            saving = bool(glob.glob(os.path.join(run_dir, ".checkpoint-*.tmp.*")))
            process.kill()
            process.wait()
            kills_during_saves += saving
        self.train("storm", *args, "--resume", "auto")
        self.assertEqual([f for f in os.listdir(run_dir) if ".tmp." in f], [])
        self.train("straight", *args)
        self.assertEqual(state(self.checkpoint("storm", target)), state(self.checkpoint("straight", target)))

    def test_truncated_and_bit_flipped_checkpoints_are_detected(self):
        self.train("run", "--steps", 6, "--checkpoint-every", 3, *self.OWN_STATE)
        good = self.checkpoint("run", 6)
        data = read_bytes(good)
        # A newer checkpoint cut short, and one with one bit flipped inside the parameters.
        with open(self.checkpoint("run", 9), "wb") as f:
            f.write(data[: len(data) // 2])
        with h5py.File(good) as f:
            offset = f[parameters_dataset(f)].id.get_offset()
        flipped = bytearray(data)
        flipped[offset + 3] ^= 0x10
        with open(self.checkpoint("run", 8), "wb") as f:
            f.write(bytes(flipped))
        result = run(["train", "--run-dir", self.path("run"), "--resume", "auto", "--steps", 10])
        self.assertIn("skipping damaged checkpoint " + self.checkpoint("run", 9), result.stderr)
        self.assertIn("skipping damaged checkpoint " + self.checkpoint("run", 8), result.stderr)
        self.assertIn("checksum mismatch", result.stderr)
        self.assertIn("at step 6", result.stdout)
        # Named explicitly, a damaged checkpoint is refused with one line and status 2.
        with open(self.path("flipped.h5"), "wb") as f:
            f.write(bytes(flipped))
        result = run(["train", "--run-dir", self.path("other"), "--resume", self.path("flipped.h5")], check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("checksum mismatch", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)


class CheckpointVersions(Workspace):
    def test_a_newer_version_is_refused(self):
        # Older versions are read: tests/unit/registry_test.cpp and test_legacy_checkpoints below.
        self.train("run", "--steps", 4)
        with h5py.File(self.checkpoint("run", 4), "r+") as f:
            self.assertEqual(f.attrs["version"], 4)
            f.attrs["version"] = np.int64(5)
        result = run(["inspect", self.checkpoint("run", 4)], check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("checkpoint version 5 is not supported", result.stderr)

    def test_settings_are_typed_attributes(self):
        """h5py reads an algorithm's settings as typed values, and its extra blocks by name."""
        self.train("run", "--steps", 4, "--algo", "maml", "--inner", "map", "--relevance", "4:8:16", "--inner-steps", 3)
        with h5py.File(self.checkpoint("run", 4)) as f:
            settings = dict(f["settings"].attrs)
            self.assertEqual(settings["inner"], "map")
            self.assertEqual(settings["inner-steps"], 3)
            self.assertIsInstance(settings["inner-steps"], np.int64)
            self.assertEqual(settings["reg-covar"], 1e-6)
            self.assertIsInstance(settings["reg-covar"], np.float64)
            self.assertEqual(list(f["extra"]), ["log_relevance"])
            self.assertEqual(f["extra/log_relevance"].shape, (3,))
            self.assertNotIn("inner", f)

    def test_legacy_checkpoints(self):
        """Version 3 checkpoints (tests/fixtures/checkpoints-v3) are inspected, fitted from as the
        build that wrote them did, and evaluated."""
        with open(os.path.join(LEGACY, "expected.json")) as f:
            expected = json.load(f)
        tasks = os.path.join(LEGACY, "tasks.h5")
        for name in ("reptile", "metasgd", "map"):
            checkpoint = os.path.join(LEGACY, name + ".h5")
            out = run(["inspect", checkpoint]).stdout
            self.assertIn("version 3 (checksum verified)", out)
            # at the kernel level that wrote them (their provenance says avx2): on an AVX-512
            # processor the default level rounds the same sums otherwise
            run(["fit", "--data", f"{tasks}:20", "--init", checkpoint, "--adapt", "inner", "--out",
                 self.path(name + "-fit.h5")], env=dict(ENV, METAGMM_ISA=FIXTURE_ISA))
            with h5py.File(self.path(name + "-fit.h5")) as f:
                found = f.attrs["mean_log_likelihood"]
            if EXACT_FIXTURES:  # the build configuration that wrote them: bit for bit
                self.assertEqual(found, expected[name], name)
            else:  # instrumented or native: the same sums may round otherwise, a few ulps per step
                self.assertAlmostEqual(found, expected[name], delta=1e-12 * abs(expected[name]), msg=name)
        self.assertIn("extra       log_relevance [3]: relevance 4.001 8.002 16",
                      run(["inspect", os.path.join(LEGACY, "map.h5")]).stdout)
        self.assertIn("extra       log_step_sizes [3]",
                      run(["inspect", os.path.join(LEGACY, "metasgd.h5")]).stdout)
        run(["eval", "--checkpoint", os.path.join(LEGACY, "map.h5"), os.path.join(LEGACY, "reptile.h5"), "--tasks",
             tasks, "--out", self.path("legacy-eval"), "--steps", 2, "--relevance", 16, "--max-tasks", 2])
        self.assertTrue(os.path.exists(self.path("legacy-eval/summary.csv")))

    def test_protonet_checkpoint_layout(self):
        """The encoder's named views, read with h5py, are the flat weights layer by layer."""
        self.train("run", "--steps", 4, "--algo", "protonet", "--ways", 2, "--shots", 2, "--queries", 2,
                   "--encoder-widths", "8,3")
        with h5py.File(self.checkpoint("run", 4)) as f:
            self.assertEqual(f.attrs["version"], 4)
            self.assertNotIn("model", f)
            self.assertEqual(f["encoder"].attrs["input"], 2)
            self.assertEqual(list(f["encoder/widths"][()]), [8, 3])
            w1, b1 = f["encoder/layer_1/weights"][()], f["encoder/layer_1/bias"][()]
            w2, b2 = f["encoder/layer_2/weights"][()], f["encoder/layer_2/bias"][()]
            self.assertEqual((w1.shape, b1.shape, w2.shape, b2.shape), ((8, 2), (8,), (3, 8), (3,)))
            flat = np.concatenate([w1.ravel(), b1, w2.ravel(), b2])
            self.assertEqual(bits(flat), bits(f["encoder/parameters"][()]))
            # Adam (protonet's default outer optimiser) keeps moments for every weight.
            self.assertEqual(f["optimizer/first"].shape, (flat.size,))
        out = run(["inspect", self.checkpoint("run", 4)]).stdout
        self.assertIn("algorithm   protonet, step 4", out)
        self.assertIn("model       encoder 2-8-3, 51 parameters", out)


class RankFailure(Workspace):
    def test_an_error_on_one_rank_ends_the_job(self):
        broken = self.path("broken.h5")
        shutil.copy(self.tasks, broken)
        with h5py.File(broken, "r+") as f:
            validation = int(np.flatnonzero(f["task_split"][()] == 1)[0])
            f["points"][f["task_offsets"][validation], 0] = np.nan
        # One validation task, owned by rank 1 of 2: rank 0 waits in the reduction when rank 1
        # fails, and must be ended too.
        started = time.time()
        result = run(["train", "--tasks", broken, "--run-dir", self.path("run"), "--support", 10, "--steps", 1000,
                      "--validate-every", 3, "--validation-tasks", 1], ranks=2, check=False)
        self.assertLess(time.time() - started, 60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("on rank 1", result.stderr)
        self.assertIn("NaN", result.stderr)


class Options(Workspace):
    def test_help_lists_every_option_with_its_default(self):
        out = run(["train", "--help"]).stdout
        for option in ["--algo", "--tasks", "--run-dir", "--resume", "--steps", "--seed", "--meta-batch", "--support",
                       "--query", "--inner", "--inner-steps", "--inner-lr", "--meta-sgd", "--weighting", "--outer", "--outer-lr",
                       "--validate-every", "--checkpoint-every", "--checkpoint-seconds", "--keep", "--gen-family"]:
            self.assertIn(option, out)
        self.assertIn("(=reptile)", out)

    def test_bad_values_are_refused_with_one_line(self):
        for args, expected in [(["--steps", 0], "--steps"), (["--inner", "newton"], "--inner"),
                               (["--outer-lr", -1], "--outer-lr"), (["--support", 1000], "--support"),
                               (["--algo", "magic"], "--algo"), (["--meta-batch", 0], "--meta-batch"),
                               (["--algo", "maml", "--inner", "em"], "--inner"), (["--meta-sgd", "all"], "--meta-sgd"),
                               (["--meta-sgd", "block"], "--meta-sgd"),  # reptile learns no step sizes
                               (["--algo", "fomaml", "--inner", "adam", "--meta-sgd", "block"], "--meta-sgd")]:
            result = self.train("bad", *args, check=False)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn(expected, result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        result = run(["train", "--tasks", self.path("missing.h5"), "--run-dir", self.path("x")], check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("missing.h5", result.stderr)
        # Under mpirun the error is printed once, not once per rank.
        result = self.train("bad", "--steps", 0, ranks=3, check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stderr.count("--steps"), 1, result.stderr)

    def test_config_file_and_command_line_priority(self):
        config = self.path("train.ini")
        with open(config, "w") as f:
            f.write("steps = 5\nmeta-batch = 3\ninner-lr = 0.2\n")
        self.train("run", "--config", config, "--steps", 4)
        with h5py.File(self.checkpoint("run", 4)) as f:
            stored = f.attrs["config"]
        self.assertIn("steps = 4\n", stored)        # the command line wins
        self.assertIn("inner-lr = 0.2\n", stored)   # the file wins over the default
        self.assertIn("meta-batch = 7\n", stored)   # (given on the command line by self.train)

    def test_live_progress_line_on_a_terminal(self):
        # stderr a pseudo-terminal: one line rewritten in place ("\r" + clear-line) instead of
        # a new line per report.
        controller, terminal = pty.openpty()
        process = subprocess.Popen([METAGMM, "train", "--tasks", self.tasks, "--run-dir", self.path("run"),
                                    "--support", "10", "--steps", "300"],
                                   stdout=subprocess.DEVNULL, stderr=terminal, env=ENV)
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
        os.close(controller)
        self.assertEqual(process.wait(timeout=60), 0)
        text = output.decode()
        self.assertIn("\r\x1b[Kstep 300/300", text)
        self.assertEqual(text.count("\n"), text.count("\r\n"))  # the terminal turns \n into \r\n
        self.assertLessEqual(text.count("\n"), 1)  # only the line's end

    def test_inspect_shows_a_checkpoint_and_refuses_a_damaged_one(self):
        self.train("run", "--steps", 4)
        out = run(["inspect", self.checkpoint("run", 4)]).stdout
        self.assertIn("checksum verified", out)
        self.assertIn("algorithm   reptile, step 4, seed 0", out)
        self.assertIn("validation  ", out)
        self.assertIn("meta-batch = 7\n", out)
        data = bytearray(read_bytes(self.checkpoint("run", 4)))
        with h5py.File(self.checkpoint("run", 4)) as f:
            data[f["model/parameters"].id.get_offset()] ^= 1
        with open(self.path("flipped.h5"), "wb") as f:
            f.write(bytes(data))
        result = run(["inspect", self.path("flipped.h5")], check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("checksum mismatch", result.stderr)

    def test_inspect_shows_learned_step_sizes(self):
        self.train("run", "--steps", 4, "--algo", "maml", "--meta-sgd", "block")
        out = run(["inspect", self.checkpoint("run", 4)]).stdout
        self.assertIn("algorithm   maml, step 4", out)
        self.assertIn("extra       log_step_sizes [3]: step_sizes", out)
        self.assertIn("outer-lr = 0.01\n", out)  # maml's default outer step, not reptile's 1
        with h5py.File(self.checkpoint("run", 4)) as f:
            self.assertEqual(f.attrs["version"], 4)
            self.assertEqual(f["extra/log_step_sizes"].shape, (3,))

    def test_keeps_the_newest_checkpoints(self):
        self.train("run", "--steps", 9, "--checkpoint-every", 2, "--keep", 2)
        names = sorted(n for n in os.listdir(self.path("run")) if n.startswith("checkpoint-"))
        self.assertEqual(names, ["checkpoint-000000000008.h5", "checkpoint-000000000009.h5"])
        with open(os.path.join(self.path("run"), "metrics.jsonl")) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([line["step"] for line in lines], list(range(1, 10)))
        self.assertIsNone(lines[0]["validation_loglik"])
        self.assertIsInstance(lines[3]["validation_loglik"], float)  # step 4: --validate-every 4

    def test_tasks_generated_on_the_fly(self):
        result = run(["train", "--run-dir", self.path("gen"), "--steps", 5, "--gen-tasks", 50, "--gen-points", "40:60"])
        self.assertIn("generated anchored family", result.stdout)
        bad = run(["train", "--run-dir", self.path("bad"), "--gen-dim", 0], check=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--gen-dim", bad.stderr)
        with h5py.File(self.checkpoint("gen", 5)) as f:
            self.assertEqual(f["model/means"].shape, (4, 2))



class FitFromCheckpoint(Workspace):
    """metagmm fit --init CHECKPOINT: a user's data fitted from a meta-learned mixture."""

    def model_file_of(self, checkpoint, path):
        """The checkpoint's /model as a metagmm.gmm file (the same layout at the root), by h5py."""
        with h5py.File(checkpoint) as source, h5py.File(path, "w") as target:
            for name, item in source["model"].items():
                target.create_dataset(name, data=item[()])
            for key, value in source["model"].attrs.items():
                target.attrs[key] = value
            target.attrs["format"] = "metagmm.gmm"
            target.attrs["version"] = np.int64(1)
        return path

    def test_em_from_a_checkpoint_equals_em_from_its_model(self):
        self.train("run", "--steps", 6)
        checkpoint = self.checkpoint("run", 6)
        data = f"{self.tasks}:110"
        run(["fit", "--data", data, "--init", checkpoint, "--adapt", "em", "--out", self.path("a.h5")])
        run(["fit", "--data", data, "--init", self.model_file_of(checkpoint, self.path("m.h5")), "--out", self.path("b.h5")])
        with h5py.File(self.path("a.h5")) as a, h5py.File(self.path("b.h5")) as b:
            self.assertEqual(bits(a["parameters"][()]), bits(b["parameters"][()]))
            self.assertEqual(list(a["assignments"][()]), list(b["assignments"][()]))

    def test_inner_adaptation_with_learned_step_sizes_improves_the_fit(self):
        from sklearn.mixture import GaussianMixture
        self.train("run", "--steps", 6, "--algo", "maml", "--meta-sgd", "block", "--inner-lr", 0.05)
        checkpoint = self.checkpoint("run", 6)
        report = run(["fit", "--data", f"{self.tasks}:110", "--init", checkpoint, "--out", self.path("a.h5")]).stdout
        self.assertIn("5 inner steps of maml, as in training", report)
        # The start scored by scikit-learn on the same points: the adaptation raised it.
        with h5py.File(self.tasks) as f:
            offsets = f["task_offsets"][()]
            points = f["points"][offsets[110]:offsets[111]]
        with h5py.File(checkpoint) as f:
            start = GaussianMixture(n_components=4, covariance_type="diag")
            start.weights_, start.means_ = f["model/weights"][()], f["model/means"][()]
            start.covariances_ = f["model/covariances"][()]
            start.precisions_cholesky_ = f["model/precisions_cholesky"][()]
        with h5py.File(self.path("a.h5")) as f:
            adapted = f.attrs["mean_log_likelihood"]
            adapted_parameters = f["parameters"][()]
            self.assertEqual(f.attrs["iterations"], 5)
        self.assertGreater(adapted, start.score(points) + 1e-3)
        # --steps 0 scores the start itself; --steps 5 is the trained count, bit for bit; --steps 8 goes on.
        report = run(["fit", "--data", f"{self.tasks}:110", "--init", checkpoint, "--steps", 0, "--out",
                      self.path("s0.h5")]).stdout
        self.assertIn("0 inner steps of maml (the meta-learned start itself)", report)
        run(["fit", "--data", f"{self.tasks}:110", "--init", checkpoint, "--steps", 5, "--out", self.path("s5.h5")])
        run(["fit", "--data", f"{self.tasks}:110", "--init", checkpoint, "--steps", 8, "--out", self.path("s8.h5")])
        with h5py.File(self.path("s0.h5")) as s0, h5py.File(self.path("s5.h5")) as s5, h5py.File(self.path("s8.h5")) as s8:
            # Relative 1e-12: the same density summed by our kernels and by scikit-learn's.
            self.assertAlmostEqual(s0.attrs["mean_log_likelihood"] / start.score(points), 1, delta=1e-12)
            self.assertEqual(bits(s5["parameters"][()]), bits(adapted_parameters))
            self.assertEqual(s8.attrs["iterations"], 8)
            self.assertIn("steps = 8", s8.attrs["settings"])
        for extra, expect in ((["--adapt", "em", "--steps", 2], "--steps: counts a checkpoint's own steps"),
                              (["--steps", -1], "--steps: expected an integer in [0, 100000]")):
            result = run(["fit", "--data", f"{self.tasks}:110", "--init", checkpoint, *extra, "--out",
                          self.path("refused.h5")], check=False)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertIn(expect, result.stderr)
        self.assertFalse(os.path.exists(self.path("refused.h5")))

    def test_map_adaptation_limits(self):
        """--adapt map: no relevance is EM; infinite relevance keeps the start (the prior)."""
        self.train("run", "--steps", 6)
        checkpoint = self.checkpoint("run", 6)
        data = f"{self.tasks}:110"
        fits = {}
        for name, extra in (("em", ["--adapt", "em"]), ("map0", ["--adapt", "map", "--relevance", 0]),
                            ("map_inf", ["--adapt", "map", "--relevance", "1e15"])):
            run(["fit", "--data", data, "--init", checkpoint, "--max-iter", 3, "--tol", 1e-12, "--reg-covar", 0,
                 *extra, "--out", self.path(name + ".h5")])
            with h5py.File(self.path(name + ".h5")) as f:
                fits[name] = {k: f[k][()] for k in ("weights", "means", "covariances")}
        with h5py.File(checkpoint) as f:
            start = {k: f["model/" + k][()] for k in ("weights", "means", "covariances")}
        for key in ("weights", "means", "covariances"):
            np.testing.assert_allclose(fits["map0"][key], fits["em"][key], rtol=1e-9)
            np.testing.assert_allclose(fits["map_inf"][key], start[key], rtol=1e-9)
        self.assertFalse(np.allclose(fits["em"]["means"], start["means"], rtol=1e-3))

    def test_bad_starts_are_refused(self):
        self.train("proto", "--steps", 2, "--algo", "protonet", "--ways", 2, "--queries", 2)
        for args, expected in [(["--init", self.checkpoint("proto", 2)], "holds an encoder"),
                               (["--components", 2, "--adapt", "inner"], "needs --init CHECKPOINT"),
                               (["--components", 2, "--adapt", "newton"], "--adapt"),
                               (["--components", 2, "--adapt", "map"], "needs --init MODEL or CHECKPOINT"),
                               (["--components", 2, "--relevance", "-1"], "--relevance")]:
            result = run(["fit", "--data", f"{self.tasks}:3", *args, "--out", self.path("x.h5")], check=False)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn(expected, result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertFalse(os.path.exists(self.path("x.h5")))

# The engine's guarantees hold for every algorithm: the classes above run for Reptile, and once
# more for each of these. Each gives its own state to carry across resumes (learned step sizes)
# and the inner loops it accepts (second-order MAML differentiates through gradient steps, or
# through diagonal MAP-EM steps).
ALGORITHMS = {
    "Maml": dict(ALGO=["--algo", "maml"], OWN_STATE=["--meta-sgd", "parameter", "--inner-lr", 0.05],
                 VARIANTS=[("diag", ["--meta-sgd", "block"]), ("full", []), ("spherical", ["--meta-sgd", "parameter"])]),
    # Second-order MAML through MAP-EM steps: its own state is the learned relevance factors.
    "MapMaml": dict(ALGO=["--algo", "maml", "--inner", "map"], OWN_STATE=["--relevance", "2:4:8"],
                    VARIANTS=[("diag", []), ("diag", ["--relevance", "1:16:3", "--inner-steps", 2])]),
    "Fomaml": dict(ALGO=["--algo", "fomaml"], OWN_STATE=["--inner", "adam", "--inner-lr", 0.05],
                   VARIANTS=[("diag", ["--meta-sgd", "parameter"]), ("full", ["--inner", "adam"]),
                             ("spherical", ["--inner", "em"])]),
    # ProtoNet learns an encoder on few-shot episodes of the tasks' components (the mixture
    # options these tests pass are accepted and unused); its variants: plain prototypes,
    # refinement with a distractor cluster and distractor classes, and another episode shape.
    "Protonet": dict(ALGO=["--algo", "protonet", "--ways", 2, "--queries", 2, "--encoder-widths", "8,3"],
                     OWN_STATE=["--refine-steps", 1, "--unlabelled", 1],
                     VARIANTS=[("diag", []),
                               ("full", ["--refine-steps", 2, "--unlabelled", 1, "--distractor-classes", 1,
                                         "--distractor-cluster", "true"]),
                               ("spherical", ["--shots", 3])]),
}
for _name, _settings in ALGORITHMS.items():
    for _engine_test in (RankCountInvariance, ResumeExactness, Signals, DamagedCheckpoints):
        _cls = type(_engine_test.__name__ + _name, (_engine_test,), dict(_settings))
        globals()[_cls.__name__] = _cls
del _name, _settings, _engine_test, _cls


if __name__ == "__main__":
    unittest.main()
