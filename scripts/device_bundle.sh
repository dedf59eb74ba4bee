#!/usr/bin/env bash
# Packs into .device/ (ignored by git: never commit it) what a GPU machine needs
# to build and run catdog against its PyTorch wheel (scripts/device_check.sh)
# and its image lacks. Run here, after scripts/install_deps.sh:
#   scripts/device_bundle.sh
#   -> .device/prefix.tar.xz  Debian 12's OpenCV (core, imgproc, imgcodecs, objdetect),
#                             spdlog + fmt, CLI11, nlohmann-json, HDF5, cpp-httplib,
#                             libjpeg, zlib, tcmalloc: headers, shared libraries, small
#                             CMake configs and pkgconf, relocatable
#      .device/data.tar       PHOTOS original photos of each class of catdog-dev, evenly
#                             spaced by name, and the MobileNetV2 no-top h5
#      .device/MANIFEST.txt   what is inside, sizes, what was pruned
# The device tool carries at most 64 MiB per call (the working tree plus carried
# folders): the script replaces the libraries catdog never calls into (OpenCV's
# GDAL/GDCM/OpenEXR/LAPACK/GLX/dnn chains, HDF5's libcurl) by small stand-ins,
# takes as many photos as fit, and fails when none do.
# Environment: DATA (default ../shared/data/catdog-dev), WEIGHTS (default
# ../shared/weights/mobilenet_v2_1.0_no_top.h5), PHOTOS (per class; default: the
# most, in steps of 50, that fit), BUDGET_MIB (default 62: headroom for untracked files).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/catdog-dev}
WEIGHTS=${WEIGHTS:-../shared/weights/mobilenet_v2_1.0_no_top.h5}
BUDGET=$(( ${BUDGET_MIB:-62} * 1024 * 1024 ))
OUTDIR=.device
ARCH=x86_64-linux-gnu
LIBDIR=/usr/lib/$ARCH

for tool in cc nm readelf xz; do
  command -v $tool >/dev/null || { echo "device_bundle: $tool is missing: run scripts/install_deps.sh" >&2; exit 1; }
done
[ -d "$DATA/cat" ] && [ -d "$DATA/dog" ] || { echo "device_bundle: no cat/ and dog/ under $DATA (set DATA)" >&2; exit 1; }
[ -f "$WEIGHTS" ] || { echo "device_bundle: $WEIGHTS not found (set WEIGHTS)" >&2; exit 1; }

stage=$(mktemp -d /tmp/catdog-bundle.XXXXXX)
trap 'rm -rf "$stage"' EXIT
prefix=$stage/prefix
mkdir -p "$prefix"/{include,lib/cmake,lib/pkgconfig,bin}

# --- headers (from the packages scripts/install_deps.sh installs) ---------------
cp -a /usr/include/opencv4 /usr/include/spdlog /usr/include/fmt /usr/include/CLI /usr/include/nlohmann \
      /usr/include/httplib.h /usr/include/jpeglib.h /usr/include/jerror.h /usr/include/jmorecfg.h \
      /usr/include/$ARCH/jconfig.h /usr/include/zlib.h /usr/include/zconf.h "$prefix/include/"
cp -a /usr/include/hdf5/serial/. "$prefix/include/"

# --- shared libraries: the closure of what catdog links, with stand-ins ---------
# Libraries left out, each replaced by a stand-in of the same name: code paths catdog
# never reaches (OpenCV's GDAL and DICOM readers, LAPACK-backed solvers, OpenGL
# interop, objdetect's QR and DNN detectors; HDF5's S3 driver), which would pull in
# ~350 MB. A stand-in defines, with their symbol versions, the symbols the carried
# libraries take from the real one, each stopping the program with a message.
# (OpenEXR stays: OpenCV calls into it when it registers its image codecs.)
LEFT_OUT=" libGLX.so.0 liblapack.so.3 libblas.so.3 libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0 "
LEFT_OUT+="libopencv_dnn.so.406 libopencv_calib3d.so.406 libcurl.so.4 "
# ... except these, which OpenCV calls when it registers its image codecs: void
# functions that do nothing in the stand-in (GDAL then has no drivers to offer).
HARMLESS=" GDALAllRegister "
# Every machine has these (glibc, GCC's runtime): never carried.
BASE=" libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 ld-linux-x86-64.so.2 libstdc++.so.6 libgcc_s.so.1 "
ROOTS="libopencv_core.so.406 libopencv_imgproc.so.406 libopencv_imgcodecs.so.406 libopencv_objdetect.so.406
       libspdlog.so.1.10 libfmt.so.9 libhdf5_serial.so.103 libjpeg.so.62 libz.so.1 libcpp-httplib.so.0.11
       libtcmalloc_minimal.so.4 libpkgconf.so.3"
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
declare -A carried=()
queue=($ROOTS)
while [ ${#queue[@]} -gt 0 ]; do
  name=${queue[0]}; queue=("${queue[@]:1}")
  [ -n "${carried[$name]:-}" ] && continue
  case "$BASE$LEFT_OUT" in *" $name "*) continue ;; esac
  source=$(readlink -f "$LIBDIR/$name")
  [ -f "$source" ] || { echo "device_bundle: $name not found in $LIBDIR" >&2; exit 1; }
  install -m 644 "$source" "$prefix/lib/$name"
  carried[$name]=1
  queue+=($(needed "$prefix/lib/$name"))
done

stand_in() {  # soname of a left-out library -> $prefix/lib/stand-ins/<soname>, and its symbol count on stdout
  local soname=$1 dir=$stage/stand-in/$1
  mkdir -p "$dir"
  for lib in "$prefix"/lib/*.so.*; do
    needed "$lib" | grep -qxF "$soname" && nm -D --undefined-only "$lib" | awk '{sub(/@.*/, "", $2); print $2}'
  done | sort -u > "$dir/wanted"
  # name, version (- for none), type, size: what the real library defines that is wanted
  nm -D --defined-only -S "$(readlink -f "$LIBDIR/$soname")" |
    awk 'NR == FNR { wanted[$1] = 1; next }
         { name = $NF; version = "-"; if (split(name, part, "@+") > 1) { name = part[1]; version = part[2] }
           if (name in wanted) print name, version, $(NF-1), (NF == 4 ? $2 : "0") }' "$dir/wanted" - |
    sort -u > "$dir/symbols"
  awk -v soname="$soname" -v harmless="$HARMLESS" 'BEGIN {
         print "#include <stdio.h>\n#include <stdlib.h>"
         print "static void left_out(const char* symbol) {"
         print "  fprintf(stderr, \"catdog device bundle: %s is a stand-in (scripts/device_bundle.sh); %s is not there\\n\", \"" soname "\", symbol);"
         print "  abort();\n}" }
       index(harmless, " " $1 " ") { printf "void f%d(void) __asm__(\"%s\");\nvoid f%d(void) {}\n", NR, $1, NR; next }
       { if ($3 ~ /^[TtWiI]$/) printf "void f%d(void) __asm__(\"%s\");\nvoid f%d(void) { left_out(\"%s\"); }\n", NR, $1, NR, $1
         else printf "char d%d[0x%s + 1] __asm__(\"%s\") __attribute__((aligned(16)));\n", NR, $4, $1 }' \
    "$dir/symbols" > "$dir/stand_in.c"
  awk '$2 != "-" { names[$2] = names[$2] " " $1 ";" } END { for (v in names) print v " { global:" names[v] " };" }' \
    "$dir/symbols" > "$dir/versions.map"
  local script=()
  [ -s "$dir/versions.map" ] && script=(-Wl,--version-script="$dir/versions.map")
  cc -shared -fPIC -O1 -o "$prefix/lib/stand-ins/$soname" -Wl,-soname,"$soname" "${script[@]}" "$dir/stand_in.c"
  wc -l < "$dir/symbols"
}
declare -A stand_ins=()
mkdir -p "$prefix/lib/stand-ins"
for name in $LEFT_OUT; do
  for lib in "$prefix"/lib/*.so.*; do
    if needed "$lib" | grep -qxF "$name"; then stand_ins[$name]=$(stand_in "$name"); break; fi
  done
done
# Link-time names (FindHDF5, FindJPEG, FindZLIB and pkg-config's -l look for lib<name>.so).
ln -s libhdf5_serial.so.103 "$prefix/lib/libhdf5.so"
ln -s libjpeg.so.62 "$prefix/lib/libjpeg.so"
ln -s libz.so.1 "$prefix/lib/libz.so"
ln -s libcpp-httplib.so.0.11 "$prefix/lib/libcpp-httplib.so"
install -m 755 /usr/bin/pkgconf "$prefix/bin/pkgconf"  # CMakeLists finds cpp-httplib through pkg-config

# --- small relocatable configs (Debian's hard-code /usr or list every OpenCV module)
cat > "$prefix/lib/pkgconfig/cpp-httplib.pc" <<'EOF'
prefix=${pcfiledir}/../..
Name: cpp-httplib
Description: C++ HTTP/HTTPS server and client library (Debian 12's build, carried)
Version: 0.11.4
Libs: -L${prefix}/lib -lcpp-httplib
Cflags: -I${prefix}/include -DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT
EOF
# No -DCPPHTTPLIB_BROTLI_SUPPORT: brotli's headers are not carried, and serve never compresses.
config() {  # package name -> its config file, written from stdin
  mkdir -p "$prefix/lib/cmake/$1"
  { echo "# catdog device bundle (scripts/device_bundle.sh): Debian 12's $1, relocatable."
    echo 'get_filename_component(_bundle "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)'
    cat; } > "$prefix/lib/cmake/$1/$1Config.cmake"
}
config OpenCV <<'EOF'
set(OpenCV_VERSION 4.6.0)
set(OpenCV_INCLUDE_DIRS "${_bundle}/include/opencv4")
set(OpenCV_LIBS)
foreach(_module core imgproc imgcodecs objdetect)
  if(NOT TARGET opencv_${_module})
    add_library(opencv_${_module} SHARED IMPORTED)
    set_target_properties(opencv_${_module} PROPERTIES
      IMPORTED_LOCATION "${_bundle}/lib/libopencv_${_module}.so.406"
      INTERFACE_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIRS}")
  endif()
  list(APPEND OpenCV_LIBS opencv_${_module})
endforeach()
EOF
config fmt <<'EOF'
if(NOT TARGET fmt::fmt)
  add_library(fmt::fmt SHARED IMPORTED)
  set_target_properties(fmt::fmt PROPERTIES IMPORTED_LOCATION "${_bundle}/lib/libfmt.so.9"
    INTERFACE_INCLUDE_DIRECTORIES "${_bundle}/include")
endif()
EOF
config spdlog <<'EOF'
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(fmt)
if(NOT TARGET spdlog::spdlog)
  add_library(spdlog::spdlog SHARED IMPORTED)
  set_target_properties(spdlog::spdlog PROPERTIES IMPORTED_LOCATION "${_bundle}/lib/libspdlog.so.1.10"
    INTERFACE_COMPILE_DEFINITIONS "SPDLOG_SHARED_LIB;SPDLOG_COMPILED_LIB;SPDLOG_FMT_EXTERNAL"
    INTERFACE_INCLUDE_DIRECTORIES "${_bundle}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;fmt::fmt")
endif()
EOF
header_only() {  # package, its imported target
  config "$1" <<EOF
if(NOT TARGET $2)
  add_library($2 INTERFACE IMPORTED)
  set_target_properties($2 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${_bundle}/include")
endif()
EOF
}
header_only CLI11 CLI11::CLI11
header_only nlohmann_json nlohmann_json::nlohmann_json

# --- check: every carried library loads here from the bundle alone, all symbols bound
for lib in "$prefix"/lib/*.so.*; do
  report=$(LD_LIBRARY_PATH="$prefix/lib:$prefix/lib/stand-ins" ldd -r "$lib" 2>&1)
  problems=$(echo "$report" | grep -E "not found|undefined symbol" || true)
  outside=$(echo "$report" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | grep -v " $prefix/lib/" |
            while read -r name path; do case "$BASE" in *" $name "*) ;; *) echo "$name from $path" ;; esac; done || true)
  [ -z "$problems$outside" ] || { echo "device_bundle: $(basename "$lib"): $problems $outside" >&2; exit 1; }
done

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
tar -C "$stage" -cf - prefix | xz -9 -T2 > "$OUTDIR/prefix.tar.xz"

# --- data: the largest balanced subset of original photos that fits --------------
tree_bytes=$( { git ls-files; git ls-files --others --exclude-standard; } | sort -u |
              while read -r f; do [ -f "$f" ] && [ ! -L "$f" ] && echo "$f"; done | tr '\n' '\0' |
              xargs -0 -r stat -c %s | awk '{s+=$1} END {print s+0}')
fixed=$(( tree_bytes + $(stat -c %s "$OUTDIR/prefix.tar.xz") + $(stat -c %s "$WEIGHTS") + 1024 * 1024 ))
(cd "$DATA" && find cat dog -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \
  -printf '%p %s\n' | LC_ALL=C sort) > "$stage/all.txt"
pick() {  # photos per class -> "class/name bytes" lines, evenly spaced in name order (the sources interleave)
  awk -v n="$1" '{ split($1, part, "/"); c = part[1]; count[c]++; line[c, count[c]] = $0 }
    END { for (c in count) for (k = 0; k < n && k < count[c]; k++) print line[c, int(k * count[c] / n) + 1] }' "$stage/all.txt"
}
for per_class in ${PHOTOS:-$(seq 1500 -50 50)}; do
  photo_bytes=$(pick "$per_class" | awk '{ s += $2 + 1024 } END { print s + 0 }')  # + tar's header and padding
  [ $(( fixed + photo_bytes )) -le "$BUDGET" ] && break
  photo_bytes=
done
[ -n "$photo_bytes" ] || { echo "device_bundle: the photos do not fit in ${BUDGET} bytes" >&2; exit 1; }
mkdir -p "$stage/data/catdog-dev"
pick "$per_class" | cut -d' ' -f1 > "$stage/photos.txt"
(cd "$DATA" && tar -cf - -T "$stage/photos.txt") | tar -C "$stage/data/catdog-dev" -xf -
cp "$WEIGHTS" "$stage/data/mobilenet_v2_1.0_no_top.h5"
tar -C "$stage" -cf "$OUTDIR/data.tar" data

# --- manifest ---------------------------------------------------------------------
{
  echo "catdog device bundle, $(date -u +%Y-%m-%dT%H:%MZ), from $(git rev-parse --short HEAD)"
  echo "prefix.tar.xz $(stat -c %s "$OUTDIR/prefix.tar.xz") bytes ($(du -sb "$prefix" | cut -f1) unpacked)"
  echo "data.tar      $(stat -c %s "$OUTDIR/data.tar") bytes: $(grep -c ^cat/ "$stage/photos.txt") cat +" \
       "$(grep -c ^dog/ "$stage/photos.txt") dog photos (originals of $DATA, evenly spaced by name) + $(basename "$WEIGHTS")"
  echo "tree          $tree_bytes bytes (tracked + untracked, not ignored)"
  echo "total         $(( tree_bytes + $(du -cb "$OUTDIR"/*.tar* | tail -1 | cut -f1) )) bytes of 67108864"
  echo "newest glibc / libstdc++ symbol versions needed:" \
       "$(for l in "$prefix"/lib/*.so.* "$prefix/bin/pkgconf"; do objdump -T "$l"; done 2>/dev/null |
          grep -o 'GLIBC_[0-9.]*\|GLIBCXX_[0-9.]*' | sort -u -V | awk -F_ '{v[$1]=$0} END {print v["GLIBC"], v["GLIBCXX"]}')"
  echo "stand-ins (left-out library: symbols defined to stop with a message):"
  for name in "${!stand_ins[@]}"; do echo "  $name: ${stand_ins[$name]}"; done
  echo "libraries:"; (cd "$prefix/lib" && ls -l *.so* | awk '{print "  " $9, $5, $10, $11}')
} > "$OUTDIR/MANIFEST.txt"
cat "$OUTDIR/MANIFEST.txt" | head -8
