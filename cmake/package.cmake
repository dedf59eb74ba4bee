# `cpack -G DEB` in the build folder (scripts/package.sh): catdog_<version>_<arch>.deb,
# what `cmake --install` installs (binary, man page, bash completion, licence) under
# /usr, its Depends computed by dpkg-shlibdeps from the libraries the binary links
# (Debian's LibTorch, OpenCV, HDF5, ...), so that `apt-get install ./catdog_*.deb`
# on Debian 12 pulls in exactly what it needs.

# Debian's place for a package's licence.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright)

# `make install` and CPack build only what they install (the program and its docs),
# not every test and benchmark; scripts/package.sh builds those two targets first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(CATDOG_PACKAGE_MAINTAINER "catdog maintainers <maintainers@users.noreply.r-seed-e01f4d09.example>"
    CACHE STRING "The Debian package's Maintainer field")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME catdog)
set(CPACK_PACKAGE_CONTACT "${CATDOG_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "train, evaluate and run cat-vs-dog image classifiers")
set(CPACK_PACKAGE_DESCRIPTION "catdog trains a small CNN, or a Dense head on a frozen ImageNet VGG16 or \
MobileNetV2 (Keras' weights, fetched on first use), on cat and dog photos; evaluates it, \
classifies photos (or the face in them, with Grad-CAM explanations) and serves a web page \
and an HTTP API that do the same.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # catdog_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Not linked, so dpkg-shlibdeps cannot see them: OpenCV's face cascades (`--face`)
# and the OpenMP OpenBLAS that LibTorch's dense layers run several times faster on.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "opencv-data, libopenblas0-openmp")
set(CPACK_STRIP_FILES ON)
include(CPack)
