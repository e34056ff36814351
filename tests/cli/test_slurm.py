#!/usr/bin/python3
"""The SLURM job scripts on a real single-node SLURM (tools/slurm/slurm_local.sh: munged, slurmctld and
slurmd from Debian's packages), each test a real sbatch job of jobs/train.sbatch with 2 ranks:

1. it runs to completion, through mpirun and through srun --mpi=pmix, and its checkpoint equals a
   direct mpirun run of the same configuration, bit for bit;
2. signalled mid-run (as SLURM's time-limit warning does), it checkpoints, requeues itself,
   resumes and ends with the same checkpoint;
3. pre-empted by a job of a higher-priority partition on the same node, it checkpoints, is
   requeued, resumes after that job ends, and ends with the same checkpoint;
4. with a time limit shorter than the training, it is requeued until done, same checkpoint;
5. jobs/sweep.sbatch as an array job trains each line of a sweep file in its own run directory,
   each equal to the direct run with those options;
6. jobs/eval.sbatch gives the per-task numbers of a direct metagmm eval.

Needs root (slurmd runs the jobs). Run by ctest with METAGMM pointing at the binary.
"""
import datetime
import glob
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import h5py

from support import METAGMM, MPI_ENV, checkpoint_content, metagmm, metagmm_ranks, run_checked

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SLURM_LOCAL = os.path.join(ROOT, "tools", "slurm", "slurm_local.sh")
# The training every job runs: second-order MAML with learned step sizes, full covariances.
CONFIG = """algo = maml
meta-sgd = block
components = 3
covariance = full
support = 20
inner = sgd
inner-steps = 5
inner-lr = 0.05
outer = adam
outer-lr = 0.01
meta-batch = 10
validate-every = 100
validation-tasks = 20
checkpoint-every = 100
keep = 2
seed = 4
"""
# The jobs' durations do not depend on the machine's speed: the test-only hook
# METAGMM_TEST_CHECKPOINT_DELAY pauses every checkpoint save (one per 100 steps).
SHORT = dict(steps=1500, delay="0.3")  # about 5 s: long enough to signal mid-run
LONG = dict(steps=6000, delay="0.6")   # about 40 s: longer than the 30 s in which SLURM's first
                                       # time-limit warning arrives
JOB_TIMEOUT = 400


def last_checkpoint(run_dir):
    found = sorted(glob.glob(os.path.join(run_dir, "checkpoint-*.h5")))
    return found[-1] if found else None


class Jobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("a local SLURM needs root")  # CI runs as root
        cls.dir = tempfile.mkdtemp(prefix="metagmm_slurm_")
        cls.slurm_dir = os.path.join(cls.dir, "slurm")
        run_checked(["bash", SLURM_LOCAL, "start", cls.slurm_dir], timeout=60)
        cls.env = dict(MPI_ENV, SLURM_CONF=os.path.join(cls.slurm_dir, "slurm.conf"), METAGMM=METAGMM,
                       METAGMM_SITE=os.path.join(ROOT, "jobs", "env", "local-test.sh"), METAGMM_ROOT=ROOT)
        cls.tasks = cls.path("tasks.h5")
        metagmm("generate", "--family", "anchored", "--dim", 4, "--components", 3, "--tasks", 300, "--points",
                "40:80", "--seed", 8, "--out", cls.tasks)
        cls.config = cls.path("maml.ini")
        with open(cls.config, "w") as f:
            f.write(CONFIG)
        cls.references = {}

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "slurm_dir"):
            subprocess.run(["bash", SLURM_LOCAL, "stop", cls.slurm_dir], check=False, timeout=60)
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def path(cls, *names):
        return os.path.join(cls.dir, *names)

    @classmethod
    def train_options(cls, steps):
        return ["--tasks", cls.tasks, "--steps", steps, "--progress-seconds", 5]

    @classmethod
    def direct(cls, name, steps):
        run_dir = cls.path(name)
        metagmm_ranks(2, "train", "--config", cls.config, "--run-dir", run_dir, *cls.train_options(steps))
        return last_checkpoint(run_dir)

    def reference(self, steps):
        """The checkpoint of a direct mpirun run of `steps` steps (run once per length)."""
        if steps not in self.references:
            self.references[steps] = checkpoint_content(self.direct(f"direct-{steps}", steps))
        return self.references[steps]

    def scontrol(self, *args):
        return run_checked(["scontrol", *args], env=self.env, timeout=30).stdout

    def job(self, job_id):
        """scontrol's fields of a job, as a dict."""
        fields = {}
        for item in self.scontrol("show", "job", "-o", job_id).split():
            key, _, value = item.partition("=")
            fields[key] = value
        return fields

    def submit(self, name, length, *sbatch_options, env=None):
        run_dir = self.path(name)
        env = dict(self.env, METAGMM_TEST_CHECKPOINT_DELAY=length["delay"], **(env or {}))
        result = run_checked(["sbatch", "--parsable", "--output", self.path(name + ".out"), *sbatch_options,
                              os.path.join(ROOT, "jobs", "train.sbatch"), self.config, run_dir,
                              *self.train_options(length["steps"])], env=env, timeout=30)
        return result.stdout.strip().split(";")[0], run_dir

    def wait_for(self, job_id, states, timeout=JOB_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fields = self.job(job_id)
            if fields["JobState"] in states:
                return fields
            time.sleep(0.5)
        self.fail(f"job {job_id} not {states} within {timeout} s: {self.job(job_id)}")

    def wait_for_checkpoint(self, run_dir, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and last_checkpoint(run_dir) is None:
            time.sleep(0.2)
        self.assertIsNotNone(last_checkpoint(run_dir), f"no checkpoint in {run_dir} within {timeout} s")

    def output(self, name):
        with open(self.path(name + ".out")) as f:
            return f.read()

    def assert_finished_like_direct(self, name, job_id, run_dir, length, starts):
        fields = self.wait_for(job_id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"})
        log = self.output(name)
        self.assertEqual(fields["JobState"], "COMPLETED", log)
        self.assertEqual(checkpoint_content(last_checkpoint(run_dir)), self.reference(length["steps"]), name)
        self.assertIn(f"start {starts} on", log)  # one log, appended across restarts
        self.assertEqual(log.count("finished\n"), 1, log)
        return log

    def test_1_runs_to_completion_through_mpirun_and_srun(self):
        for launcher in ("mpirun", "srun"):
            with self.subTest(launcher=launcher):
                name = "complete-" + launcher
                job_id, run_dir = self.submit(name, SHORT, env={"METAGMM_LAUNCHER": launcher})
                log = self.assert_finished_like_direct(name, job_id, run_dir, SHORT, starts=1)
                self.assertIn("metagmm train: 2 ranks", log)
                self.assertEqual(self.job(job_id)["Restarts"], "0")

    def test_2_signal_checkpoints_requeues_and_resumes(self):
        job_id, run_dir = self.submit("signalled", SHORT)
        self.wait_for_checkpoint(run_dir)
        # What SLURM does before a time limit (--signal=B:USR1@300), at once.
        run_checked(["scancel", "--batch", "--signal", "USR1", job_id], env=self.env, timeout=30)
        log = self.assert_finished_like_direct("signalled", job_id, run_dir, SHORT, starts=2)
        self.assertIn("stopped by SIGUSR1", log)
        self.assertIn("requeueing job", log)
        self.assertIn("resuming from", log)
        self.assertEqual(self.job(job_id)["Restarts"], "1")

    def test_3_preempted_by_a_higher_priority_job(self):
        job_id, run_dir = self.submit("preempted", SHORT)
        self.wait_for_checkpoint(run_dir)
        marker = self.path("urgent.done")
        urgent = run_checked(["sbatch", "--parsable", "--partition", "urgent", "--ntasks", "2", "--output",
                              self.path("urgent.out"), "--wrap", f"sleep 2; touch {marker}"],
                             env=self.env, timeout=30).stdout.strip()
        self.wait_for(urgent, {"COMPLETED"})
        log = self.assert_finished_like_direct("preempted", job_id, run_dir, SHORT, starts=2)
        self.assertIn("stopped by SIGUSR1", log)
        self.assertTrue(os.path.exists(marker))
        # The second start came after the urgent job ended (the log's times have whole seconds).
        second = next(line for line in log.splitlines() if " start 2 on " in line).split()[1]
        started = datetime.datetime.fromisoformat(second).timestamp()
        self.assertGreaterEqual(started, math.floor(os.path.getmtime(marker)))
        self.assertGreater(log.index("resuming from"), log.index("requeueing job"))

    def test_4_time_limit_requeues_until_done(self):
        # One minute, less than the training: SLURM's warning (USR1, 300 s before the limit: at
        # once, within its 30 s timer) stops every start until the run is complete.
        job_id, run_dir = self.submit("limited", LONG, "--time", "1")
        log = self.assert_finished_like_direct("limited", job_id, run_dir, LONG, starts=2)
        restarts = int(self.job(job_id)["Restarts"])
        self.assertGreaterEqual(restarts, 1)
        # Every start is in the log; a warning that lands while mpirun is still starting the ranks
        # can end a start before it reads its checkpoint, so at least one, not every, resumes.
        self.assertEqual(len(re.findall(r"^== \S+ job \d+ start \d+ on ", log, re.M)), restarts + 1)
        self.assertGreaterEqual(log.count("resuming from"), 1)

    def test_5_sweep_array(self):
        base = self.path("sweep-base.ini")
        with open(base, "w") as f:
            f.write(CONFIG + f"tasks = {self.tasks}\nsteps = 300\n")
        lines = [["--inner-lr", "0.1"], ["--inner-lr", "0.02", "--meta-batch", "6"]]
        sweep = self.path("sweep.txt")
        with open(sweep, "w") as f:
            f.write("# two settings\n\n" + "\n".join(" ".join(line) for line in lines) + "\n")
        root = self.path("sweep")
        array = run_checked(["sbatch", "--parsable", "--array", "0-1", "--output", self.path("sweep-%a.out"),
                             os.path.join(ROOT, "jobs", "sweep.sbatch"), base, sweep, root],
                            env=self.env, timeout=30).stdout.strip()
        for task, options in enumerate(lines):
            fields = self.wait_for(f"{array}_{task}", {"COMPLETED", "FAILED", "CANCELLED"})
            self.assertEqual(fields["JobState"], "COMPLETED", self.output(f"sweep-{task}"))
            run_dir = os.path.join(root, str(task))
            with open(os.path.join(run_dir, "sweep-options.txt")) as f:
                self.assertEqual(f.read().split(), options)
            direct = self.path(f"sweep-direct-{task}")
            metagmm_ranks(2, "train", "--config", base, *options, "--run-dir", direct)
            self.assertEqual(checkpoint_content(last_checkpoint(run_dir)),
                             checkpoint_content(last_checkpoint(direct)), options)

    def test_6_eval_job(self):
        self.reference(SHORT["steps"])
        checkpoint = last_checkpoint(self.path(f"direct-{SHORT['steps']}"))
        options = ["--max-tasks", 30, "--steps", 3]
        job = run_checked(["sbatch", "--parsable", "--output", self.path("eval.out"),
                           os.path.join(ROOT, "jobs", "eval.sbatch"), self.path("eval-job"), checkpoint, "--",
                           *options], env=self.env, timeout=30).stdout.strip()
        fields = self.wait_for(job, {"COMPLETED", "FAILED", "CANCELLED"})
        self.assertEqual(fields["JobState"], "COMPLETED", self.output("eval"))
        metagmm("eval", "--checkpoint", checkpoint, "--out", self.path("eval-direct"), *options)
        with h5py.File(self.path("eval-job", "eval.h5")) as job_file, \
                h5py.File(self.path("eval-direct", "eval.h5")) as direct:
            self.assertEqual(job_file.attrs["methods"], direct.attrs["methods"])
            for name in ("query_log_likelihood", "support_log_likelihood", "steps_to_tolerance"):
                self.assertEqual(job_file[name][()].tobytes(), direct[name][()].tobytes(), name)


if __name__ == "__main__":
    unittest.main()
