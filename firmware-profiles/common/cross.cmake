# The part of a cross toolchain file that is the same for every ARM profile.
# Expects TIDEGATE_TRIPLET (GNU triplet) and TIDEGATE_QEMU (qemu-user binary).
set(CMAKE_C_COMPILER ${TIDEGATE_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${TIDEGATE_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${TIDEGATE_TRIPLET})

# try_compile projects re-read this file: hand them the sysroot choice.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TIDEGATE_SYSROOT)

if(TIDEGATE_SYSROOT)
  # Private sysroot: the target's libc, libstdc++, OpenSSL, LMDB and the
  # header-only libraries (Boost, nlohmann_json, doctest) all come from it;
  # nothing of the host's /usr is searched.
  set(CMAKE_SYSROOT ${TIDEGATE_SYSROOT})
  set(CMAKE_FIND_ROOT_PATH ${TIDEGATE_SYSROOT})
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} ${TIDEGATE_SYSROOT})
  set(ENV{PKG_CONFIG_LIBDIR}
    "${TIDEGATE_SYSROOT}/usr/lib/${TIDEGATE_TRIPLET}/pkgconfig:${TIDEGATE_SYSROOT}/usr/share/pkgconfig")
  # qemu-user resolves the ELF interpreter and every library under -L.
  set(_tidegate_emulator ${TIDEGATE_QEMU} -L ${TIDEGATE_SYSROOT})
else()
  # Debian multiarch: target libraries in /usr/lib/${TIDEGATE_TRIPLET}, found
  # through CMAKE_LIBRARY_ARCHITECTURE. pkg-config must not hand FindOpenSSL
  # the host's library directory.
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${TIDEGATE_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
  # Boost is used header-only and its headers are the same for every
  # architecture (/usr/include/boost, which the cross g++ searches in multiarch
  # mode): the host's libboost1.81-dev config serves, where
  # libboost1.81-dev:<arch> would drag in a second libstdc++-dev and upgrade
  # unrelated host packages.
  if(NOT Boost_DIR)
    file(GLOB _tidegate_boost_dirs /usr/lib/*/cmake/Boost-1.81.0)
    if(_tidegate_boost_dirs)
      list(GET _tidegate_boost_dirs 0 _tidegate_boost_dir)
      set(Boost_DIR ${_tidegate_boost_dir} CACHE PATH "Boost CMake config (header-only use)")
    endif()
  endif()
  # The ELF interpreter (/lib/ld-linux-*.so) and the libraries are where
  # multiarch put them, so qemu needs no -L. Do not pass
  # -L /usr/${TIDEGATE_TRIPLET}: with the cross toolchain's libc there,
  # pthread_create hangs under qemu-aarch64 on Debian 12.
  set(_tidegate_emulator ${TIDEGATE_QEMU})
endif()
# Cached so that smoke.sh (and anyone) can read from CMakeCache.txt how to run
# this build's binaries; ctest prefixes it to the unit tests.
set(CMAKE_CROSSCOMPILING_EMULATOR "${_tidegate_emulator}" CACHE STRING
  "how to run target binaries on the build host (qemu-user)" FORCE)
