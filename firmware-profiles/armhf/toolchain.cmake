# armhf (ARMv7, hard float): 32-bit Raspberry Pi OS / Debian armhf boards
# (Pi 2, Pi 3, Pi Zero 2 W running a 32-bit system, i.MX6/7 and AM335x gateways).
#
# Debian's armhf index does not always download next to the host's (a mirror
# mid-sync fails the whole apt-get update), so the target's libraries come from
# a private sysroot: build.sh fetches the armhf .debs with apt-get download
# under an apt configuration of its own and unpacks them with dpkg -x into
# build-fw/armhf-sysroot. Pass it as -DTIDEGATE_SYSROOT=DIR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(TIDEGATE_TRIPLET arm-linux-gnueabihf)
set(TIDEGATE_QEMU qemu-arm)
# Debian armhf's baseline (ARMv7-A, VFPv3-D16, Thumb-2): runs on every board above.
# -Wno-psabi: GCC notes on every std::vector iterator that its parameter
# passing changed in GCC 7.1; nothing here links code built before that.
set(TIDEGATE_ARCH_FLAGS "-march=armv7-a+fp -mfpu=vfpv3-d16 -mthumb -Wno-psabi")
include(${CMAKE_CURRENT_LIST_DIR}/../common/cross.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../common/flags.cmake)
