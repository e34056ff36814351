"""tools/bench/scaling.sh and tools/bench/scaling.py: a tiny measurement run end to end, and the arithmetic
that turns timing lines into steady-state rates and efficiencies."""
import csv
import importlib.util
import os
import tempfile
import unittest

from support import METAGMM, MPI_ENV, MPIRUN, run_checked

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_spec = importlib.util.spec_from_file_location("scaling", os.path.join(ROOT, "tools", "bench", "scaling.py"))
scaling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scaling)


def timing(config, kind, ranks, batch, steps, total, rate, copy=None):
    """A line as tools/bench/scaling.sh prints it (train's timing line after the case's labels)."""
    labels = f"config={config} kind={kind} ranks={ranks} batch={batch} steps={steps}"
    labels += f" copy={copy}" if copy is not None else ""
    return (f"{labels} time: total {total} s, adapt 0.5 s, reduce 0.01 s (waiting 0 s), update 0.001 s, "
            f"validate 0.002 s, checkpoint 0.003 s (1 saves), {steps} steps, {rate} tasks/s")


class Arithmetic(unittest.TestCase):
    def test_two_step_counts_give_the_rate_of_the_steps_between_them(self):
        text = "\n".join(["machine: test",
                          timing("reptile", "weak", 1, 10, 100, 1.5, 666.7),
                          timing("reptile", "weak", 1, 10, 300, 2.5, 1200)])
        rates, batches, machine = scaling.parse(text)
        # 10 tasks x 200 more steps in 1.0 s more: start-up and first reads cancel out.
        self.assertAlmostEqual(rates[("reptile", "weak", 1)], 2000.0)
        self.assertEqual(batches[("reptile", "weak", 1)], 10)
        self.assertEqual(machine, "test")

    def test_independent_copies_add_up_and_one_rank_runs_pool_into_a_median_baseline(self):
        text = "\n".join([timing("maml", "weak", 1, 10, 50, 1.0, 100),
                          timing("maml", "strong", 1, 40, 50, 1.0, 300),
                          timing("maml", "independent", 1, 10, 50, 1.0, 150, copy=0),
                          timing("maml", "independent", 2, 10, 50, 1.0, 100, copy=0),
                          timing("maml", "independent", 2, 10, 50, 1.0, 180, copy=1)])
        rates, _, _ = scaling.parse(text)
        self.assertAlmostEqual(rates[("maml", "independent", 2)], 280.0)
        self.assertEqual(scaling.one_rank_baselines([rates]), {"maml": 150.0})

    def test_rounds_combine_by_their_median(self):
        rounds = [{("reptile", "weak", 16): value} for value in (5.0, 1.0, 3.0)]
        self.assertEqual(scaling.combine(rounds), {("reptile", "weak", 16): 3.0})


class TinyRun(unittest.TestCase):
    def test_every_case_prints_a_timing_line_and_the_table_reads_them(self):
        with tempfile.TemporaryDirectory() as work:
            env = dict(MPI_ENV, METAGMM=METAGMM, MPIRUN=MPIRUN, STEPS="10 1000", PER_RANK="2", BATCH="4",
                       INDEPENDENT="1", CONFIGS="reptile", MPI_ARGS="--oversubscribe")
            output = run_checked(["sh", os.path.join(ROOT, "tools", "bench", "scaling.sh"), work, 1, 2], env=env).stdout
            lines = [line for line in output.splitlines() if line.startswith("config=")]
            self.assertFalse([line for line in lines if "failed" in line], output)
            # Per rank count and step count: weak, strong and one line per independent copy.
            self.assertEqual(len(lines), 2 * 3 + 2 * 4, output)
            path = os.path.join(work, "out.txt")
            with open(path, "w") as f:
                f.write(output)
            table = run_checked([scaling.sys.executable, os.path.join(ROOT, "tools", "bench", "scaling.py"), "--from", path,
                                 "--out", work]).stdout
            self.assertIn("== reptile", table)
            with open(os.path.join(work, "scaling.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([int(row["ranks"]) for row in rows], [1, 2])
            for row in rows:
                for kind in ("weak", "strong", "independent"):
                    self.assertGreater(float(row[f"{kind}_rate"]), 0.0, row)


if __name__ == "__main__":
    unittest.main()
