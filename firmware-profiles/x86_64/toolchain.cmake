# x86_64: industrial PCs and x86 edge servers running Debian 12 amd64. A native
# build with the host's g++ and -dev packages, and the profiles' size flags.
set(CMAKE_CXX_COMPILER g++)
include(${CMAKE_CURRENT_LIST_DIR}/../common/flags.cmake)
