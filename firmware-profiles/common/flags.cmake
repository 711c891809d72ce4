# Size-first code generation shared by every board profile, included from each
# profile's toolchain file. build.sh configures with CMAKE_BUILD_TYPE=MinSizeRel
# (-Os -DNDEBUG); these add per-function sections so the linker can drop what
# nothing calls (Asio, Beast and nlohmann_json instantiate a lot of that).
# docs/footprint.md has what each step bought, measured.
# A toolchain file is read more than once per configure: set, never append.
set(CMAKE_CXX_FLAGS_INIT "${TIDEGATE_ARCH_FLAGS} -ffunction-sections -fdata-sections")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--gc-sections -Wl,-O1 -Wl,--as-needed")
