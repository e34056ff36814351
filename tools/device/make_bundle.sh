#!/usr/bin/env bash
# Packs metagmm, mpirun and every shared library they load (glibc's loader included) into one
# self-contained directory, to benchmark MPI scaling on a machine without our packages (the
# 16-core device machine, which reaches no package registry). Programs in the bundle run
# through the bundled loader, so the other machine's libraries and paths do not matter:
#   BUNDLE/run.sh metagmm ARGS...    BUNDLE/run.sh mpirun -np 4 BUNDLE/run.sh metagmm ARGS...
# Usage: tools/device/make_bundle.sh BINARY OUT_DIR
set -euo pipefail
binary=$1 out=$2
rm -rf "$out"
mkdir -p "$out"/{bin,lib,ompi,pmix,share,etc}
cp "$binary" "$out/bin/metagmm"
cp "$(readlink -f /usr/bin/orterun)" "$out/bin/mpirun"
cp -r /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3/. "$out/ompi/"
cp -r /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix/. "$out/pmix/"
cp -r /usr/share/openmpi "$out/share/openmpi"
cp -r /usr/share/pmix "$out/share/pmix" 2>/dev/null || true
cp /etc/openmpi/openmpi-mca-params.conf "$out/etc/"
# Every library any of these programs or components loads, resolved on this machine.
for object in "$out"/bin/* "$out"/ompi/*.so "$out"/pmix/*.so; do
  ldd "$object" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\/lib/ {print $1}'
done | sort -u | while read -r library; do
  cp -L "$library" "$out/lib/$(basename "$library")"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib/"
cat > "$out/run.sh" <<'RUN'
#!/bin/sh
# run.sh PROGRAM ARGS...: runs bin/PROGRAM with the bundled loader and libraries.
here=${0%/*}; here=$(cd "$here" && pwd)
program=$1; shift
export OPAL_PREFIX="$here" OPAL_BINDIR="$here/bin" OPAL_LIBDIR="$here/lib" OPAL_PKGLIBDIR="$here/ompi"
export OPAL_DATADIR="$here/share" OPAL_PKGDATADIR="$here/share/openmpi" OPAL_SYSCONFDIR="$here/etc"
export OMPI_MCA_mca_base_component_path="$here/ompi" PMIX_MCA_mca_base_component_path="$here/pmix"
export PMIX_INSTALL_PREFIX="$here" OMPI_MCA_mca_base_param_files="$here/etc/openmpi-mca-params.conf"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# One node, no ssh there: launch ranks locally.
export OMPI_MCA_plm=isolated
exec "$here/lib/ld-linux-x86-64.so.2" --library-path "$here/lib" "$here/bin/$program" "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
