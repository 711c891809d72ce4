# Install rules and .deb packaging for a board profile (firmware-profiles/<name>),
# included by the top-level CMakeLists.txt when TIDEGATE_PROFILE is set.
# build.sh --package runs `cpack -G DEB` in the profile's build directory.
#
# The package: /usr/bin/tidegate, tidegatectl and tidegate-passwd with their
# man pages (made from their --help by help2man) and tidegatectl's bash
# completion, the profile's tuned config as a conffile
# (/etc/tidegate/tidegate.json: dpkg keeps the operator's edits on upgrade),
# its hardened systemd unit, the README and docs/ (so the README's links
# work), and maintainer scripts that create the tidegate system user and
# /var/lib/tidegate and enable (and, under systemd, start) the service.
# package-check.sh lists a built .deb and checks all of that.
set(_profile_dir ${CMAKE_CURRENT_LIST_DIR}/${TIDEGATE_PROFILE})
if(NOT EXISTS ${_profile_dir}/tidegate.json)
  message(FATAL_ERROR "TIDEGATE_PROFILE=${TIDEGATE_PROFILE}: no ${_profile_dir}/tidegate.json")
endif()

if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "" FORCE)
endif()

install(TARGETS tidegate RUNTIME DESTINATION bin)
install(TARGETS tidegatectl tidegate-passwd RUNTIME DESTINATION bin OPTIONAL)
install(FILES ${_profile_dir}/tidegate.json DESTINATION /etc/tidegate)
install(FILES ${_profile_dir}/tidegate.service DESTINATION /lib/systemd/system)
# The docs as they lie in the tree: README.md's links (docs/*.md,
# firmware-profiles/README.md) and theirs resolve under share/doc/tidegate.
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/tidegate)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/tidegate/docs FILES_MATCHING PATTERN "*.md"
        PATTERN "*.png")
# The console embeds uPlot: its licence goes with the binary.
if(TIDEGATE_CONSOLE)
  install(FILES ${CMAKE_SOURCE_DIR}/gateway/console/vendor/uplot/LICENSE DESTINATION share/doc/tidegate
          RENAME LICENSE.uPlot)
endif()
install(FILES ${CMAKE_CURRENT_LIST_DIR}/README.md DESTINATION share/doc/tidegate/firmware-profiles)
install(FILES ${CMAKE_SOURCE_DIR}/tools/ctl/completion.bash DESTINATION share/bash-completion/completions
        RENAME tidegatectl)

# Man pages from each program's --help (under qemu-user for a cross build).
# Built by the man_pages target (build.sh --package).
find_program(TIDEGATE_HELP2MAN help2man)
set(_man_dir ${CMAKE_BINARY_DIR}/man)
set(_man_pages)
foreach(_pair "tidegate|MQTT gateway for edge boxes" "tidegatectl|inspect and operate a running tidegate"
              "tidegate-passwd|manage tidegate's (mosquitto) password files")
  string(REPLACE "|" ";" _pair "${_pair}")
  list(GET _pair 0 _program)
  list(GET _pair 1 _summary)
  if(TARGET ${_program})
    add_custom_command(OUTPUT ${_man_dir}/${_program}.1.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${_man_dir}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/man_page.sh ${_man_dir}/${_program}.1.gz ${_summary}
              ${CMAKE_CROSSCOMPILING_EMULATOR} $<TARGET_FILE:${_program}>
      DEPENDS ${_program} ${CMAKE_CURRENT_LIST_DIR}/man_page.sh VERBATIM)
    list(APPEND _man_pages ${_man_dir}/${_program}.1.gz)
  endif()
endforeach()
if(TIDEGATE_HELP2MAN)
  add_custom_target(man_pages DEPENDS ${_man_pages})
  install(FILES ${_man_pages} DESTINATION share/man/man1 OPTIONAL)
endif()

if(TIDEGATE_PROFILE STREQUAL "x86_64")
  set(_deb_arch amd64)
else()
  set(_deb_arch ${TIDEGATE_PROFILE})
endif()

set(CPACK_PACKAGE_NAME tidegate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR tidegate)
set(CPACK_PACKAGE_CONTACT "tidegate maintainers <tidegate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MQTT gateway for edge boxes (${TIDEGATE_PROFILE} profile)")
set(CPACK_PACKAGE_DESCRIPTION "tidegate keeps MQTT 3.1.1/5.0 device sessions, stores each message once in an embedded LMDB store and pushes it to every subscriber with per-device acknowledgement tracking. This build carries the ${TIDEGATE_PROFILE} firmware profile: its tuned /etc/tidegate/tidegate.json and a hardened systemd unit.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_deb_arch})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Explicit, so that a cross build needs no dpkg-shlibdeps for the target: the
# libraries tidegate links (readelf -d build-fw/<profile>/bin/tidegate) at
# Debian 12's versions; useradd comes with passwd, deb-systemd-helper with
# init-system-helpers.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1 (>= 3.0), libssl3 (>= 3.0.0), liblmdb0 (>= 0.9.24), passwd, init-system-helpers (>= 1.54)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mosquitto-clients")

# dpkg's conffiles: the tuned config survives upgrades with the operator's edits.
set(_debian_dir ${CMAKE_BINARY_DIR}/debian)
file(WRITE ${_debian_dir}/conffiles "/etc/tidegate/tidegate.json\n")
foreach(script postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/common/debian/${script} ${_debian_dir}/${script} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${_debian_dir}/conffiles ${_debian_dir}/postinst ${_debian_dir}/prerm ${_debian_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
