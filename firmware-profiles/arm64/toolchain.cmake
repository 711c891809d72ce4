# arm64 (aarch64): 64-bit Raspberry Pi OS / Debian arm64 boards (Pi 3/4/5, CM4,
# industrial arm64 gateways).
#
# The target's libraries come from Debian multiarch: build.sh installs
# g++-aarch64-linux-gnu and libssl-dev:arm64 liblmdb-dev:arm64 beside the amd64
# ones (same versions, nothing removed). With -DTIDEGATE_SYSROOT=DIR they come
# from a private sysroot unpacked from the arm64 .debs instead (build.sh
# --sysroot), which leaves the host's packages alone.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(TIDEGATE_TRIPLET aarch64-linux-gnu)
set(TIDEGATE_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/../common/cross.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../common/flags.cmake)
