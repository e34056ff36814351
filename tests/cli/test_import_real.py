"""metagmm import of real data, checked against independent readers: a slice of the Levitus
ocean climatology (netCDF, read here by scipy's netcdf_file) and of Fashion-MNIST (IDX, read
here by numpy from the bytes). The slices are tests/fixtures/make_real_slices.py's; bad input of
both kinds gets one line naming the file, exit 2, and nothing written."""
import gzip
import os
import shutil
import unittest

import h5py
import numpy as np
from scipy.io import netcdf_file

from support import RefusalChecks, SharedDirectory, metagmm

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
LEVITUS = os.path.join(FIXTURES, "levitus_slice.nc")
IMAGES = os.path.join(FIXTURES, "fashion_slice-images-idx3-ubyte.gz")
LABELS = os.path.join(FIXTURES, "fashion_slice-labels-idx1-ubyte")
# Standardised coordinates: numpy sums the training points' mean pairwise, Eigen in its own
# order, so the last bits may differ; 1e-12 relative to the coordinates' scale is far below any
# difference a wrong point, box or split would make.
STANDARDISED_TOLERANCE = 1e-12
# Principal components: numpy's eigh and Eigen's solver agree to rounding, amplified by the
# gaps between eigenvalues; 1e-6 on unit vectors still tells every component apart.
COMPONENT_TOLERANCE = 1e-6


def levitus_boxes(extra_log_depth, box=10.0):
    """{(box y, box x): raw points}, the cells in C order (depth, latitude, longitude)."""
    f = netcdf_file(LEVITUS, "r", mmap=False)
    z, y, x = (f.variables[n][:].astype(float) for n in ("ZAXLEVITR", "YAXLEVITR", "XAXLEVITR"))
    temp, salt = (f.variables[n][:].astype(float) for n in ("TEMP", "SALT"))
    fill = float(f.variables["TEMP"]._FillValue)
    boxes = {}
    for k in range(len(z)):
        for i in range(len(y)):
            for j in range(len(x)):
                if temp[k, i, j] == fill or salt[k, i, j] == fill:
                    continue
                point = [temp[k, i, j], salt[k, i, j]] + ([np.log1p(z[k])] if extra_log_depth else [])
                boxes.setdefault((int(np.floor(y[i] / box)), int(np.floor(x[j] / box))), []).append(point)
    return {key: np.array(points) for key, points in boxes.items()}


class NetcdfImport(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm-import-real-")

    def check_against_scipy(self, extra):
        out = self.path(f"levitus-{len(extra)}.h5")
        metagmm("import", "--netcdf", LEVITUS, "--variables", "TEMP,SALT", *extra, "--min-points", 800,
                "--split", "0.5:0.25:0.25", "--out", out)
        boxes = levitus_boxes(bool(extra))
        kept = sorted(key for key, points in boxes.items() if len(points) >= 800)
        self.assertGreater(len(kept), 3)
        self.assertLess(len(kept), len(boxes))  # some box is under --min-points
        with h5py.File(out, "r") as f:
            offsets, splits = f["task_offsets"][()], f["task_split"][()]
            self.assertEqual(len(offsets) - 1, len(kept))
            np.testing.assert_array_equal(f["task_coordinates"][()], np.array(kept, dtype=float) * 10.0)
            self.assertEqual(f["task_coordinates"].attrs["columns"], "YAXLEVITR,XAXLEVITR")
            # Whole 30-degree blocks go to one split, and every split is used.
            blocks = {}
            for (by, bx), split in zip(kept, splits):
                blocks.setdefault((by // 3, bx // 3), set()).add(int(split))
            self.assertTrue(all(len(s) == 1 for s in blocks.values()), blocks)
            self.assertEqual(set(splits.tolist()), {0, 1, 2})
            # The standardisation: the training split's mean and standard deviation.
            train = np.vstack([boxes[key] for key, split in zip(kept, splits) if split == 0])
            offset, scale = f["standardisation/offset"][()], f["standardisation/scale"][()]
            np.testing.assert_allclose(offset, train.mean(axis=0), rtol=STANDARDISED_TOLERANCE)
            np.testing.assert_allclose(scale, train.std(axis=0), rtol=STANDARDISED_TOLERANCE)
            points = f["points"][()]
            for t, key in enumerate(kept):
                expected = (boxes[key] - offset) / scale
                np.testing.assert_allclose(points[offsets[t]:offsets[t + 1]], expected, rtol=0,
                                           atol=STANDARDISED_TOLERANCE * 10)
            settings = f.attrs["settings"]
            self.assertIn("source = " + os.path.abspath(LEVITUS), settings)
            self.assertIn("missing_cells = ", settings)

    def test_temperature_and_salinity(self):
        self.check_against_scipy([])

    def test_with_log_depth(self):
        self.check_against_scipy(["--extra-coordinates", "ZAXLEVITR:log1p"])

    def test_same_seed_same_bits(self):
        a, b = self.path("a.h5"), self.path("b.h5")
        for out in (a, b):
            metagmm("import", "--netcdf", LEVITUS, "--variables", "TEMP,SALT", "--seed", 7, "--out", out)
        with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
            for name in ("points", "task_offsets", "task_split", "task_coordinates", "standardisation/scale"):
                self.assertEqual(fa[name][()].tobytes(), fb[name][()].tobytes(), name)

    def test_fit_raw_data_through_the_stored_standardisation(self):
        """fit --transform maps raw temperature and salinity as the import did: the same model as
        fitting the imported task."""
        tasks = self.path("transform.h5")
        metagmm("import", "--netcdf", LEVITUS, "--variables", "TEMP,SALT", "--out", tasks)
        boxes = levitus_boxes(False)
        with h5py.File(tasks, "r") as f:
            first = tuple(int(v) for v in f["task_coordinates"][0] // 10)
        raw = self.path("raw.csv")
        with open(raw, "w") as handle:
            handle.write("temperature,salinity\n")
            for t, s in boxes[first]:
                handle.write(f"{t!r},{s!r}\n")
        from_raw, from_task = self.path("from-raw.h5"), self.path("from-task.h5")
        metagmm("fit", "--data", raw, "--transform", tasks, "--components", 2, "--out", from_raw)
        metagmm("fit", "--data", tasks + ":0", "--components", 2, "--out", from_task)
        with h5py.File(from_raw, "r") as a, h5py.File(from_task, "r") as b:
            self.assertEqual(a["parameters"][()].tobytes(), b["parameters"][()].tobytes())
        self.refused("fit", "--data", raw, "--transform", LEVITUS, "--components", 2, "--out", self.path("no.h5"),
                     expect="levitus_slice.nc")
        plain = self.path("plain.h5")
        metagmm("import", "--csv", raw, "--out", plain)
        self.refused("fit", "--data", raw, "--transform", plain, "--components", 2, "--out", self.path("no.h5"),
                     expect="plain.h5: the task set stores no map from raw data")
        self.assertFalse(os.path.exists(self.path("no.h5")))

    def refused_nothing_written(self, *args, expect):
        out = self.path("refused", "out.h5")
        os.makedirs(self.path("refused"), exist_ok=True)
        self.refused("import", *args, "--out", out, expect=expect)
        self.assertEqual(os.listdir(self.path("refused")), [])

    def test_bad_input(self):
        self.refused_nothing_written("--netcdf", LEVITUS, "--variables", "TEMP,OXYGEN",
                                     expect="levitus_slice.nc: no variable 'OXYGEN'")
        self.refused_nothing_written("--netcdf", LEVITUS, "--variables", "TEMP", "--box-dimensions", "LAT,LON",
                                     expect="levitus_slice.nc: --box-dimensions 'LAT' is not a dimension")
        self.refused_nothing_written("--netcdf", LEVITUS, "--variables", "TEMP", "--min-points", 100000,
                                     expect="levitus_slice.nc: no box of 10 x 10 holds --min-points 100000")
        self.refused_nothing_written("--netcdf", IMAGES, "--variables", "TEMP",
                                     expect="fashion_slice-images-idx3-ubyte.gz: expected a netCDF file")
        self.refused_nothing_written("--netcdf", LEVITUS, "--variables", "TEMP", "--block-size", 15,
                                     expect="--block-size: expected a whole multiple of --box-size")
        # A grid whose box dimensions have no coordinate variables.
        bare = self.path("bare.nc")
        f = netcdf_file(bare, "w", version=1)
        f.createDimension("y", 4)
        f.createDimension("x", 4)
        f.createVariable("v", "d", ("y", "x"))[:] = np.arange(16.0).reshape(4, 4)
        f.close()
        self.refused_nothing_written("--netcdf", bare, "--variables", "v",
                                     expect="bare.nc: dimension 'y' has no coordinate variable")


def read_idx(path):
    """An IDX array from its bytes: magic, big-endian dimensions, unsigned bytes."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    assert data[:3] == b"\0\0\x08"
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


class ImageImport(SharedDirectory, RefusalChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_directory("metagmm-import-images-")

    def test_against_numpy(self):
        out = self.path("fashion.h5")
        metagmm("import", "--idx-images", IMAGES, "--idx-labels", LABELS, "--class-split", "0-3:4-6:7-9",
                "--tasks", "6:2:3", "--task-size", 20, "--dim", 5, "--out", out)
        images = read_idx(IMAGES).reshape(300, -1).astype(float)
        labels = read_idx(LABELS).astype(int)
        train = images[np.isin(labels, [0, 1, 2, 3])] / 255.0
        mean = train.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(train, rowvar=False))
        expected = vectors[:, ::-1][:, :5].T
        expected *= np.sign(expected[np.arange(5), np.abs(expected).argmax(axis=1)])[:, None]
        with h5py.File(out, "r") as f:
            np.testing.assert_allclose(f["projection/mean"][()], mean, rtol=0, atol=1e-12)
            components = f["projection/components"][()]
            np.testing.assert_allclose(components, expected, rtol=0, atol=COMPONENT_TOLERANCE)
            self.assertEqual(f["projection"].attrs["input_scale"], 1 / 255)
            projected = (images / 255.0 - f["projection/mean"][()]) @ components.T
            offsets, splits = f["task_offsets"][()], f["task_split"][()]
            points, stored_labels = f["points"][()], f["labels"][()]
        np.testing.assert_array_equal(splits, [0] * 6 + [1] * 2 + [2] * 3)
        split_classes = {0: {0, 1, 2, 3}, 1: {4, 5, 6}, 2: {7, 8, 9}}
        for t in range(len(splits)):
            rows = slice(offsets[t], offsets[t + 1])
            self.assertEqual(offsets[t + 1] - offsets[t], 20)
            task_labels = set(stored_labels[rows].tolist())
            self.assertLessEqual(len(task_labels), 3)
            self.assertTrue(task_labels <= split_classes[int(splits[t])], (t, task_labels))
            # Every point is the projection of a distinct image of its class.
            used = []
            for point, label in zip(points[rows], stored_labels[rows]):
                distances = np.abs(projected - point).max(axis=1)
                distances[labels != label] = np.inf
                best = int(distances.argmin())
                self.assertLess(distances[best], 1e-9)
                used.append(best)
            self.assertEqual(len(set(used)), len(used))

    def test_bad_input(self):
        directory = self.path("refused")
        os.makedirs(directory, exist_ok=True)
        with gzip.open(IMAGES, "rb") as handle:
            data = handle.read()
        wrong_magic, truncated = self.path("wrong-magic-idx3-ubyte"), self.path("truncated-idx3-ubyte")
        with open(wrong_magic, "wb") as handle:
            handle.write(b"\0\0\x08\x01" + data[4:])
        with open(truncated, "wb") as handle:
            handle.write(data[:-100])
        common = ["--class-split", "0-3:4-6:7-9", "--tasks", "2:1:1", "--task-size", 10, "--out",
                  os.path.join(directory, "out.h5")]
        for images, labels, expect in (
                (wrong_magic, LABELS, "wrong-magic-idx3-ubyte: expected an IDX file of unsigned bytes with 3 dimensions"),
                (truncated, LABELS, "truncated-idx3-ubyte: the header declares 235200 bytes of data, the file holds 235100 (truncated)"),
                (IMAGES, IMAGES, "fashion_slice-images-idx3-ubyte.gz: expected an IDX file of unsigned bytes with 1 dimension"),
                (IMAGES, LABELS + ".missing", "fashion_slice-labels-idx1-ubyte.missing: cannot open")):
            self.refused("import", "--idx-images", images, "--idx-labels", labels, *common, expect=expect)
            self.assertEqual(os.listdir(directory), [])
        self.refused("import", "--idx-images", IMAGES, "--idx-labels", LABELS, "--class-split", "0-3:4-6:7-9",
                     "--tasks", "2:1:1", "--task-size", 1000, "--out", os.path.join(directory, "out.h5"), expect="--task-size: 1000 images is more than the smallest class")
        self.refused("import", "--idx-images", IMAGES, "--idx-labels", LABELS, "--class-split", "0-3:4:7-9", "--tasks", "2:1:1",
                     "--out", os.path.join(directory, "out.h5"),
                     expect="--class-split: the validation split has 1 classes, fewer than --classes-per-task 3")
        self.refused("import", "--idx-images", IMAGES, "--idx-labels", LABELS, "--class-split", "0-3:4-6:7-9", "--box-size", 5,
                     "--out", os.path.join(directory, "out.h5"), expect="--box-size: only used with --netcdf")
        self.assertEqual(os.listdir(directory), [])


if __name__ == "__main__":
    unittest.main()
